"""Watching and scoring a trained agent: `pg-softq-play POLICY_DIR` (`python -m artifact.grid.play`).

  pg-softq-play POLICY_DIR [--games N] [--seed S] [--max-frames F] [--out FILE.csv]
                [--video FILE.mp4|FILE.gif] [--game GAME] [--side-by-side DIR2 [DIR3]]

POLICY_DIR is a run directory (config.json, done.json, policy/), its policy/ folder, or a bare
tf-agents PolicySaver SavedModel (then --game names the game). The games are played with exactly
the protocol of the runs' evaluations (`artifact.training.evaluation.evaluate`): whole games (no
life-loss terminals), 1-30 no-op starts, the frame cap, raw scores, and the seeds an evaluation at
frame point f derives from the run seed S (`artifact.training.runner.Training.eval_phase`): env
seeds `run_seeds(S, 1).eval_env(N, f)`, policy seed `eval_policy_seed(f)`, with f the run's final
frames (done.json). So with the defaults (N = the run's eval_games, S = its seed, the cap its
eval_max_frames) the scores are the run's final evaluation, game for game (tests/test_play.py).

How each family's evaluation policy is rebuilt from the SavedModel (`build_policy`):
- "dqn": the saved policy is the greedy Q policy; the evaluation is `EpsilonGreedyPyPolicy` over
  it with the run's `eval_epsilon` and the policy seed, as `DQNTrainer` builds it.
- "a2c": the saved policy is the agent's collect policy, whose noise rows are the 16 training
  envs; the evaluation samples differently (`CategoricalPolicy(..., num_envs=0)`), so the logits
  come from the SavedModel's `distribution` function and the action from
  `agents.policies.gumbel_max_sample(logits, seed, step, env_ids, num_envs=0)` (step counted from
  0 per agent step, env_ids = range(batch)): what the training's evaluation policy does.

`--video` records one game (`--video-game`, default the first) at the emulator's full
resolution: an RGB twin of its emulator (`envs.atari.make_rgb_vector_env`: the same settings and
seed, only the observation processing differs) is stepped with the actions the scored game took,
and every step its raw reward (its sign against the scored env's clipped reward) and game end,
and at the end the score and length, are checked against the scored game (`VideoMismatchError`
if they ever differ). 15 video frames per second (60 Hz / frameskip 4: one frame per agent step),
the score so far drawn in the bottom-left corner, the last screen held for 1 s. MP4 (H.264,
imageio + imageio-ffmpeg) or GIF (Pillow; `--gif-every K` keeps every K-th frame, `--gif-scale X`
shrinks the screens; a GIF is built in memory, about 34 KB a frame at full size).
`--side-by-side DIR2 [DIR3]` plays those policies with POLICY_DIR's seeds (the same games, the
same sampling stream) and tiles their screens left to right in one video, each labelled with its
condition.

Every bad argument is refused before anything is played or written (`UsageError`, exit status 2);
the CSV and the video are written through `artifact.files.atomic_path`, so an interrupted play
leaves neither a torn file nor a temporary one.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import math
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from artifact.experiment.hparams import DQNHparams
from artifact.experiment.registry import FIGURES
from artifact.experiment.scales import SCALES
from artifact.experiment.seeding import run_seeds
from artifact.files import atomic_path, atomic_write_text
from artifact.grid.planning import UsageError, run_command
from envs.games import FRAMESKIP, validate_game

PROG = "pg-softq-play"
SCREEN_HZ = 60                               # Atari frames per second
VIDEO_FPS = SCREEN_HZ // FRAMESKIP           # 15: one video frame per agent step, at game speed
HOLD_FRAMES = VIDEO_FPS                      # the final screen held 1 s (video frames)
SCREEN_SHAPE = (210, 160, 3)                 # the emulator's RGB screen, pixels
MAX_GAME_FRAMES = 108_000                    # the protocol's game cap (30 min), emulator frames
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
PROGRESS_EVERY_S = 5.0                       # seconds between progress lines
BARE_DEFAULTS = SCALES["short"]              # games and cap for a bare SavedModel (no config.json)
CSV_COLUMNS = ("game", "seed", "score", "agent_steps", "frames", "truncated", "condition",
               "policy_dir", "atari_game", "run_seed", "frame_point")


class VideoMismatchError(RuntimeError):
  """The RGB twin that films a game played differently from the scored game (a reward, a game
  end, the score or the length differed): the video would not show the scored game."""


def _fail(msg: str):
  """Raises the UsageError of `msg`, prefixed as argparse prefixes its own errors."""
  raise UsageError(f"{PROG}: error: {msg}")


# --- where a policy comes from --------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PolicySource:
  """A policy to play and what its directory says about it.

  `path`: as given; `saved_model`: the SavedModel folder; `run_dir`, `config`, `done`: the run
  directory and its config.json / done.json (None for a bare SavedModel); `game`: the Atari game;
  `condition`: the run's condition (a bare SavedModel: its folder's name); `family`: "a2c" or
  "dqn" from the config (None for a bare SavedModel: told by its `distribution` at load);
  `num_actions`: the size of its action set (policy_specs.pbtxt)."""
  path: str
  saved_model: Path
  run_dir: Optional[Path]
  config: Optional[Dict]
  done: Optional[Dict]
  game: str
  condition: str
  family: Optional[str]
  num_actions: int

  @property
  def label(self) -> str:
    """The name a video tile and the printout give the policy: its condition."""
    return self.condition


def _is_saved_model(d: Path) -> bool:
  return (d / "saved_model.pb").is_file() or (d / "saved_model.pbtxt").is_file()


def _read_json(path: Path) -> Dict:
  try:
    return json.loads(path.read_text())
  except (OSError, ValueError) as e:
    _fail(f"{path}: cannot be read as JSON ({e})")


def _policy_action_count(saved_model: Path, shown: str) -> int:
  """|A| of a PolicySaver SavedModel, from its policy_specs.pbtxt (no graph loaded)."""
  specs_file = saved_model / "policy_specs.pbtxt"
  if not specs_file.is_file():
    _fail(f"{shown}: a SavedModel without policy_specs.pbtxt, not a tf-agents PolicySaver policy")
  from tf_agents.specs import tensor_spec
  try:
    data_spec = tensor_spec.from_pbtxt_file(str(specs_file))["collect_data_spec"]
    action, observation = data_spec.action, data_spec.observation
  except Exception as e:  # noqa: BLE001  (a damaged or foreign specs file, said as such)
    _fail(f"{shown}: policy_specs.pbtxt does not hold a tf-agents policy's specs ({e})")
  if tuple(observation.shape) != (4, 84, 84) or observation.dtype.name != "uint8":
    _fail(f"{shown}: the policy observes {observation.dtype.name} {tuple(observation.shape)}, "
          f"not the Atari agents' uint8 (4, 84, 84) frame stack")
  return int(np.max(action.maximum)) + 1


def resolve_policy(path: str, game: Optional[str] = None) -> PolicySource:
  """The `PolicySource` of POLICY_DIR `path`: a run directory (config.json, done.json, policy/),
  its policy/ folder, or a bare PolicySaver SavedModel (then `game` is required). `game` (--game)
  given for a run must be the run's game. Raises UsageError for a path that is none of these, an
  unfinished run (no done.json), a SavedModel that is not a tf-agents Atari policy, a missing or
  unknown --game, or a --game other than the run's."""
  d = Path(path)
  if not d.is_dir():
    _fail(f"{path}: no such directory (want a run directory, its policy/ folder or a SavedModel)")
  if (d / "config.json").is_file() and not (d / "policy").is_dir() and not _is_saved_model(d):
    _fail(f"{path}: a run directory without policy/ (the policy is written when the run finishes)")
  run_dir = d if (d / "config.json").is_file() else (
      d.parent if d.name == "policy" and (d.parent / "config.json").is_file() else None)
  saved_model = d / "policy" if run_dir == d else d
  if not _is_saved_model(saved_model):
    _fail(f"{path}: not a SavedModel (no saved_model.pb in {saved_model}) nor a run directory "
          f"(config.json, done.json, policy/)")
  num_actions = _policy_action_count(saved_model, path)
  if run_dir is None:
    if game is None:
      _fail(f"{path}: a bare SavedModel says nothing of its game; name it with --game "
            f"(e.g. --game Pong)")
    try:
      validate_game(game)
    except ValueError as e:
      _fail(f"--game {game!r}: {e}")
    return PolicySource(path, saved_model, None, None, None, game, saved_model.name, None,
                        num_actions)
  config = _read_json(run_dir / "config.json")
  if not (run_dir / "done.json").is_file():
    _fail(f"{path}: the run has no done.json (unfinished, or being extended): its final frame "
          f"point is unknown")
  done = _read_json(run_dir / "done.json")
  missing = [k for k in ("figure", "game", "condition", "seed", "eval_games", "eval_max_frames",
                          "hparams") if k not in config] + [k for k in ("frames",) if k not in done]
  if missing:
    _fail(f"{path}: config.json / done.json lack {', '.join(missing)}: not a run's")
  try:
    family = FIGURES[int(config["figure"])].condition(config["condition"]).family
  except (KeyError, ValueError, TypeError) as e:
    _fail(f"{path}: config.json names no known figure and condition ({e})")
  run_game = str(config["game"])
  if game is not None and game != run_game:
    _fail(f"--game {game}: {path} is a run of {run_game}")
  return PolicySource(path, saved_model, run_dir, config, done, run_game, str(config["condition"]),
                      family, num_actions)


# --- the protocol of the evaluation played --------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Protocol:
  """The evaluation played: `games` whole games of `game`, capped at `max_frames` emulator frames
  each, seeded as the evaluation at frame point `point` (emulator frames trained) of run seed
  `run_seed` (`artifact.experiment.seeding`)."""
  game: str
  games: int
  max_frames: int
  run_seed: int
  point: int

  @property
  def env_seeds(self) -> np.ndarray:
    """The games' env seeds, int64 [games]: `run_seeds(S, 1).eval_env(games, point)`."""
    return run_seeds(self.run_seed, 1).eval_env(self.games, self.point)

  @property
  def policy_seed(self) -> int:
    """The evaluation policy's sampling seed: `run_seeds(S, 1).eval_policy_seed(point)`."""
    return run_seeds(self.run_seed, 1).eval_policy_seed(self.point)


def protocol_for(source: PolicySource, games: Optional[int], seed: Optional[int],
                 max_frames: Optional[int]) -> Protocol:
  """The `Protocol` of `source` with the command line's overrides (None: the run's own value;
  a bare SavedModel: run seed 0, frame point 0, the short scale's eval_games and cap)."""
  if source.config is None:
    return Protocol(source.game, BARE_DEFAULTS.eval_games if games is None else games,
                    BARE_DEFAULTS.eval_max_frames if max_frames is None else max_frames,
                    0 if seed is None else seed, 0)
  c = source.config
  return Protocol(source.game, int(c["eval_games"]) if games is None else games,
                  int(c["eval_max_frames"]) if max_frames is None else max_frames,
                  int(c["seed"]) if seed is None else seed, int(source.done["frames"]))


# --- the evaluation policy rebuilt from the SavedModel --------------------------------------------

class SavedGreedyPyPolicy:
  """The `action` of a saved greedy policy (a DQN run's policy/) on batches of `batch_size` envs,
  through one traced concrete function. Acts as a tf-agents PyPolicy where `evaluate` and
  `EpsilonGreedyPyPolicy` use one: `time_step_spec`, `action_spec` (the env's array specs) and
  `action(time_step)` -> PolicyStep with int64 actions [batch]."""

  def __init__(self, saved, time_step_spec, action_spec, batch_size: int):
    from agents.policies import compile_on_time_steps
    self.time_step_spec, self.action_spec = time_step_spec, action_spec
    self._fn = compile_on_time_steps(lambda time_step: saved.action(time_step, ()).action,
                                     time_step_spec, batch_size)

  def action(self, time_step, policy_state=()):
    """The greedy actions of a batched numpy time step (PolicyStep, actions int64 [batch])."""
    from tf_agents.trajectories import policy_step
    action = self._fn(time_step).numpy().astype(self.action_spec.dtype)
    return policy_step.PolicyStep(action, policy_state, ())


class SavedSamplingPyPolicy:
  """The evaluation policy of an A2C-framework run from its saved collect policy: logits from the
  SavedModel's `distribution`, actions from `gumbel_max_sample(logits, seed, step, env_ids,
  num_envs=0)` with step 0, 1, ... per agent step (per `action` call) and env_ids =
  range(batch), as `CategoricalPolicy(..., seed, num_envs=0)` samples. On batches of
  `batch_size` envs; acts as a tf-agents PyPolicy where `evaluate` uses one (`time_step_spec`,
  `action_spec`, `action`)."""

  def __init__(self, saved, time_step_spec, action_spec, batch_size: int, seed: int):
    import tensorflow as tf
    from agents.policies import compile_on_time_steps, gumbel_max_sample
    self.time_step_spec, self.action_spec = time_step_spec, action_spec
    env_ids = tf.range(batch_size, dtype=tf.int32)

    def act(time_step, seed, step):
      dist = saved.distribution(time_step, ()).action
      return gumbel_max_sample(tf.cast(dist.logits, tf.float32), seed, step, env_ids, 0)
    scalar = tf.TensorSpec([], tf.int64)
    self._fn = compile_on_time_steps(act, time_step_spec, batch_size, scalar, scalar)
    self._seed, self._step = int(seed), 0

  def seed_sampling(self, seed: int):
    """Restarts the sampling stream from `seed` (agent step 0)."""
    self._seed, self._step = int(seed), 0

  def action(self, time_step, policy_state=()):
    """One agent step of every env: the sampled actions (PolicyStep, int64 [batch])."""
    import tensorflow as tf
    from tf_agents.trajectories import policy_step
    action = self._fn(time_step, tf.constant(self._seed, tf.int64), tf.constant(self._step, tf.int64))
    self._step += 1
    return policy_step.PolicyStep(action.numpy().astype(self.action_spec.dtype), policy_state, ())


def load_saved_policy(source: PolicySource):
  """(the loaded SavedModel, its family "a2c" or "dqn"). A bare SavedModel's family is told by
  its `distribution`: a Categorical over actions (an A2C-framework collect policy) or a
  Deterministic one (a greedy Q policy). Raises UsageError if it does not load or is neither."""
  import tensorflow as tf
  import tensorflow_probability as tfp  # noqa: F401  (registers the saved distributions' types)
  from tf_agents.trajectories import time_step as ts
  try:
    saved = tf.saved_model.load(str(source.saved_model))
    step = saved.distribution(ts.restart(tf.zeros([1, 4, 84, 84], tf.uint8), batch_size=1), ())
  except Exception as e:  # noqa: BLE001  (any load failure is the directory's, said as such)
    _fail(f"{source.path}: the SavedModel does not load as a tf-agents policy ({type(e).__name__}: "
          f"{str(e).splitlines()[0] if str(e) else ''})")
  dist = step.action
  kind = ("a2c" if isinstance(dist, tfp.distributions.Categorical) else
          "dqn" if isinstance(dist, tfp.distributions.Deterministic) else None)
  family = source.family or kind
  if family is None:
    _fail(f"{source.path}: its distribution is a {type(dist).__name__}, neither an A2C-framework "
          f"policy's Categorical nor a greedy Q policy's Deterministic")
  return saved, family


def make_policy(saved, family: str, source: PolicySource, env, protocol: Protocol):
  """The evaluation PyPolicy of `source` on the batched `env` (batch = protocol.games), seeded
  with the protocol's policy seed: for "dqn" `EpsilonGreedyPyPolicy(SavedGreedyPyPolicy, the
  run's eval_epsilon (a bare SavedModel: DQNHparams' 0.05))`, for "a2c" `SavedSamplingPyPolicy`
  (module docstring)."""
  spec, action_spec, batch = env.time_step_spec(), env.action_spec(), protocol.games
  if family == "a2c":
    return SavedSamplingPyPolicy(saved, spec, action_spec, batch, protocol.policy_seed)
  from agents.policies import EpsilonGreedyPyPolicy
  eps = float(source.config["hparams"].get("eval_epsilon", DQNHparams().eval_epsilon)
              if source.config else DQNHparams().eval_epsilon)
  return EpsilonGreedyPyPolicy(SavedGreedyPyPolicy(saved, spec, action_spec, batch), lambda: eps,
                               env.num_actions, protocol.policy_seed)


# --- playing ---------------------------------------------------------------------------------------

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
  ends (discount 0), until its first game ended; then its score and length (agent steps)."""
  env_seed: int
  actions: List[int] = dataclasses.field(default_factory=list)
  rewards: List[float] = dataclasses.field(default_factory=list)
  ends: List[bool] = dataclasses.field(default_factory=list)
  score: Optional[float] = None
  agent_steps: Optional[int] = None


@dataclasses.dataclass
class Played:
  """One policy's play: its source and family, the protocol, each game, `evaluate`'s summary,
  the recording of the filmed game (None without --video), wall seconds."""
  source: PolicySource
  family: str
  protocol: Protocol
  games: List[GameResult]
  summary: Dict[str, float]
  recording: Optional[Recording]
  wall_s: float


class _Watcher:
  """`evaluate`'s observer: a progress line every PROGRESS_EVERY_S seconds, the first game of
  each env (as `evaluate` scores them), and the filmed env's steps."""

  def __init__(self, label: str, protocol: Protocol, film: Optional[int], stream):
    self.label, self.protocol, self.stream = label, protocol, stream
    self.first: Dict[int, object] = {}
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


def play(source: PolicySource, protocol: Protocol, film: Optional[int] = None,
         stream=None) -> Played:
  """Plays `protocol.games` whole games with `source`'s evaluation policy, by
  `artifact.training.evaluation.evaluate` on a fresh evaluation env (`make_atari_env` with
  `life_loss_terminal=False` and the cap `protocol.max_frames` frames), seeded as the protocol
  says; prints progress to `stream` (default stderr). `film`: the env index (0-based) whose game
  is recorded for a video. Returns the `Played`. Raises UsageError if the SavedModel does not load or its
  action count is not the game's; RuntimeError if `evaluate`'s summary disagrees with the games
  seen (it cannot, unless the env misbehaves)."""
  from artifact.training.evaluation import evaluate
  from envs.atari import make_atari_env
  stream = sys.stderr if stream is None else stream
  saved, family = load_saved_policy(source)
  env = make_atari_env(protocol.game, protocol.games, seed=None, life_loss_terminal=False,
                       max_frames_per_game=protocol.max_frames, reuse=False)
  try:
    if env.num_actions != source.num_actions:
      _fail(f"{source.path}: the policy has {source.num_actions} actions, {protocol.game} has "
            f"{env.num_actions}")
    policy = make_policy(saved, family, source, env, protocol)
    watcher = _Watcher(source.label, protocol, film, stream)
    print(f"{PROG}: {source.label}: playing {protocol.games} game(s) of {protocol.game} ...",
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
  if len(games) != summary["eval_games"] or not math.isclose(float(scores.mean()), summary["eval_return"]):
    raise RuntimeError(f"the games seen ({scores}) are not the ones evaluate scored ({summary})")
  rec = watcher.recording
  if rec is not None and rec.score is None:
    raise RuntimeError(f"game {film + 1} did not end within the cap")
  return Played(source, family, protocol, games, summary, rec, wall)


# --- statistics and the printout --------------------------------------------------------------------

def bootstrap_ci(scores: Sequence[float], level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES,
                 seed: int = BOOTSTRAP_SEED):
  """(low, high): the percentile bootstrap interval of the mean of `scores` at `level`:
  `resamples` resamples of the games with replacement drawn from numpy's PCG64 with `seed`, and
  the (1 - level) / 2 and (1 + level) / 2 quantiles of their means. One game gives (x, x).
  Raises ValueError for no scores."""
  x = np.asarray(scores, np.float64)
  if x.size == 0:
    raise ValueError("no scores to bootstrap")
  rng = np.random.Generator(np.random.PCG64(seed))
  means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
  low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
  return float(low), float(high)


def _fmt_score(x: float) -> str:
  return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def _final_evaluation(source: PolicySource) -> Optional[Dict[str, str]]:
  """The run's progress.csv row of its evaluation at its final frames, or None."""
  if source.run_dir is None or not (source.run_dir / "progress.csv").is_file():
    return None
  point = int(source.done["frames"])
  with open(source.run_dir / "progress.csv", newline="") as f:
    rows = [r for r in csv.DictReader(f) if r.get("eval_return") and r.get("frames") == str(point)]
  return rows[-1] if rows else None


def report(p: Played, stream=None):
  """Prints one policy's games (score, agent steps, frames, truncated) and the mean with its 95%
  percentile bootstrap CI (`bootstrap_ci`) to `stream` (default stdout); for a run played with its own
  evaluation's settings, its final evaluation row in progress.csv beside it."""
  pr, src = p.protocol, p.source
  stream = sys.stdout if stream is None else stream
  where = (f"{src.run_dir}" if src.run_dir is not None else f"{src.saved_model} (bare SavedModel)")
  print(f"== {where}: {src.label} ({p.family} family) on {pr.game}", file=stream)
  print(f"   {pr.games} whole game(s), cap {pr.max_frames:,} frames, seeded as the evaluation at "
        f"frame point {pr.point:,} of run seed {pr.run_seed} (policy seed {pr.policy_seed}); "
        f"played in {p.wall_s:,.1f} s", file=stream)
  print(f"   {'game':>4}  {'env seed':>10}  {'score':>9}  {'agent steps':>11}  {'frames':>8}  truncated",
        file=stream)
  for g in p.games:
    print(f"   {g.number:>4}  {g.env_seed:>10}  {_fmt_score(g.score):>9}  {g.agent_steps:>11,}  "
          f"{g.frames:>8,}  {'yes' if g.truncated else 'no'}", file=stream)
  scores = [g.score for g in p.games]
  low, high = bootstrap_ci(scores)
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


# --- the video ----------------------------------------------------------------------------------

class _Mp4Writer:
  """H.264 MP4 at VIDEO_FPS through imageio's ffmpeg plugin (imageio-ffmpeg's binary)."""

  def __init__(self, path: Path):
    import imageio.v2 as iio
    # the temporary name ends in .tmp: the container is named, not inferred
    self._w = iio.get_writer(str(path), format=".mp4", mode="I", fps=VIDEO_FPS, codec="libx264",
                             pixelformat="yuv420p", quality=8, macro_block_size=1,
                             output_params=["-f", "mp4"], ffmpeg_log_level="error")
    self.frames = 0

  def append(self, frame: np.ndarray):
    self._w.append_data(frame)
    self.frames += 1

  def close(self):
    self._w.close()


class _GifWriter:
  """A looping GIF (Pillow): every `every`-th frame kept, each shown for `every` / VIDEO_FPS s
  rounded to whole centiseconds (GIF's unit). Frames are kept in memory (palette images) until
  `close`. Pillow merges identical consecutive frames into one longer frame."""

  def __init__(self, path: Path, every: int):
    self.path, self.every = path, int(every)
    self.images = []
    self.seen = self.frames = 0

  def append(self, frame: np.ndarray):
    from PIL import Image
    if self.seen % self.every == 0:
      self.images.append(Image.fromarray(frame).convert("P", palette=Image.Palette.ADAPTIVE))
      self.frames += 1
    self.seen += 1

  def close(self):
    ms = 10 * round(100 * self.every / VIDEO_FPS)
    self.images[0].save(self.path, format="GIF", save_all=True, append_images=self.images[1:],
                        duration=ms, loop=0)


def _font():
  from PIL import ImageFont
  return ImageFont.load_default()


def _tile(screen: np.ndarray, label: str, score: float, end: str, scale: float, font) -> np.ndarray:
  """One policy's screen (scaled by `scale`) with 'label  score  end' in a black box in the
  bottom-left corner (`end`: "", "game over" or "capped"); uint8 [H, W, 3]."""
  from PIL import Image, ImageDraw
  img = Image.fromarray(screen)
  if scale != 1.0:
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                     Image.Resampling.NEAREST)
  draw = ImageDraw.Draw(img)
  text = f"{label}  {_fmt_score(score)}" + (f"  {end}" if end else "")
  _, top, _, bottom = draw.textbbox((0, 0), "Ag_y|0", font=font)   # one box height for every text
  left, _, right, _ = draw.textbbox((0, 0), text, font=font)
  y = img.height - (bottom - top) - 2
  draw.rectangle((0, y - 2, right - left + 4, img.height), fill=(0, 0, 0))
  draw.text((2 - left, y - top), text, font=font, fill=(255, 255, 96))
  return np.asarray(img)


class _FilmedGame:
  """One filmed game: the RGB twin of its emulator (`envs.atari.make_rgb_vector_env`, its env
  seed, the protocol's cap) replaying the recorded actions, its screen, score so far and end."""

  def __init__(self, played: "Played"):
    from envs.atari import make_rgb_vector_env
    self.played, self.rec = played, played.recording
    self.twin = make_rgb_vector_env(played.protocol.game, 1, max_frames_per_game=played.protocol.max_frames)
    obs, _ = self.twin.reset(seed=np.array([self.rec.env_seed], np.int64))
    self.screen, self.score, self.end = np.array(obs[0, -1]), 0.0, ""

  def step(self, t: int):
    """Agent step t (from 0) of the recording, if the game lasted that long. Raises
    VideoMismatchError if the twin's reward or game end differs from the scored game's."""
    rec, label = self.rec, self.played.source.label
    if t >= len(rec.actions):
      return
    obs, reward, terminated, truncated, info = self.twin.step(np.array([rec.actions[t]], np.int64))
    r, end = float(reward[0]), bool(terminated[0] or truncated[0])
    self.score += r
    if np.sign(r) != rec.rewards[t] or end != rec.ends[t]:
      raise VideoMismatchError(
          f"{label}, game seed {rec.env_seed}: at agent step {t + 1} the "
          f"filmed emulator got reward {r:g} (game end {end}), the scored one "
          f"{rec.rewards[t]:g} clipped (game end {rec.ends[t]})")
    if not end:
      self.screen = np.array(obs[0, -1])
      return
    if self.score != rec.score or t + 1 != rec.agent_steps:
      raise VideoMismatchError(
          f"{label}, game seed {rec.env_seed}: the filmed game ended "
          f"with score {self.score:g} after {t + 1} agent steps, the scored one with "
          f"{rec.score:g} after {rec.agent_steps}")
    # the observation is already the next game's first screen (SAME_STEP autoreset); the game's
    # last one is in info["final_obs"] (else the one before stays)
    final = np.asarray(info.get("final_obs", ()))
    if final.size == np.prod(SCREEN_SHAPE):
      self.screen = final.reshape(SCREEN_SHAPE).astype(np.uint8)
    self.end = "game over" if terminated[0] else "capped"

  def close(self):
    """Closes the twin emulator."""
    self.twin.close()


def render_video(path, played: Sequence[Played], gif_every: int = 1, gif_scale: float = 1.0,
                 stream=None) -> int:
  """Writes the video `path` (.mp4 or .gif, atomically) of the filmed game of each of `played`,
  tiled left to right: each filmed game replayed in an RGB twin of its emulator
  (`envs.atari.make_rgb_vector_env`, its env seed, the protocol's cap) with the recorded actions,
  one video frame per agent step plus the first screen, the last one held HOLD_FRAMES frames; a
  game that ended early holds its last screen (ale-py's `final_obs`). Returns the video frames
  written (a GIF keeps every `gif_every`-th, its screens scaled by `gif_scale`; Pillow may merge
  identical ones).
  Progress lines go to `stream` (default stderr). Raises VideoMismatchError if a twin's reward or
  game end ever differs from the scored game's."""
  stream = sys.stderr if stream is None else stream
  font, path = _font(), Path(path)
  gif = path.suffix.lower() == ".gif"
  scale = gif_scale if gif else 1.0
  games: List[_FilmedGame] = []
  try:
    for p in played:
      games.append(_FilmedGame(p))
    steps = max(len(g.rec.actions) for g in games)

    def frame():
      return np.concatenate([_tile(g.screen, g.played.source.label, g.score, g.end, scale, font)
                             for g in games], axis=1)
    with atomic_path(path) as tmp:
      writer = _GifWriter(tmp, gif_every) if gif else _Mp4Writer(tmp)
      try:
        writer.append(frame())
        last_t = time.time()
        for t in range(steps):
          for g in games:
            g.step(t)
          writer.append(frame())
          if time.time() - last_t >= PROGRESS_EVERY_S:
            last_t = time.time()
            print(f"{PROG}: video: agent step {t + 1:,} of {steps:,}", file=stream, flush=True)
        for _ in range(HOLD_FRAMES):
          writer.append(frame())
      finally:
        writer.close()
  finally:
    for g in games:
      g.close()
  return writer.frames


# --- the command line ---------------------------------------------------------------------------

_EPILOG_PARAGRAPHS = [
    "Protocol: the games are an evaluation of the runs (artifact/training/evaluation.py): whole "
    "games (no life-loss terminals), 1-30 no-op starts, capped at --max-frames emulator frames (4 "
    "per agent step), raw scores. Seeds as the evaluation at frame point f of run seed S: env seeds "
    "run_seeds(S, 1).eval_env(N, f), policy seed eval_policy_seed(f), f = the run's final frames "
    "(done.json). With the defaults the scores are the run's final evaluation (progress.csv), when "
    "played on the kind of CPU it trained on. DQN-family runs play epsilon-greedy (the run's "
    "eval_epsilon) over the saved greedy policy; A2C-framework runs sample from the saved policy's "
    "logits with the evaluation's own noise (gumbel_max_sample, num_envs=0).",
    f"A bare SavedModel plays as run seed 0 at frame point 0, with {BARE_DEFAULTS.eval_games} games "
    f"capped at {BARE_DEFAULTS.eval_max_frames:,} frames (the short scale's) unless told otherwise; "
    f"its family is told by its distribution (Categorical: A2C framework; Deterministic: greedy Q, "
    f"epsilon {DQNHparams().eval_epsilon}).",
    f"Printed: each game's env seed, score, length (agent steps and frames) and whether the cap "
    f"stopped it; the mean with a 95% percentile bootstrap CI ({BOOTSTRAP_RESAMPLES:,} resamples "
    f"of the games with replacement, numpy PCG64 seed {BOOTSTRAP_SEED}). Progress goes to stderr "
    f"every {PROGRESS_EVERY_S:g} s.",
    f"--video records one game (--video-game) at the emulator's full resolution (210 x 160 RGB), at "
    f"the game's speed ({VIDEO_FPS} frames per second = {SCREEN_HZ} Hz / frameskip {FRAMESKIP}), the "
    f"score so far in the bottom-left corner; an RGB twin of the emulator replays the scored game's "
    f"actions and must get its rewards and game end at every step. .mp4: H.264 (imageio-ffmpeg). "
    f".gif: Pillow, built in memory (about 34 KB a frame); --gif-every K keeps every K-th frame (a "
    f"6,750-step game at K = 5: 1,350 frames), --gif-scale X scales the screens by X. Files are "
    f"written to a temporary name beside the target and renamed when complete.",
]
_EXAMPLES = """
Examples:
  pg-softq-play runs/figure3/Seaquest/soft_ql/seed0
  pg-softq-play runs/figure3/Seaquest/soft_ql/seed0 --games 1 --video soft_ql.mp4
  pg-softq-play runs/figure1/Seaquest/a2c_proper/seed0 --side-by-side \\
      runs/figure3/Seaquest/soft_ql/seed0 --video pg_vs_soft_ql.mp4
  pg-softq-play reports/reference/policies/Breakout/dqn --game Breakout --games 2 --out dqn.csv
"""
EPILOG = ("\n" + "\n\n".join(textwrap.fill(p, 96, break_on_hyphens=False, break_long_words=False)
                              for p in _EPILOG_PARAGRAPHS) + "\n" + _EXAMPLES)


def build_parser() -> argparse.ArgumentParser:
  """The command line's parser (prog pg-softq-play); values are checked in `main`."""
  p = argparse.ArgumentParser(
      prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
      description="Watch and score a trained agent: play whole Atari games with a run's saved\n"
                  "policy under exactly the protocol of the runs' evaluations, print each game's\n"
                  "score and the mean with a 95% percentile bootstrap CI, and optionally write a\n"
                  "CSV and an MP4 or GIF of the screen.")
  p.add_argument("policy_dir", metavar="POLICY_DIR",
                 help="a run directory (config.json, done.json, policy/), its policy/ folder, or "
                      "a bare tf-agents PolicySaver SavedModel (then --game is required)")
  p.add_argument("--games", type=int, default=None, metavar="N",
                 help="whole games to play, at once, one per env (default: the run's eval_games; "
                      "with --side-by-side: 1)")
  p.add_argument("--seed", type=int, default=None, metavar="S",
                 help="run seed the games' and the policy's seeds derive from (default: the run's)")
  p.add_argument("--max-frames", default=None, metavar="F",
                 help=f"cap per game in emulator frames, at most {MAX_GAME_FRAMES:,} (default: the "
                      f"run's eval_max_frames)")
  p.add_argument("--out", default=None, metavar="FILE.csv",
                 help="write the games to this CSV: " + ", ".join(CSV_COLUMNS))
  p.add_argument("--video", default=None, metavar="FILE.mp4|FILE.gif",
                 help="record a game's screen (full-resolution RGB, 15 frames per second)")
  p.add_argument("--video-game", type=int, default=1, metavar="K",
                 help="which game (1..N) the video shows (default 1)")
  p.add_argument("--gif-every", type=int, default=1, metavar="K",
                 help="GIF only: keep every K-th frame (default 1)")
  p.add_argument("--gif-scale", type=float, default=1.0, metavar="X",
                 help="GIF only: scale the screens by X, 0 < X <= 1 (default 1)")
  p.add_argument("--game", default=None,
                 help="the Atari game (CamelCase, e.g. Pong); required for a bare SavedModel, "
                      "checked against a run's")
  p.add_argument("--side-by-side", nargs="+", default=None, metavar="DIR",
                 help="one or two more policies (run directories or SavedModels of the same game) "
                      "played on POLICY_DIR's seeds; with --video their screens are tiled left to "
                      "right, each labelled with its condition")
  return p


def _check_writable(option: str, target: str, suffixes: Optional[Sequence[str]] = None):
  """Refuses `target` (--out / --video) if its suffix is not one of `suffixes` or it cannot be
  created: its nearest existing ancestor is not a directory one can create files in."""
  path = Path(target)
  if suffixes and path.suffix.lower() not in suffixes:
    _fail(f"{option} {target}: the file name must end in {' or '.join(suffixes)}")
  if path.is_dir():
    _fail(f"{option} {target}: is a directory")
  parent = path.parent if str(path.parent) else Path(".")
  while not parent.exists() and parent != parent.parent:
    parent = parent.parent
  if not parent.is_dir():
    _fail(f"{option} {target}: {parent} is not a directory")
  try:
    with tempfile.TemporaryFile(dir=parent):
      pass
  except OSError as e:
    _fail(f"{option} {target}: cannot write in {parent} ({e.strerror or e})")


def _check_args(args):
  """Every check of the values that needs no policy loaded; raises UsageError."""
  if args.games is not None and args.games < 1:
    _fail(f"--games {args.games}: must be at least 1")
  if args.seed is not None and args.seed < 0:
    _fail(f"--seed {args.seed}: must be >= 0")
  if args.max_frames is not None:
    try:
      value = float(args.max_frames)
    except ValueError:
      value = float("nan")
    if not (math.isfinite(value) and value == int(value) and 1 <= value <= MAX_GAME_FRAMES):
      _fail(f"--max-frames {args.max_frames}: must be a whole number of emulator frames in "
            f"[1, {MAX_GAME_FRAMES:,}]")
    args.max_frames = int(value)
  if args.side_by_side is not None and len(args.side_by_side) > 2:
    _fail(f"--side-by-side takes one or two more policies, got {len(args.side_by_side)}")
  is_gif = args.video is not None and Path(args.video).suffix.lower() == ".gif"
  if (args.gif_every != 1 or args.gif_scale != 1.0) and not is_gif:
    _fail("--gif-every and --gif-scale apply to a GIF video (--video FILE.gif) only")
  if args.gif_every < 1:
    _fail(f"--gif-every {args.gif_every}: must be at least 1")
  if not (math.isfinite(args.gif_scale) and 0 < args.gif_scale <= 1):
    _fail(f"--gif-scale {args.gif_scale:g}: must be in (0, 1]")
  if args.video is not None:
    _check_writable("--video", args.video, (".mp4", ".gif"))
  if args.out is not None:
    _check_writable("--out", args.out)
  if args.video is not None and args.out is not None and Path(args.video).resolve() == Path(args.out).resolve():
    _fail("--video and --out name the same file")


def main(argv=None) -> int:
  """The command (module docstring; `--help`). Returns 0 once the games are printed and the
  files written, or 1 if a video's twin emulator diverged from the scored games
  (`VideoMismatchError`; nothing written). A bad argument raises UsageError (SystemExit, exit
  status 2) after printing its message to stderr, before anything is played or written."""
  return run_command(_main, argv)


def _main(argv=None) -> int:
  args = build_parser().parse_args(argv)
  _check_args(args)
  sources = [resolve_policy(args.policy_dir, args.game)]
  for d in args.side_by_side or []:            # a bare SavedModel plays POLICY_DIR's game
    sources.append(resolve_policy(d, None if _in_run_dir(d) else sources[0].game))
  games = {s.game for s in sources}
  if len(games) > 1:
    _fail("--side-by-side plays one game; these policies play different games: "
          + ", ".join(f"{s.path} ({s.game})" for s in sources))
  n_games = args.games if args.games is not None else (1 if args.side_by_side else None)
  protocol = protocol_for(sources[0], n_games, args.seed, args.max_frames)
  if not 1 <= args.video_game <= protocol.games:
    _fail(f"--video-game {args.video_game}: must be in [1, {protocol.games}] (the games played)")
  _check_action_counts(sources, protocol.game)
  film = args.video_game - 1 if args.video is not None else None
  played = [play(s, protocol, film) for s in sources]
  for p in played:
    report(p)
  if args.video is not None:
    try:
      n = render_video(args.video, played, args.gif_every, args.gif_scale)
    except VideoMismatchError as e:
      print(f"{PROG}: error: {e}; no video written", file=sys.stderr, flush=True)
      return 1
    print(f"video: {args.video} ({n:,} frames, {os.path.getsize(args.video):,} bytes)")
  if args.out is not None:
    write_csv(args.out, played)
    print(f"games: {args.out} ({sum(len(p.games) for p in played)} rows)")
  return 0


def _in_run_dir(path: str) -> bool:
  d = Path(path)
  return (d / "config.json").is_file() or (d.name == "policy" and (d.parent / "config.json").is_file())


def _check_action_counts(sources: Sequence[PolicySource], game: str):
  """Refuses a policy whose action count is not `game`'s minimal action set's (UsageError)."""
  from envs.atari import make_rgb_vector_env
  env = make_rgb_vector_env(game, 1)
  try:
    n = int(env.single_action_space.n)
  finally:
    env.close()
  for s in sources:
    if s.num_actions != n:
      _fail(f"{s.path}: the policy has {s.num_actions} actions, {game} has {n} "
            + ("(is --game right?)" if s.run_dir is None else "(the run's config.json names "
               f"{s.game})"))


if __name__ == "__main__":
  sys.exit(main())
