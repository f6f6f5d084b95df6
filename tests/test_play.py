"""pg-softq-play (artifact/watch/) on real runs.

Two tiny real runs are trained once (a soft_ql run of Figure 3 and a dqn run of Figure 2, smoke
scale, Pong; about 20 s each on 2 cores): played with the defaults, each gives exactly the games
of its final evaluation in progress.csv (both families: the A2C-framework sampling rebuilt from the
saved policy's logits, and the DQN epsilon-greedy wrapper); the same seed plays the same games;
MP4 and GIF videos decode with the right frame count, shape and content; --side-by-side tiles the
screens. Without training, on the committed reference policies and campaign runs (reports/): a
bare SavedModel plays as its family, an interrupted video leaves nothing behind, a filmed game
that diverges from the scored one is refused, and bad arguments are refused with exit status 2
and nothing written. The evaluation's observer hook changes nothing it returns. Tests that train
or start and interrupt processes are marked slow (pytest.ini).
"""
import csv
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from artifact.watch import cli, film, playing, policies

from helpers import run_play

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "reports" / "reference" / "policies"
CAMPAIGN = ROOT / "reports" / "campaign" / "runs"
REFERENCE = ROOT / "reports" / "reference" / "runs"
BAND = film.caption_height(film.caption_font())          # the caption band under each screen, pixels


def _rows(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def _final_eval(run_dir):
  rows = [r for r in _rows(run_dir / "progress.csv") if r["eval_return"]]
  return rows[-1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """{condition: run directory} of two finished smoke runs of Pong (trained here)."""
  from artifact.experiment.runspec import make_run_spec
  from artifact.training.runner import run
  root = tmp_path_factory.mktemp("runs")
  out = {}
  for figure, condition in ((3, "soft_ql"), (2, "dqn")):
    spec = make_run_spec(figure, "Pong", condition, 0, "smoke")
    run(spec, root / spec.relpath(), on_event=lambda e: None)
    out[condition] = root / spec.relpath()
  return out


# --- the games are the run's final evaluation ------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("condition", ["soft_ql", "dqn"])
def test_the_games_are_the_runs_final_evaluation(runs, condition, tmp_path, capsys):
  run_dir = runs[condition]
  status, out, err = run_play([run_dir, "--out", tmp_path / "games.csv"], capsys)
  assert status == 0, err
  games = _rows(tmp_path / "games.csv")
  final = _final_eval(run_dir)
  scores = np.array([float(g["score"]) for g in games])
  assert len(games) == int(final["eval_games"]) == 2
  assert scores.mean() == pytest.approx(float(final["eval_return"]), abs=1e-12)
  assert scores.std() == pytest.approx(float(final["eval_std"]), abs=1e-12)
  assert sum(g["truncated"] == "True" for g in games) == int(final["eval_truncated"])
  assert list(games[0]) == list(playing.CSV_COLUMNS)
  assert [g["game"] for g in games] == ["1", "2"]
  assert all(int(g["frames"]) == 4 * int(g["agent_steps"]) for g in games)
  assert all(int(g["frames"]) <= 500 and g["condition"] == condition for g in games)
  assert {g["frame_point"] for g in games} == {final["frames"]}
  assert "95% CI" in out and "(the same)" in out, out
  assert "playing 2 games of Pong" in err


@pytest.mark.slow
def test_the_policy_folder_and_a_seed_play_the_same_games_again(runs, tmp_path, capsys):
  run_dir = runs["soft_ql"]
  scores = []
  for i, target in enumerate([run_dir, run_dir / "policy", run_dir]):
    status, _, err = run_play([target, "--seed", 7, "--out", tmp_path / f"{i}.csv"], capsys)
    assert status == 0, err
    scores.append([(g["seed"], g["score"], g["agent_steps"]) for g in _rows(tmp_path / f"{i}.csv")])
  assert scores[0] == scores[1] == scores[2]
  default = _rows(tmp_path / "0.csv")
  assert {g["run_seed"] for g in default} == {"7"}


# --- videos --------------------------------------------------------------------------------------

def _not_blank(frame):
  return frame.min() != frame.max()


@pytest.mark.slow
def test_an_mp4_shows_the_first_game_at_full_resolution(runs, tmp_path, capsys):
  import imageio.v2 as iio
  video = tmp_path / "soft_ql.mp4"
  status, out, err = run_play([runs["soft_ql"], "--video", video, "--out", tmp_path / "g.csv"], capsys)
  assert status == 0, err
  steps = int(_rows(tmp_path / "g.csv")[0]["agent_steps"])
  frames = iio.mimread(video, memtest=False)
  assert len(frames) == steps + 1 + film.HOLD_FRAMES
  assert all(f.shape == (210 + BAND, 160, 3) for f in frames)     # the screen, its caption under it
  assert _not_blank(frames[0]) and _not_blank(frames[-1])
  assert iio.get_reader(video).get_meta_data()["fps"] == 15
  assert f"video: {video}" in out
  assert sorted(p.name for p in tmp_path.iterdir()) == ["g.csv", "soft_ql.mp4"]


@pytest.mark.slow
def test_a_gif_keeps_every_kth_frame_scaled(runs, tmp_path, capsys):
  from PIL import Image
  video = tmp_path / "dqn.gif"
  status, _, err = run_play([runs["dqn"], "--video", video, "--video-game", 2, "--gif-every", 2,
                          "--gif-scale", 0.5, "--out", tmp_path / "g.csv"], capsys)
  assert status == 0, err
  steps = int(_rows(tmp_path / "g.csv")[1]["agent_steps"])
  kept = math.ceil((steps + 1 + film.HOLD_FRAMES) / 2)
  with Image.open(video) as gif:
    assert gif.size == (80, 105 + BAND)
    assert 2 <= gif.n_frames <= kept     # Pillow merges identical consecutive frames
    durations, first = [], None
    for i in range(gif.n_frames):
      gif.seek(i)
      durations.append(gif.info["duration"])
      rgb = np.asarray(gif.convert("RGB"))
      first = rgb if first is None else first
      assert rgb.shape == (105 + BAND, 80, 3)
  assert _not_blank(first)
  assert sum(durations) == pytest.approx(kept * 130, rel=0.1)   # 2 / 15 s, in whole centiseconds


@pytest.mark.slow
def test_side_by_side_tiles_the_policies_on_the_same_game(runs, tmp_path, capsys):
  import imageio.v2 as iio
  video = tmp_path / "both.mp4"
  status, out, err = run_play([runs["soft_ql"], "--side-by-side", runs["dqn"], "--video", video,
                            "--out", tmp_path / "g.csv"], capsys)
  assert status == 0, err
  games = _rows(tmp_path / "g.csv")
  assert [g["condition"] for g in games] == ["soft_ql", "dqn"]        # one game each
  assert games[0]["seed"] == games[1]["seed"]                         # the same game seed
  frames = iio.mimread(video, memtest=False)
  assert frames[0].shape == (210 + BAND, 160 + 160, 3)
  longest = max(int(g["agent_steps"]) for g in games)
  assert len(frames) == longest + 1 + film.HOLD_FRAMES
  assert _not_blank(frames[0][:, :160]) and _not_blank(frames[0][:, 160:])
  assert out.count("mean ") == 2 and ": soft_ql (a2c family)" in out and ": dqn (dqn family)" in out


@pytest.mark.slow
def test_an_interrupted_video_leaves_no_file(tmp_path):
  # a whole Seaquest game (about 2,000 agent steps): its video takes seconds to write
  video, table = tmp_path / "long.mp4", tmp_path / "long.csv"
  proc = subprocess.Popen(
      [sys.executable, "-m", "artifact.watch", str(POLICIES / "Seaquest" / "a2c_proper"),
       "--game", "Seaquest", "--games", "1", "--video", str(video), "--out", str(table)],
      cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
      # a shell's background job starts with SIGINT ignored, and Python keeps it so: default
      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  try:
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
      if any(p.name.startswith(".long.mp4.") for p in tmp_path.iterdir()):
        time.sleep(0.3)                  # into the writing
        break
      time.sleep(0.02)
    assert proc.poll() is None, "the play ended before its video was being written"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode != 0
  assert list(tmp_path.iterdir()) == []


# --- bad arguments: exit status 2, nothing written (no training needed) -----------------------------

BREAKOUT_DQN = POLICIES / "Breakout" / "dqn"


def _bad_cases(tmp_path):
  empty = tmp_path / "inputs" / "empty"
  empty.mkdir(parents=True)
  a_file = tmp_path / "inputs" / "a_file"
  a_file.write_text("")
  out = tmp_path / "outputs"
  csv_out, mp4 = out / "games.csv", out / "game.mp4"
  return [
      ([empty, "--out", csv_out], f"{empty}: not a SavedModel"),
      ([BREAKOUT_DQN, "--game", "Pong", "--out", csv_out], "the policy has 4 actions, Pong has 6"),
      ([BREAKOUT_DQN, "--out", csv_out], "name it with --game"),
      ([BREAKOUT_DQN, "--game", "Pongg", "--out", csv_out], "--game 'Pongg'"),
      ([BREAKOUT_DQN, "--game", "Breakout", "--games", 0, "--out", csv_out], "--games 0: must be at least 1"),
      ([BREAKOUT_DQN, "--game", "Breakout", "--games", -2, "--out", csv_out], "--games -2: must be at least 1"),
      ([BREAKOUT_DQN, "--game", "Breakout", "--max-frames", 0], "--max-frames 0: must be a whole number"),
      ([BREAKOUT_DQN, "--game", "Breakout", "--video", out / "game.avi"], "must end in .mp4 or .gif"),
      ([BREAKOUT_DQN, "--game", "Breakout", "--video", a_file / "game.mp4", "--out", csv_out],
       f"--video {a_file / 'game.mp4'}: {a_file} is not a directory"),
      ([BREAKOUT_DQN, "--game", "Breakout", "--video", mp4, "--out", a_file / "games.csv"],
       f"{a_file} is not a directory"),
      ([BREAKOUT_DQN, "--game", "Breakout", "--video", mp4, "--gif-every", 2], "apply to a GIF video"),
      ([BREAKOUT_DQN, "--game", "Breakout", "--video", mp4, "--video-game", 3, "--games", 2],
       "--video-game 3: must be in [1, 2]"),
      ([CAMPAIGN / "figure2/Breakout/dqn/seed2", "--side-by-side", CAMPAIGN / "figure3/Seaquest/soft_ql/seed3",
        "--video", mp4, "--out", csv_out], "these policies play different games"),
      ([CAMPAIGN / "figure2/Breakout/dqn/seed2", "--game", "Seaquest", "--out", csv_out],
       "--game Seaquest: " + str(CAMPAIGN / "figure2/Breakout/dqn/seed2") + " is a run of Breakout"),
      ([BREAKOUT_DQN, "--game", "Breakout", "--side-by-side", POLICIES / "Seaquest" / "a2c_1step",
        "--video", mp4], "the policy has 18 actions, Breakout has 4"),
      ([BREAKOUT_DQN, "--game", "Breakout", "--side-by-side", BREAKOUT_DQN, BREAKOUT_DQN, BREAKOUT_DQN],
       "--side-by-side takes one or two more policies, got 3"),
      ([REFERENCE / "figure3/Seaquest/soft_ql/seed0", "--out", csv_out],
       "a run directory without policy/ (a run writes it when it finishes) and no published policy "
       "is this run's. Runs with a published policy (in "),
  ]


def test_bad_arguments_exit_2_naming_the_value_and_write_nothing(tmp_path, capsys):
  for argv, message in _bad_cases(tmp_path):
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    status, out, err = run_play(argv, capsys)
    assert status == 2, (argv, out, err)
    assert message in err and err.startswith("pg-softq-play: error: "), (argv, err)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before, argv
    assert not (tmp_path / "outputs").exists(), argv


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_video_directory_is_refused(tmp_path, capsys):
  locked = tmp_path / "locked"
  locked.mkdir()
  locked.chmod(0o500)
  try:
    status, _, err = run_play([BREAKOUT_DQN, "--game", "Breakout", "--video", locked / "v.mp4"], capsys)
  finally:
    locked.chmod(0o700)
  assert status == 2 and f"cannot write in {locked}" in err
  assert list(locked.iterdir()) == []


def test_help_says_the_protocol_and_the_interval(capsys):
  status, out, _ = run_play(["--help"], capsys)
  assert status == 0
  for words in ("POLICY_DIR", "--side-by-side", "stratified bootstrap", "eval_env(N, f)",
                "eval_policy_seed(f)", "--gif-every", "15 frames per second", "--panel",
                "pi = softmax(Q / tau), V = tau logsumexp(Q / tau)"):
    assert words in " ".join(out.split()), words


def test_the_console_script_and_the_module_run():
  script = Path(sys.executable).parent / "pg-softq-play"
  assert script.is_file(), "pip install -e . installs the pg-softq-play script (pyproject.toml)"
  for cmd in ([str(script), "--help"], [sys.executable, "-m", "artifact.watch", "--help"]):
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "usage: pg-softq-play" in done.stdout, done.stderr


# --- published reference runs: their policy lies in reports/reference/policies/ ------------------

PUBLISHED_RUNS = sorted(p.parent for p in POLICIES.glob("*/*/run.json"))


@pytest.mark.parametrize("policy_dir", PUBLISHED_RUNS, ids=lambda p: f"{p.parent.name}-{p.name}")
def test_each_published_policy_names_its_reference_run_and_its_state(policy_dir):
  import hashlib
  import json
  record = json.loads((policy_dir / "run.json").read_text())
  run = REFERENCE / record["run"]
  figure, game, condition, seed = record["run"].split("/")
  assert (game, condition) == (policy_dir.parent.name, policy_dir.name)
  assert record["frames"] == json.loads((run / "done.json").read_text())["frames"]
  assert record["config_sha256"] == hashlib.sha256((run / "config.json").read_bytes()).hexdigest()
  assert not (run / "policy").exists()          # one copy in reports/reference: the published one


def test_a_published_run_directory_plays_with_its_published_policy(tmp_path, capsys):
  run = REFERENCE / "figure3/Seaquest/soft_ql/seed3"
  status, out, err = run_play([run, "--games", 1, "--max-frames", 400, "--out", tmp_path / "g.csv"], capsys)
  assert status == 0, err
  assert f"== {run}: soft_ql (a2c family) on Seaquest" in out
  assert "policy: " in out and str(Path("Seaquest") / "soft_ql") in out and "run.json names this run" in out
  assert "1 game (1 capped), cap 400 frames" in out and "frame point 3,000,000 of run seed 3" in out
  games = _rows(tmp_path / "g.csv")
  assert len(games) == 1 and games[0]["frame_point"] == "3000000" and games[0]["run_seed"] == "3"
  assert games[0]["frames"] == "400" and games[0]["truncated"] == "True"


def _copied_run(tmp_path, edit):
  """A copy of the published soft_ql run (outside reports/) with `edit(config, done)` applied."""
  import json
  import shutil
  run = tmp_path / "runs" / "figure3" / "Seaquest" / "soft_ql" / "seed3"
  shutil.copytree(REFERENCE / "figure3/Seaquest/soft_ql/seed3", run, ignore=shutil.ignore_patterns("tb"))
  before = [json.loads((run / f).read_text()) for f in ("config.json", "done.json")]
  after = json.loads(json.dumps(before))
  edit(*after)
  for name, old, new in zip(("config.json", "done.json"), before, after):
    if new != old:                       # only the edited file's bytes change
      (run / name).write_text(json.dumps(new, indent=2, sort_keys=True))
  return run


def test_a_published_policy_is_not_played_for_another_state_of_its_run(tmp_path, capsys):
  extended = _copied_run(tmp_path / "a", lambda c, d: d.update(frames=5_000_000))
  status, _, err = run_play([extended, "--games", 1, "--max-frames", 40], capsys)
  assert status == 2 and "the published policy of figure3/Seaquest/soft_ql/seed3" in err
  assert "it is at 5,000,000 frames, the published policy at 3,000,000" in err
  other = _copied_run(tmp_path / "b", lambda c, d: c["hparams"].update(lr=1e-3))
  status, _, err = run_play([other, "--games", 1, "--max-frames", 40], capsys)
  assert status == 2 and "its config.json differs from the published run's" in err


def test_a_run_without_a_policy_lists_the_runs_that_have_one(capsys):
  status, _, err = run_play([REFERENCE / "figure1/Qbert/a2c_1step/seed0"], capsys)
  assert status == 2
  listed = err.split("Runs with a published policy (in ")[1]
  import json
  for p in PUBLISHED_RUNS:
    assert json.loads((p / "run.json").read_text())["run"] in listed


def test_a_video_into_a_missing_folder_creates_it_and_says_so(tmp_path, capsys):
  video = tmp_path / "new" / "videos" / "dqn.gif"
  status, out, err = run_play([BREAKOUT_DQN, "--game", "Breakout", "--games", 1, "--max-frames", 80,
                            "--video", video, "--gif-scale", 0.25], capsys)
  assert status == 0, err
  assert video.is_file() and f"created the folder {tmp_path / 'new'}" in out
  assert "1 game (1 capped)" in out


# --- pieces --------------------------------------------------------------------------------------

def test_the_cap_and_the_video_rate_are_the_protocols():
  from envs.atari import MAX_FRAMES_PER_GAME
  from envs.games import FRAMESKIP
  assert cli.MAX_GAME_FRAMES == MAX_FRAMES_PER_GAME
  assert film.VIDEO_FPS * FRAMESKIP == 60 and film.HOLD_FRAMES == film.VIDEO_FPS


def test_the_interval_is_the_reports_own_stratified_bootstrap():
  from artifact.analysis.statistics import interval
  scores = [3.0, 10.0, 4.0, 8.0, 1.0]
  low, high = playing.score_interval(scores)
  assert (low, high) == playing.score_interval(scores)              # seeded
  assert 1.0 <= low < np.mean(scores) < high <= 10.0
  assert (low, high) == interval([np.reshape(scores, (-1, 1))], np.mean)[1:]
  assert playing.score_interval([7.0]) == (7.0, 7.0)
  with pytest.raises(ValueError):
    playing.score_interval([])


def test_the_observer_changes_nothing_the_evaluation_returns():
  from tf_agents.trajectories import policy_step

  from artifact.training.evaluation import evaluate
  from envs.atari import make_atari_env

  class Cycle:                       # a deterministic policy: actions 0, 1, 2, ... per step
    def __init__(self):
      self.t = 0

    def action(self, time_step):
      self.t += 1
      return policy_step.PolicyStep(np.full(len(time_step.step_type), self.t % 6, np.int64), (), ())
  env = make_atari_env("Pong", 2, seed=None, life_loss_terminal=False, max_frames_per_game=400,
                       reuse=False)
  seen = []
  try:
    plain = evaluate(Cycle(), env, 2, 400, seeds=[11, 12])
    watched = evaluate(Cycle(), env, 2, 400, seeds=[11, 12],
                       observer=lambda a, ts, finished: seen.append((a.copy(), finished)))
  finally:
    env.close()
  assert plain == watched
  assert len(seen) == 100 and [g.env_id for _, f in seen for g in f] == [0, 1]
  assert [int(a[0]) for a, _ in seen[:3]] == [1, 2, 3]


@pytest.mark.parametrize("policy, game, family", [("Breakout/dqn", "Breakout", "dqn"),
                                                  ("Seaquest/a2c_1step", "Seaquest", "a2c")])
def test_a_bare_saved_model_plays_as_its_family(policy, game, family, tmp_path, capsys):
  status, out, err = run_play([POLICIES / policy, "--game", game, "--games", 2, "--max-frames", 200,
                            "--out", tmp_path / "g.csv"], capsys)
  assert status == 0, err
  assert f": {policy.split('/')[1]} ({family} family) on {game}" in out
  games = _rows(tmp_path / "g.csv")
  assert len(games) == 2 and {g["frame_point"] for g in games} == {"0"}
  assert all(int(g["frames"]) <= 200 for g in games)


def test_a_video_whose_emulator_diverges_is_refused_and_not_written(tmp_path):
  source = policies.resolve_policy(str(BREAKOUT_DQN), "Breakout")
  played = playing.play(source, policies.Protocol("Breakout", 1, 200, 0, 0), film=0)
  rec = played.recording
  assert len(rec.actions) == rec.agent_steps == 50 and rec.ends[-1] and not any(rec.ends[:-1])
  video = tmp_path / "v.mp4"
  assert film.render_video(video, [played]) == 50 + 1 + film.HOLD_FRAMES
  video.unlink()
  rec.rewards[20] = 5.0                                  # a clipped reward no emulator gives
  with pytest.raises(film.VideoMismatchError, match=r"at agent step 21 the filmed emulator got "
                                                    r"reward 0 \(game end False\), the scored one 5"):
    film.render_video(video, [played])
  assert list(tmp_path.iterdir()) == []
