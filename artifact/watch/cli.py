"""The command line of watching and scoring a trained agent: `pg-softq-play POLICY_DIR`
(`python -m artifact.watch`).

  pg-softq-play POLICY_DIR [--games N] [--seed S] [--max-frames F] [--out FILE.csv]
                [--video FILE.mp4|FILE.gif [--panel]] [--game GAME] [--side-by-side DIR2 [DIR3]]

POLICY_DIR is a run directory (config.json, done.json, policy/), its policy/ folder, a bare
tf-agents PolicySaver SavedModel (then --game names the game), or a published reference run
without policy/ (its policy from reports/reference/policies/; `artifact.watch.policies`). The
games are played with exactly the protocol of the runs' evaluations
(`artifact.training.evaluation.evaluate`): whole games (no life-loss terminals), 1-30 no-op
starts, the frame cap, raw scores, and the seeds an evaluation at frame point f derives from the
run seed S (`artifact.training.runner.Training.eval_phase`): env seeds `run_seeds(S, 1).eval_env(N,
f)`, policy seed `eval_policy_seed(f)`, with f the run's final frames (done.json). So with the
defaults (N = the run's eval_games, S = its seed, the cap its eval_max_frames) the scores are the
run's final evaluation, game for game (tests/test_play.py). Each game and the mean with its 95%
CI are printed (`artifact.watch.playing`); `--video` films one game (`artifact.watch.film`);
`--side-by-side DIR2 [DIR3]` plays those policies with POLICY_DIR's seeds (the same games, the
same sampling stream) and tiles their screens left to right in one video, each labelled with its
condition; `--panel` draws under the screens, at every agent step, each policy's action
probabilities (bars over the action names, the policies' one above the other), its value
estimate and its score so far (`artifact.watch.panel`: policy gradient reads the pi and value
heads, soft Q-learning pi = softmax(Q / tau) and V = tau logsumexp(Q / tau)).

Every bad argument is refused before anything is played or written (`UsageError`, exit status 2);
the CSV and the video are written through `artifact.files.atomic_path`, so an interrupted play
leaves neither a torn file nor a temporary one; a folder of either that does not exist is
created, and said.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

from artifact.analysis.statistics import BOOTSTRAP_REPS
from artifact.experiment.hparams import DQNHparams
from artifact.usage import run_command
from artifact.watch.film import SCREEN_HZ, SCREEN_SHAPE, VIDEO_FPS, VideoMismatchError, render_video
from artifact.watch.panel import PANEL_MIN_WIDTH
from artifact.watch.playing import CSV_COLUMNS, PROGRESS_EVERY_S, play, report, write_csv
from artifact.watch.policies import (
  BARE_DEFAULTS,
  PROG,
  PolicySource,
  fail,
  protocol_for,
  resolve_policy,
)
from envs.games import FRAMESKIP, MAX_FRAMES_PER_GAME

MAX_GAME_FRAMES = MAX_FRAMES_PER_GAME        # the protocol's game cap (30 min), emulator frames


_EPILOG_PARAGRAPHS = [
    "Protocol: the games are an evaluation of the runs (artifact/training/evaluation.py): whole "
    "games (no life-loss terminals), 1-30 no-op starts, capped at --max-frames emulator frames (4 "
    "per agent step), raw scores. Seeds as the evaluation at frame point f of run seed S: env "
    "seeds "
    "run_seeds(S, 1).eval_env(N, f), policy seed eval_policy_seed(f), f = the run's final frames "
    "(done.json). With the defaults the scores are the run's final evaluation (progress.csv), when "
    "played on the kind of CPU it trained on. DQN-family runs play epsilon-greedy (the run's "
    "eval_epsilon) over the saved greedy policy; A2C-framework runs sample from the saved policy's "
    "logits with the evaluation's own noise (gumbel_max_sample, num_envs=0).",
    f"A bare SavedModel plays as run seed 0 at frame point 0, with {BARE_DEFAULTS.eval_games} "
    f"games capped at {BARE_DEFAULTS.eval_max_frames:,} frames (the short scale's) unless told "
    f"otherwise; "
    f"its family is told by its distribution (Categorical: A2C framework; Deterministic: greedy Q, "
    f"epsilon {DQNHparams().eval_epsilon}).",
    f"Printed: each game's env seed, score, length (agent steps and frames) and whether the cap "
    f"stopped it; the mean with a 95% CI: rliable's stratified bootstrap over the games "
    f"({BOOTSTRAP_REPS:,} resamples, numpy seed 0), the reports' own interval "
    f"(artifact.analysis.statistics.interval). Progress goes to stderr "
    f"every {PROGRESS_EVERY_S:g} s.",
    f"--video records one game (--video-game) at the emulator's full resolution (210 x 160 "
    f"RGB), at the game's speed ({VIDEO_FPS} frames per second = {SCREEN_HZ} Hz / frameskip "
    f"{FRAMESKIP}), the score so far in a caption band under the screen; an RGB twin of the "
    f"emulator replays the scored game's "
    f"actions and must get its rewards and game end at every step. .mp4: H.264 (imageio-ffmpeg). "
    f".gif: Pillow, built in memory (about 34 KB a frame); --gif-every K keeps every K-th frame (a "
    f"6,750-step game at K = 5: 1,350 frames), --gif-scale X scales the screens by X. Files are "
    f"written to a temporary name beside the target and renamed when complete; a folder of --video "
    f"or --out that does not exist is created, and the command says so.",
    f"--panel (with --video; A2C-framework policies) draws a panel under the screens: at every "
    f"agent step, each policy's pi(a|s) as bars over the game's action names (with "
    f"--side-by-side the policies' bars one above the other, in the colour of their header; the "
    f"action taken bright), its value estimate V(s) (clipped-reward units, as it learned) and "
    f"its raw score so far. Policy-gradient runs: pi = softmax(logits) of the pi head, V = the "
    f"value head; soft Q-learning runs (soft_ql): Q = V + tau log pi, pi = softmax(Q / tau), V = "
    f"tau logsumexp(Q / tau), tau from config.json (eq. 46-47, 55-57); a bare SavedModel: its "
    f"heads. The logits are the ones the action was sampled from (the SavedModel's "
    f"distribution); V comes from the network rebuilt from the SavedModel's variables, checked "
    f"against its logits. The panel is as wide as the screens (160 x --gif-scale pixels a "
    f"policy) and needs {PANEL_MIN_WIDTH} or more for the action names.",
    "POLICY_DIR may be a published reference run without policy/ (reports/reference/runs/...): "
    "it plays the published policy whose run.json names that run at its final frames "
    "(reports/reference/policies/); a run without either is refused with the list of runs that "
    "have one.",
]
_EXAMPLES = """
Examples:
  pg-softq-play reports/reference/runs/figure3/Seaquest/soft_ql/seed3 --games 1   # published
  pg-softq-play runs/figure3/Seaquest/soft_ql/seed0                     # the final evaluation again
  pg-softq-play runs/figure3/Seaquest/soft_ql/seed0 --games 1 --video runs/videos/soft_ql.mp4
  pg-softq-play runs/figure1/Seaquest/a2c_proper/seed0 --side-by-side \\
      runs/figure3/Seaquest/soft_ql/seed0 --video runs/videos/pg_vs_soft_ql.mp4 --panel
  pg-softq-play reports/reference/policies/Breakout/dqn --game Breakout --games 2 --out /tmp/dqn.csv
"""
EPILOG = ("\n" + "\n\n".join(textwrap.fill(p, 96, break_on_hyphens=False, break_long_words=False)
                              for p in _EPILOG_PARAGRAPHS) + "\n" + _EXAMPLES)


def build_parser() -> argparse.ArgumentParser:
  """The command line's parser (prog pg-softq-play); values are checked in `main`."""
  p = argparse.ArgumentParser(
      prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
      description="Watch and score a trained agent: play whole Atari games with a run's saved\n"
                  "policy under exactly the protocol of the runs' evaluations, print each game's\n"
                  "score and the mean with a 95% bootstrap CI, and optionally write a\n"
                  "CSV and an MP4 or GIF of the screen.")
  p.add_argument("policy_dir", metavar="POLICY_DIR",
                 help="a run directory (config.json, done.json, policy/; a published reference "
                      "run plays its policy from reports/reference/policies/), its policy/ folder, "
                      "or a bare tf-agents PolicySaver SavedModel (then --game is required)")
  p.add_argument("--games", type=int, default=None, metavar="N",
                 help="whole games to play, at once, one per env (default: the run's eval_games; "
                      "with --side-by-side: 1)")
  p.add_argument("--seed", type=int, default=None, metavar="S",
                 help="run seed the games' and the policy's seeds derive from (default: the run's)")
  p.add_argument("--max-frames", default=None, metavar="F",
                 help=f"cap per game in emulator frames, at most {MAX_GAME_FRAMES:,} (default: the "
                      f"run's eval_max_frames)")
  p.add_argument("--out", default=None, metavar="FILE.csv",
                 help="write the games to this CSV (its folder is created if missing): "
                      + ", ".join(CSV_COLUMNS))
  p.add_argument("--video", default=None, metavar="FILE.mp4|FILE.gif",
                 help="record a game's screen (full-resolution RGB, 15 frames per second); its "
                      "folder is created if missing, and said")
  p.add_argument("--video-game", type=int, default=1, metavar="K",
                 help="which game (1..N) the video shows (default 1)")
  p.add_argument("--panel", action="store_true",
                 help="with --video: draw under the screens, at every agent step, each policy's "
                      "action probabilities pi(a|s) (bars over the action names), its value "
                      "estimate V(s) and its score so far (A2C-framework policies; epilog)")
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
                      "right, each labelled with its condition (with --panel, their pi bars one "
                      "above the other under them)")
  return p


def _check_writable(option: str, target: str, suffixes: Sequence[str] | None = None):
  """Refuses `target` (--out / --video) if its suffix is not one of `suffixes` or it cannot be
  created: its nearest existing ancestor is not a directory one can create files in."""
  path = Path(target)
  if suffixes and path.suffix.lower() not in suffixes:
    fail(f"{option} {target}: the file name must end in {' or '.join(suffixes)}")
  if path.is_dir():
    fail(f"{option} {target}: is a directory")
  parent = path.parent if str(path.parent) else Path(".")
  while not parent.exists() and parent != parent.parent:
    parent = parent.parent
  if not parent.is_dir():
    fail(f"{option} {target}: {parent} is not a directory")
  try:
    with tempfile.TemporaryFile(dir=parent):
      pass
  except OSError as e:
    fail(f"{option} {target}: cannot write in {parent} ({e.strerror or e})")


def _check_args(args):
  """Every check of the values that needs no policy loaded; raises UsageError."""
  if args.games is not None and args.games < 1:
    fail(f"--games {args.games}: must be at least 1")
  if args.seed is not None and args.seed < 0:
    fail(f"--seed {args.seed}: must be >= 0")
  if args.max_frames is not None:
    try:
      value = float(args.max_frames)
    except ValueError:
      value = float("nan")
    if not (math.isfinite(value) and value == int(value) and 1 <= value <= MAX_GAME_FRAMES):
      fail(f"--max-frames {args.max_frames}: must be a whole number of emulator frames in "
            f"[1, {MAX_GAME_FRAMES:,}]")
    args.max_frames = int(value)
  if args.side_by_side is not None and len(args.side_by_side) > 2:
    fail(f"--side-by-side takes one or two more policies, got {len(args.side_by_side)}")
  is_gif = args.video is not None and Path(args.video).suffix.lower() == ".gif"
  if (args.gif_every != 1 or args.gif_scale != 1.0) and not is_gif:
    fail("--gif-every and --gif-scale apply to a GIF video (--video FILE.gif) only")
  if args.gif_every < 1:
    fail(f"--gif-every {args.gif_every}: must be at least 1")
  if not (math.isfinite(args.gif_scale) and 0 < args.gif_scale <= 1):
    fail(f"--gif-scale {args.gif_scale:g}: must be in (0, 1]")
  if args.panel and args.video is None:
    fail("--panel draws under a video's screens: give --video FILE.mp4|FILE.gif with it")
  if args.panel:
    policies = 1 + len(args.side_by_side or [])
    width = policies * max(1, round(SCREEN_SHAPE[1] * (args.gif_scale if is_gif else 1.0)))
    if width < PANEL_MIN_WIDTH:
      fail(f"--panel needs frames at least {PANEL_MIN_WIDTH} pixels wide for the action names; "
            f"--gif-scale {args.gif_scale:g} with {policies} "
            f"polic{'y' if policies == 1 else 'ies'} makes them {width}")
  if args.video is not None:
    _check_writable("--video", args.video, (".mp4", ".gif"))
  if args.out is not None:
    _check_writable("--out", args.out)
  if (args.video is not None and args.out is not None
      and Path(args.video).resolve() == Path(args.out).resolve()):
    fail("--video and --out name the same file")


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
    fail("--side-by-side plays one game; these policies play different games: "
          + ", ".join(f"{s.path} ({s.game})" for s in sources))
  n_games = args.games if args.games is not None else (1 if args.side_by_side else None)
  protocol = protocol_for(sources[0], n_games, args.seed, args.max_frames)
  if not 1 <= args.video_game <= protocol.games:
    fail(f"--video-game {args.video_game}: must be in [1, {protocol.games}] (the games played)")
  _check_action_counts(sources, protocol.game)
  if args.panel:
    _check_panel_families(sources)
  film = args.video_game - 1 if args.video is not None else None
  played = [play(s, protocol, film, panel=args.panel) for s in sources]
  for p in played:
    report(p)
  if args.video is not None:
    created = _missing_folder(args.video)
    try:
      n = render_video(args.video, played, args.gif_every, args.gif_scale, panel=args.panel)
    except VideoMismatchError as e:
      print(f"{PROG}: error: {e}; no video written", file=sys.stderr, flush=True)
      return 1
    print(f"video: {args.video} ({n:,} frames, {os.path.getsize(args.video):,} bytes)"
          + (f"; created the folder {created}" if created else ""))
  if args.out is not None:
    created = _missing_folder(args.out)
    write_csv(args.out, played)
    print(f"games: {args.out} ({sum(len(p.games) for p in played)} rows)"
          + (f"; created the folder {created}" if created else ""))
  return 0


def _missing_folder(target: str) -> Path | None:
  """The outermost missing folder above file `target` (the one writing it creates), or None."""
  missing = None
  parent = Path(target).parent
  while str(parent) not in ("", ".") and not parent.exists():
    missing, parent = parent, parent.parent
  return missing


def _in_run_dir(path: str) -> bool:
  d = Path(path)
  return (d / "config.json").is_file() or (d.name == "policy"
                                           and (d.parent / "config.json").is_file())


def _check_panel_families(sources: Sequence[PolicySource]):
  """Refuses --panel for a DQN-family policy (UsageError): it has no pi or value head. A bare
  SavedModel's family is told by loading it (`load_saved_policy`)."""
  from artifact.watch.policies import load_saved_policy
  for s in sources:
    family = s.family or load_saved_policy(s)[1]
    if family != "a2c":
      fail(f"--panel: {s.path} is a DQN-family policy (greedy in Q, played epsilon-greedy): the "
            f"panel draws an A2C-framework policy's pi and V")


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
      fail(f"{s.path}: the policy has {s.num_actions} actions, {game} has {n} "
            + ("(is --game right?)" if s.run_dir is None else "(the run's config.json names "
               f"{s.game})"))


if __name__ == "__main__":
  sys.exit(main())
