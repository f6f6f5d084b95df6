"""Playing and scoring (`artifact.watch`): `play` plays a `Protocol`'s whole games with a
policy's evaluation policy, exactly as the runs' evaluations do (`artifact.training.evaluation.
evaluate` on `make_atari_env(..., life_loss_terminal=False)`: whole games, 1-30 no-op starts, the
frame cap, raw scores), recording the filmed game's actions for a video; `report` prints each
game and the mean with its 95% CI (`score_interval`: `artifact.analysis.statistics.interval`,
the project's stratified bootstrap); `write_csv` writes one row a game (CSV_COLUMNS).
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import sys
import time
from collections.abc import Sequence

import numpy as np

from artifact.files import atomic_write_text
from artifact.watch.policies import (
  PROG,
  RUN_RECORD,
  PolicySource,
  Protocol,
  fail,
  load_saved_policy,
  make_policy,
  shown,
)
from envs.games import FRAMESKIP

PROGRESS_EVERY_S = 5.0                       # seconds between progress lines
CSV_COLUMNS = ("game", "seed", "score", "agent_steps", "frames", "truncated", "condition",
               "policy_dir", "atari_game", "run_seed", "frame_point")


@dataclasses.dataclass(frozen=True)
class GameResult:
  """One scored game: `number` 1..N (env index + 1), its env seed, raw score, length in agent
  steps and emulator frames (4 per agent step), whether the frame cap stopped it."""
  number: int
  env_seed: int
  score: float
  agent_steps: int
  frames: int
  truncated: bool


@dataclasses.dataclass
class Recording:
  """What the scored env did in the filmed game, step by step: actions, clipped rewards, game
  ends (discount 0), until its first game ended; then its score and length (agent steps).
  With `--panel` also, per step, what the policy chose the action from: `logits` (float32
  [|A|], the SavedModel's distribution's logits at the state the action was sampled in) and
  `values` (its network's value head there, float); empty without."""
  env_seed: int
  actions: list[int] = dataclasses.field(default_factory=list)
  rewards: list[float] = dataclasses.field(default_factory=list)
  ends: list[bool] = dataclasses.field(default_factory=list)
  score: float | None = None
  agent_steps: int | None = None
  logits: list[np.ndarray] = dataclasses.field(default_factory=list)
  values: list[float] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Played:
  """One policy's play: its source and family, the protocol, each game, `evaluate`'s summary,
  the recording of the filmed game (None without --video), wall seconds."""
  source: PolicySource
  family: str
  protocol: Protocol
  games: list[GameResult]
  summary: dict[str, float]
  recording: Recording | None
  wall_s: float


class _Watcher:
  """`evaluate`'s observer: a progress line every PROGRESS_EVERY_S seconds, the first game of
  each env (as `evaluate` scores them), and the filmed env's steps; with `policy` (a policy
  keeping a `readout`, `--panel`) also the logits and value each filmed action came from."""

  def __init__(self, label: str, protocol: Protocol, film: int | None, stream, policy=None):
    self.label, self.protocol, self.stream, self.policy = label, protocol, stream, policy
    self.first: dict[int, object] = {}
    self.steps = 0
    self.t0 = self.last = time.time()
    self.film = film
    self.recording = None if film is None else Recording(int(protocol.env_seeds[film]))

  def __call__(self, action, time_step, finished):
    self.steps += 1
    for g in finished:
      self.first.setdefault(g.env_id, g)
    rec, k = self.recording, self.film
    if rec is not None and rec.score is None:
      rec.actions.append(int(np.asarray(action).reshape(-1)[k]))
      rec.rewards.append(float(time_step.reward[k]))
      rec.ends.append(bool(time_step.discount[k] == 0))
      if self.policy is not None:            # the readout of the step that chose `action`
        logits, value = self.policy.readout
        rec.logits.append(np.array(logits[k]))
        rec.values.append(float(value[k]))
      game = next((g for g in finished if g.env_id == k), None)
      if game is not None:
        rec.score, rec.agent_steps = game.score, game.agent_steps
    now = time.time()
    if now - self.last >= PROGRESS_EVERY_S:
      self.last = now
      p = self.protocol
      print(f"{PROG}: {self.label}: {len(self.first)}/{p.games} games over, agent step "
            f"{self.steps:,} ({self.steps * FRAMESKIP:,} of at most {p.max_frames:,} frames a "
            f"game), {now - self.t0:,.0f} s", file=self.stream, flush=True)


def play(source: PolicySource, protocol: Protocol, film: int | None = None,
         stream=None, panel: bool = False) -> Played:
  """Plays `protocol.games` whole games with `source`'s evaluation policy, by
  `artifact.training.evaluation.evaluate` on a fresh evaluation env (`make_atari_env` with
  `life_loss_terminal=False` and the cap `protocol.max_frames` frames), seeded as the protocol
  says; prints progress to `stream` (default stderr). `film`: the env index (0-based) whose game
  is recorded for a video; `panel` (with `film`): the recording also keeps the logits and the
  value head of each of its steps (`Recording`; `make_policy(..., panel=True)`). Returns the
  `Played`. Raises UsageError if the SavedModel does not load, its action count is not the
  game's, or `panel` is asked of a DQN-family policy; RuntimeError if `evaluate`'s summary disagrees
  with the games seen (it cannot, unless the env misbehaves)."""
  from artifact.training.evaluation import evaluate
  from envs.atari import make_atari_env
  stream = sys.stderr if stream is None else stream
  saved, family = load_saved_policy(source)
  env = make_atari_env(protocol.game, protocol.games, seed=None, life_loss_terminal=False,
                       max_frames_per_game=protocol.max_frames, reuse=False)
  try:
    if env.num_actions != source.num_actions:
      fail(f"{source.path}: the policy has {source.num_actions} actions, {protocol.game} has "
            f"{env.num_actions}")
    panel = panel and film is not None
    policy = make_policy(saved, family, source, env, protocol, panel)
    watcher = _Watcher(source.label, protocol, film, stream, policy if panel else None)
    print(f"{PROG}: {source.label}: playing {games_text(protocol.games)} of {protocol.game} ...",
          file=stream, flush=True)
    t0 = time.time()
    summary = evaluate(policy, env, protocol.games, protocol.max_frames,
                       seeds=protocol.env_seeds, observer=watcher)
    wall = time.time() - t0
  finally:
    env.close()
  seeds = protocol.env_seeds
  games = [GameResult(i + 1, int(seeds[i]), float(g.score), int(g.agent_steps),
                      int(g.agent_steps) * FRAMESKIP,
                      bool(g.agent_steps * FRAMESKIP >= protocol.max_frames))
           for i, g in sorted(watcher.first.items())]
  scores = np.array([g.score for g in games])
  if (len(games) != summary["eval_games"]
      or not math.isclose(float(scores.mean()), summary["eval_return"])):
    raise RuntimeError(f"the games seen ({scores}) are not the ones evaluate scored ({summary})")
  rec = watcher.recording
  if rec is not None and rec.score is None:
    raise RuntimeError(f"game {film + 1} did not end within the cap")
  return Played(source, family, protocol, games, summary, rec, wall)


def score_interval(scores: Sequence[float]) -> tuple[float, float]:
  """(low, high): the 95% CI of the mean of `scores` (raw game scores), by
  `artifact.analysis.statistics.interval` (rliable's stratified bootstrap over the games,
  `BOOTSTRAP_REPS` resamples, numpy's global RNG seeded 0 around it: the same CI as the
  reports'). One game gives (x, x). Raises ValueError for no scores."""
  from artifact.analysis.statistics import interval
  x = np.asarray(scores, np.float64)
  if x.size == 0:
    raise ValueError("no scores to compute an interval of")
  _, low, high = interval([x.reshape(-1, 1)], np.mean)
  return low, high


def games_text(n: int) -> str:
  """'1 game', '8 games'."""
  return f"{n} game{'' if n == 1 else 's'}"


def fmt_score(x: float) -> str:
  """A raw game score as printed: '1,250' when whole, '18.88' otherwise."""
  return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def _final_evaluation(source: PolicySource) -> dict[str, str] | None:
  """The run's progress.csv row of its evaluation at its final frames, or None."""
  if source.run_dir is None or not (source.run_dir / "progress.csv").is_file():
    return None
  point = int(source.done["frames"])
  with open(source.run_dir / "progress.csv", newline="") as f:
    rows = [r for r in csv.DictReader(f) if r.get("eval_return") and r.get("frames") == str(point)]
  return rows[-1] if rows else None


def report(p: Played, stream=None):
  """Prints one policy's games (score, agent steps, frames, truncated) and the mean with its 95%
  CI (`score_interval`) to `stream` (default stdout); for a run played with its own
  evaluation's settings, its final evaluation row in progress.csv beside it."""
  pr, src = p.protocol, p.source
  stream = sys.stdout if stream is None else stream
  where = (f"{src.run_dir}" if src.run_dir is not None else f"{src.saved_model} (bare SavedModel)")
  print(f"== {where}: {src.label} ({p.family} family) on {pr.game}", file=stream)
  if src.run_dir is not None and src.saved_model.parent != src.run_dir:
    print(f"   policy: {shown(src.saved_model)} (published; its {RUN_RECORD} names this run)",
          file=stream)
  capped = sum(g.truncated for g in p.games)
  print(f"   {games_text(pr.games)} ({capped if capped else 'none'} capped), cap "
        f"{pr.max_frames:,} frames, seeded as the evaluation at "
        f"frame point {pr.point:,} of run seed {pr.run_seed} (policy seed {pr.policy_seed}); "
        f"played in {p.wall_s:,.1f} s", file=stream)
  print(f"   {'game':>4}  {'env seed':>10}  {'score':>9}  {'agent steps':>11}  {'frames':>8}  "
        "truncated",
        file=stream)
  for g in p.games:
    print(f"   {g.number:>4}  {g.env_seed:>10}  {fmt_score(g.score):>9}  {g.agent_steps:>11,}  "
          f"{g.frames:>8,}  {'yes' if g.truncated else 'no'}", file=stream)
  scores = [g.score for g in p.games]
  low, high = score_interval(scores)
  print(f"   mean {float(np.mean(scores)):,.2f}  95% CI [{low:,.2f}, {high:,.2f}]  (std "
        f"{float(np.std(scores)):,.2f}; {sum(g.truncated for g in p.games)} of {len(scores)} "
        f"truncated)", file=stream)
  row = _final_evaluation(src)
  if row is not None and src.config is not None and (
      (pr.games, pr.max_frames, pr.run_seed) ==
      (int(src.config["eval_games"]), int(src.config["eval_max_frames"]), int(src.config["seed"]))):
    same = math.isclose(float(row["eval_return"]), float(np.mean(scores)), abs_tol=1e-9)
    print(f"   the run's own evaluation at {pr.point:,} frames (progress.csv): "
          f"{float(row['eval_return']):,.2f}" + ("  (the same)" if same else
          "  (DIFFERENT: trained on another kind of CPU? config.json 'machine')"), file=stream)


def write_csv(path, played: Sequence[Played]):
  """Writes every game of `played` to the CSV `path` atomically (`atomic_path`): one row a game,
  columns `CSV_COLUMNS` (game = its number 1..N, seed = its env seed, score raw, agent_steps,
  frames = 4 x agent steps, truncated True/False, the policy's condition and directory as given,
  the Atari game, the run seed and frame point its seeds derive from)."""
  buf = io.StringIO()
  w = csv.writer(buf, lineterminator="\n")
  w.writerow(CSV_COLUMNS)
  for p in played:
    for g in p.games:
      w.writerow([g.number, g.env_seed, repr(g.score), g.agent_steps, g.frames, g.truncated,
                  p.source.condition, p.source.path, p.protocol.game, p.protocol.run_seed,
                  p.protocol.point])
  atomic_write_text(path, buf.getvalue())
