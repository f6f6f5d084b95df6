"""stable-baselines3's A2C (the rl-baselines3-zoo Atari settings) or DQN (this project's Figure 2
settings) on today's ale-py: training curves to hold against the zoo's published ones
(reports/published/sb3_zoo_curves.csv) and against our runs on the same emulator.

Run in its own virtualenv (SB3 needs PyTorch, which this project does not depend on);
scripts/sb3_parity.sh makes it from requirements-sb3.txt (.venv-sb3, git-ignored) and runs this:

  scripts/sb3_parity.sh --game Seaquest --seeds 0,1,2 --frames 3000000 --out DIR \
      [--vec-env subproc|dummy] [--device auto|cpu|cuda] [--time-limit-s S] [--monitor-dir MDIR]
  scripts/sb3_parity.sh --algo dqn --game Breakout --seeds 0 --frames 1500000 --replay 10000 \
      --out DIR

DQN (--algo dqn; settings in `dqn_kwargs`, each with its source): SB3's DQN with the settings of
our Figure 2 `dqn` (artifact/experiment/hparams.py DQNHparams), not the zoo's (the zoo's differ
in replay 100k and learning starts 100k: reports/published/README.md): Adam lr 1e-4 (eps 1e-8,
torch's default = ours), learning starts 10,000 agent steps, a gradient step every 4 agent steps
on a batch of 32, target network synced every 1,000 agent steps (tau 1.0), gamma 0.99, Huber
loss (SB3's smooth_l1_loss, delta 1 = ours), gradient norm clipped at 10 (SB3: over all
parameters together; ours: per variable, as baselines), epsilon 1 -> 0.01 linearly over the
first 4M frames of a 40M-frame run (learn(total_timesteps=10M agent steps), exploration_fraction
0.1, stopped by the callback at --frames: the first --frames of that run, as our short runs are
the first frames of the paper's), replay --replay transitions (uniform), one environment,
CnnPolicy (NatureCNN, PyTorch's default initialisation, obs / 255). The same AtariWrapper as for
A2C (EpisodicLife + FIRE on reset, clip_reward). Curve rows every --every frames (default 50,000
for DQN, so both the 100k and 250k grids are covered). After training, a final evaluation as our
runs': 8 whole games (no life-loss terminals, raw scores), epsilon 0.05 (Mnih et al. 2015),
games capped at 27,000 emulator frames (our short scale's cap), seeded from the run seed.

Needs only the standard library besides SB3, gymnasium, ale-py and torch (numpy 1.x or 2.x).

Settings. The zoo's entry (DLR-RM/rl-baselines3-zoo hyperparams/a2c.yml, `atari:`; the same in the
config.yml stored beside the published agents, DLR-RM/rl-trained-agents
a2c/SeaquestNoFrameskip-v4_1/SeaquestNoFrameskip-v4/config.yml) sets only:
  env_wrapper AtariWrapper, frame_stack 4, policy CnnPolicy, n_envs 16, n_timesteps 1e7,
  ent_coef 0.01, vf_coef 0.25,
  policy_kwargs dict(optimizer_class=RMSpropTFLike, optimizer_kwargs=dict(eps=1e-5)).
Everything else is SB3's A2C default (stable_baselines3/a2c/a2c.py, 2.9.2), passed here explicitly:
  learning_rate 7e-4 (a float: constant, no decay), n_steps 5, gamma 0.99, gae_lambda 1.0,
  max_grad_norm 0.5, normalize_advantage False, use_sde False, use_rms_prop True (ignored: the
  optimizer_class above wins; RMSpropTFLike's own defaults give alpha 0.99, momentum 0,
  centered False, weight_decay 0), stats_window_size 100.
CnnPolicy defaults (ActorCriticCnnPolicy): NatureCNN shared by policy and value, ortho_init True,
normalize_images True (obs / 255); A2C wraps the env in VecTransposeImage itself.
AtariWrapper defaults (stable_baselines3/common/atari_wrappers.py): noop_max 30, frame_skip 4 with
max over the last 2 frames, screen_size 84 (grayscale), terminal_on_life_loss True, FIRE on reset,
clip_reward True, action_repeat_probability 0 (no sticky actions). VecFrameStack(n_stack=4).
Env: `<Game>NoFrameskip-v4` from ale-py (gym.register_envs(ale_py)): frameskip 1,
repeat_action_probability 0, minimal action set, max_num_frames_per_episode 108,000, no gymnasium
TimeLimit (the zoo's run, March 2021, used gym + atari-py, whose episode cap may have differed;
immaterial for Seaquest, whose games here last < 10k frames for millions of frames). Seeding as the
zoo: set_random_seed(seed), then make_atari_env(seed=seed) and A2C(seed=seed) (the published run
used seed 2655080623, args.yml beside config.yml). The zoo's evaluation callback is not run here
(separate env, deterministic actions: it should not change training).
`--frames F` trains F / 4 agent steps (SB3's num_timesteps counts agent steps of all envs together);
with the constant learning rate, stopping early gives the same run as the zoo's 40M-frame one cut.

Frames. make_atari_env is make_vec_env(wrapper_class=AtariWrapper), and make_vec_env
(stable_baselines3/common/env_util.py) builds each env as gym.make(id) -> Monitor -> AtariWrapper:
the Monitor sits BELOW the frame-skip wrapper and below EpisodicLifeEnv. So each monitor record is
one whole game (game over, not a life), `r` is the raw unclipped score and `l` counts emulator
frames (every ALE step: the random no-ops, FIRE on reset, the no-op step after a life loss, and 4
per agent step), exactly as in the published monitor files. No factor 4 is applied to `l`.

Outputs, per seed S (one process each, run side by side):
  MDIR/seed{S}/{0..15}.monitor.csv   SB3's Monitor files (MDIR defaults to DIR)
  DIR/sb3_here_{game}_seed{S}.csv    the curve (DQN: sb3_here_dqn_{game}_seed{S}.csv),
                                     rewritten atomically every ~30 s and at the end:
      source,algo,game,frames,train_return_last100,games_so_far,seed,trained_frames
    computed as the anchors were: finished games in the order they finished, cumulative `l`;
    the row for frames = k * 250,000 describes the games up to and including the first one whose
    cumulative frames exceed k * 250,000; train_return_last100 = mean raw score of the last 100
    of them, games_so_far = their number, trained_frames = 4 x SB3 num_timesteps at the agent
    step that game finished. (Sorting the published monitor files by their `t` column -- seconds
    since each monitor started -- with this rule reproduces all 17 Seaquest a2c anchor rows
    exactly. Here the order is the one the games reached the training loop (info['episode'] of
    the same Monitor, the very records of the monitor files), which is the finishing order even
    when SubprocVecEnv's workers, and so their monitors, start seconds apart.)
  DIR/sb3_here_meta_seed{S}.json     versions, device, vec env, wall seconds, frames reached,
                                     command (DQN: also the final evaluation's games: score,
                                     frames, capped)
and DIR/monitors.tgz (all seeds' monitor files), rewritten every ~30 s and at the end.
`--time-limit-s S` stops every seed's training cleanly (callback returns False) S seconds after
the script started, then writes the final files.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import shlex
import sys
import tarfile
import time
import traceback
from pathlib import Path

COLUMNS = ["source", "algo", "game", "frames", "train_return_last100", "games_so_far", "seed",
           "trained_frames"]
SOURCE = "sb3-here"
N_ENVS = 16           # A2C (the zoo's n_envs); DQN runs one environment
N_STACK = 4
FRAME_SKIP = 4  # AtariWrapper's frame_skip: emulator frames per agent step (SB3's num_timesteps)
WRITE_EVERY_S = 30.0
DQN_HORIZON_STEPS = 10_000_000   # agent steps of the 40M-frame run whose first --frames DQN trains
EVAL_GAMES, EVAL_EPSILON, EVAL_CAP_FRAMES = 8, 0.05, 27_000   # our short scale's evaluation


def zoo_a2c_kwargs() -> dict:
  """A2C keyword arguments: the zoo's atari entry plus SB3's defaults, spelled out."""
  from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
  return dict(
      learning_rate=7e-4,  # SB3 default, constant
      n_steps=5,  # SB3 default
      gamma=0.99,  # SB3 default
      gae_lambda=1.0,  # SB3 default
      ent_coef=0.01,  # zoo
      vf_coef=0.25,  # zoo
      max_grad_norm=0.5,  # SB3 default
      rms_prop_eps=1e-5,  # SB3 default (unused: optimizer_class given)
      use_rms_prop=True,  # SB3 default (unused: optimizer_class given)
      normalize_advantage=False,  # SB3 default
      use_sde=False,  # SB3 default
      stats_window_size=100,  # SB3 default
      policy_kwargs=dict(optimizer_class=RMSpropTFLike, optimizer_kwargs=dict(eps=1e-5)),  # zoo
  )


def dqn_kwargs(replay: int) -> dict:
  """DQN keyword arguments: our Figure 2 `dqn` settings (artifact/experiment/hparams.py
  DQNHparams), spelled out; `replay`: the replay capacity in transitions."""
  return dict(
      learning_rate=1e-4,  # ours (baselines deepq run_atari.py lr)
      buffer_size=replay,  # --replay
      learning_starts=10_000,  # ours (baselines deepq learning_starts)
      batch_size=32,  # ours
      tau=1.0,  # hard target sync
      gamma=0.99,  # ours
      train_freq=4,  # ours: a gradient step every 4 agent steps
      gradient_steps=1,
      target_update_interval=1_000,  # ours: agent steps between target syncs
      exploration_fraction=0.1,  # of DQN_HORIZON_STEPS: 1 -> 0.01 over the first 4M frames
      exploration_initial_eps=1.0,
      exploration_final_eps=0.01,
      max_grad_norm=10.0,  # ours: 10 (SB3 clips the global norm, ours each variable)
      optimize_memory_usage=False,
      stats_window_size=100,
  )


def curve_rows(records: list, game: str, seed: int, every: int, algo: str = "a2c") -> list:
  """records: (t, arrival, r, l, num_timesteps) per finished game -> curve rows (see docstring)."""
  recs = sorted(records, key=lambda x: x[1])  # the order the games finished in training
  rows, cum, target = [], 0, every
  for i, (_, _, _, length, n) in enumerate(recs):
    cum += length
    while cum > target:
      last = [x[2] for x in recs[max(0, i - 99):i + 1]]
      rows.append([SOURCE, algo, game, target, round(sum(last) / len(last), 2), i + 1, seed,
                   FRAME_SKIP * n])
      target += every
  return rows


def write_atomic(path: Path, text: str) -> None:
  tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
  with open(tmp, "w", newline="") as f:
    f.write(text)
  os.replace(tmp, path)


def write_curve(path: Path, rows: list) -> None:
  buf = io.StringIO()
  w = csv.writer(buf, lineterminator="\n")
  w.writerow(COLUMNS)
  w.writerows(rows)
  write_atomic(path, buf.getvalue())


def tar_monitors(mon_root: Path, seeds: list, dest: Path) -> None:
  tmp = dest.with_name(f".{dest.name}.tmp")
  with tarfile.open(tmp, "w:gz") as tar:
    for s in seeds:
      d = mon_root / f"seed{s}"
      for f in sorted(d.glob("*.monitor.csv")) if d.is_dir() else []:
        tar.add(f, arcname=f"seed{s}/{f.name}")
  os.replace(tmp, dest)


def run_seed(a: argparse.Namespace, seed: int, deadline: float | None, t_script: float) -> None:
  """One seed's training, in its own process (spawned by `main`): A2C with the zoo's settings
  for --frames emulator frames or until `deadline` (time.time() seconds; None: no limit), then
  the curve and the meta file (module docstring, "Outputs"). `t_script`: when the script started
  (time.time() seconds). Exits with status 1 if training raised (after writing what it has)."""
  import ale_py
  import gymnasium as gym
  import torch

  torch.set_num_threads(a.torch_threads)
  gym.register_envs(ale_py)
  out, mon = Path(a.out), Path(a.monitor_dir or a.out) / f"seed{seed}"
  curve_path = out / curve_name(a, seed)
  rec = make_recorder(a, seed, curve_path, deadline)
  mon.mkdir(parents=True, exist_ok=True)
  model, env, error = train_seed(a, seed, mon, rec)
  wall = time.time() - rec.t0
  rows = final_curve_rows(rec.records, a.game, seed, a.every, model, a.algo)
  write_curve(curve_path, rows)
  evaluation = None
  if a.algo == "dqn" and model is not None and not error:
    evaluation = evaluate_dqn(a, seed, model)
  meta = seed_meta(a, seed, mon, rec, model, error, wall, len(rows), t_script, evaluation)
  write_atomic(out / f"sb3_here_meta_seed{seed}.json", json.dumps(meta, indent=1) + "\n")
  if env is not None:
    try:
      env.close()
    except Exception:
      pass
  print(f"[seed {seed}] done: {meta['stopped_by']}, {wall:.0f} s, trained_frames "
        f"{meta['trained_frames']:,}, {meta['frames_per_s']} frames/s, games {len(rec.records)}, "
        f"curve rows {len(rows)}",
        flush=True)
  if error:
    sys.exit(1)


def curve_name(a: argparse.Namespace, seed: int) -> str:
  """The curve file's name: sb3_here_{game}_seed{S}.csv (A2C), sb3_here_dqn_{game}_seed{S}.csv."""
  if a.algo == "a2c":
    return f"sb3_here_{a.game}_seed{seed}.csv"
  return f"sb3_here_dqn_{a.game}_seed{seed}.csv"


def make_recorder(a: argparse.Namespace, seed: int, curve_path: Path, deadline: float | None):
  """The training callback (its class built here: SB3 is imported in the seed processes only).
  It collects every finished game (the Monitor's info['episode']) as (t, arrival, r, l,
  num_timesteps) in `records`, rewrites the curve at `curve_path` and prints a line every
  WRITE_EVERY_S seconds, and stops training at `deadline` (time.time() seconds; `stopped_by`
  then reads "time_limit"). `t0`: when training started (time.time() seconds; `train_seed` sets
  it)."""
  from stable_baselines3.common.callbacks import BaseCallback

  class Recorder(BaseCallback):
    """See `make_recorder`."""

    def __init__(self):
      super().__init__()
      self.records, self.stopped_by, self.last_write = [], "frames", time.time()
      self.t0 = time.time()

    def _on_training_start(self) -> None:
      self.last_write = time.time()

    def _on_step(self) -> bool:
      for info in self.locals["infos"]:
        ep = info.get("episode")
        if ep is not None:
          self.records.append((float(ep["t"]), len(self.records), float(ep["r"]), int(ep["l"]),
                               int(self.num_timesteps)))
      now = time.time()
      if now - self.last_write >= WRITE_EVERY_S:
        self.last_write = now
        self._report(now)
      if deadline is not None and now >= deadline:
        self.stopped_by = "time_limit"
        return False
      if a.algo == "dqn" and FRAME_SKIP * self.num_timesteps >= a.frames:
        return False  # the first --frames of the 40M-frame run (learn's total is the horizon)
      return True

    def _report(self, now: float):
      write_curve(curve_path, curve_rows(self.records, a.game, seed, a.every, a.algo))
      last = [x[2] for x in self.records[-100:]]
      frames = FRAME_SKIP * self.num_timesteps
      print(f"[seed {seed}] {now - self.t0:6.0f} s  trained_frames {frames:>10,}  "
            f"{frames / (now - self.t0):7.0f} frames/s  games {len(self.records):>5}  "
            f"last100 {sum(last) / max(1, len(last)):7.1f}", flush=True)
  return Recorder()


def game_maker(env_id: str):
  """The env factory each of make_atari_env's env processes calls: what make_vec_env does for a
  string id, plus the ale-py registration, which SubprocVecEnv's workers (forkserver/spawn)
  would otherwise lack. A closure: cloudpickle sends it by value."""
  def make_game(**kwargs):
    import ale_py
    import cv2
    import gymnasium
    cv2.setNumThreads(1)
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # no banner from each of 16 x seeds
    gymnasium.register_envs(ale_py)
    return gymnasium.make(env_id, render_mode="rgb_array", **kwargs)
  return make_game


def train_seed(a: argparse.Namespace, seed: int, mon: Path, rec):
  """(model, env, error): A2C (or DQN) trained for ceil(--frames / FRAME_SKIP) agent steps with
  `rec` as its callback (`rec.t0` set when training starts), its Monitor files under `mon`. Never
  raises: `error` is the traceback text (printed to stderr) if anything did, None otherwise;
  `model` and `env` are None where they were not built."""
  from stable_baselines3 import A2C, DQN
  from stable_baselines3.common.env_util import make_atari_env
  from stable_baselines3.common.utils import set_random_seed
  from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecFrameStack

  model, env, error = None, None, None
  try:
    set_random_seed(seed)
    dqn = a.algo == "dqn"
    vec_cls = SubprocVecEnv if a.vec_env == "subproc" and not dqn else DummyVecEnv
    env = VecFrameStack(make_atari_env(game_maker(f"{a.game}NoFrameskip-v4"),
                                       n_envs=1 if dqn else N_ENVS,
                                       seed=seed, monitor_dir=str(mon), vec_env_cls=vec_cls),
                        n_stack=N_STACK)
    if dqn:
      model = DQN("CnnPolicy", env, seed=seed, device=a.device, verbose=0, **dqn_kwargs(a.replay))
      total = DQN_HORIZON_STEPS  # the callback stops at --frames
    else:
      model = A2C("CnnPolicy", env, seed=seed, device=a.device, verbose=0, **zoo_a2c_kwargs())
      total = -(-a.frames // FRAME_SKIP)
    rec.t0 = time.time()
    model.learn(total_timesteps=total, callback=rec)
  except BaseException as e:  # still write what was collected
    error = "".join(traceback.format_exception(e))
    print(f"[seed {seed}] FAILED\n{error}", file=sys.stderr, flush=True)
  return model, env, error


def evaluate_dqn(a: argparse.Namespace, seed: int, model) -> dict:
  """The final evaluation of a DQN model, as our runs' evaluations: EVAL_GAMES whole games (no
  life-loss terminals, unclipped rewards, FIRE on reset), epsilon EVAL_EPSILON greedy on
  model.predict(deterministic=True), each game capped at EVAL_CAP_FRAMES emulator frames; the
  environment seeded with 10,000 + seed (never a training seed), the epsilon draws from
  numpy's default_rng(seed). Returns {"scores", "frames", "capped", "mean", "epsilon",
  "cap_frames"}: raw game scores, emulator frames per game (the Monitor's `l`), whether the cap
  ended the game."""
  import numpy as np
  from stable_baselines3.common.env_util import make_atari_env
  from stable_baselines3.common.vec_env import VecFrameStack

  env = VecFrameStack(make_atari_env(
      game_maker(f"{a.game}NoFrameskip-v4"), n_envs=1, seed=10_000 + seed,
      env_kwargs=dict(max_num_frames_per_episode=EVAL_CAP_FRAMES),
      wrapper_kwargs=dict(terminal_on_life_loss=False, clip_reward=False)), n_stack=N_STACK)
  rng = np.random.default_rng(seed)
  n_actions = env.action_space.n
  scores, frames, capped = [], [], []
  obs = env.reset()
  while len(scores) < EVAL_GAMES:
    if rng.random() < EVAL_EPSILON:
      action = np.array([rng.integers(n_actions)])
    else:
      action, _ = model.predict(obs, deterministic=True)
    obs, _, dones, infos = env.step(action)
    ep = infos[0].get("episode")
    if dones[0] and ep is not None:
      scores.append(float(ep["r"]))
      frames.append(int(ep["l"]))
      capped.append(bool(infos[0].get("TimeLimit.truncated", False))
                    or int(ep["l"]) >= EVAL_CAP_FRAMES)
  env.close()
  print(f"[seed {seed}] evaluation: {EVAL_GAMES} games, mean {sum(scores) / len(scores):.2f} "
        f"({sum(capped)} capped)", flush=True)
  return {"scores": scores, "frames": frames, "capped": capped,
          "mean": round(sum(scores) / len(scores), 4), "epsilon": EVAL_EPSILON,
          "cap_frames": EVAL_CAP_FRAMES, "env_seed": 10_000 + seed}


def final_curve_rows(records: list, game: str, seed: int, every: int, model,
                     algo: str = "a2c") -> list:
  """`curve_rows`, plus the end of training where a model trained: a row at the frames of every
  finished game, with the trained frames."""
  rows = curve_rows(records, game, seed, every, algo)
  if records and model is not None:
    last = [x[2] for x in records[-100:]]
    rows.append([SOURCE, algo, game, sum(x[3] for x in records), round(sum(last) / len(last), 2),
                 len(records), seed, FRAME_SKIP * int(model.num_timesteps)])
  return rows


def seed_meta(a: argparse.Namespace, seed: int, mon: Path, rec, model, error: str | None,
              wall: float, curve_rows_n: int, t_script: float,
              evaluation: dict | None = None) -> dict:
  """The meta file's contents (sb3_here_meta_seed{S}.json): settings, library versions, device,
  wall seconds (`wall`), frames reached, how training stopped, the command."""
  import ale_py
  import gymnasium as gym
  import stable_baselines3 as sb3
  import torch

  monitor_rows = sum(max(0, len(f.read_text().splitlines()) - 2) for f in mon.glob("*.monitor.csv"))
  num_timesteps = int(model.num_timesteps) if model is not None else 0
  dev = str(model.device) if model is not None else a.device
  last = [x[2] for x in rec.records[-100:]]
  if a.algo == "dqn":
    settings = dqn_kwargs(a.replay) | {"n_envs": 1, "learn_total_timesteps": DQN_HORIZON_STEPS}
  else:
    settings = {k: (repr(v) if k == "policy_kwargs" else v) for k, v in zoo_a2c_kwargs().items()}
    settings |= {"n_envs": N_ENVS}
  settings |= {"frame_stack": N_STACK, "policy": "CnnPolicy", "env_wrapper": "AtariWrapper()"}
  return {
      "game": a.game, "env_id": f"{a.game}NoFrameskip-v4", "seed": seed, "algo": a.algo,
      "settings": settings, "evaluation": evaluation,
      "cpu": _cpu_kind(),
      "versions": {"stable_baselines3": sb3.__version__, "torch": torch.__version__,
                   "ale_py": ale_py.__version__, "gymnasium": gym.__version__,
                   "numpy": __import__("numpy").__version__, "python": platform.python_version()},
      "device": dev + (f" ({torch.cuda.get_device_name()})" if dev.startswith("cuda") else ""),
      "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "vec_env": a.vec_env,
      "wall_s": round(wall, 1), "since_script_start_s": round(time.time() - t_script, 1),
      "frames_target": a.frames, "trained_frames": FRAME_SKIP * num_timesteps,
      "finished_game_frames": sum(x[3] for x in rec.records), "games": len(rec.records),
      "monitor_rows": monitor_rows, "train_return_last100": round(sum(last) / len(last), 2) if last
      else None,
      "frames_per_s": round(FRAME_SKIP * num_timesteps / wall, 1) if wall > 0 else None,
      "stopped_by": "error" if error else rec.stopped_by, "error": error,
      "curve_rows": curve_rows_n,
      "command": "python3 " + shlex.join(sys.argv), "monitor_dir": str(mon),
      "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
  }


def _cpu_kind() -> str:
  """The CPU's model name and its vector extensions (AVX-512 / AVX512_BF16 / AMX / AVX2), from
  /proc/cpuinfo (Linux; "unknown" elsewhere)."""
  try:
    text = Path("/proc/cpuinfo").read_text()
  except OSError:
    return "unknown"
  name = next((ln.split(":", 1)[1].strip() for ln in text.splitlines()
               if ln.startswith("model name")), "?")
  flags = set(next((ln.split(":", 1)[1].split() for ln in text.splitlines()
                    if ln.startswith("flags")), []))
  kinds = [k for k, f in (("AVX-512", "avx512f"), ("AVX512_BF16", "avx512_bf16"),
                          ("AMX", "amx_tile"),
                          ("AVX2", "avx2")) if f in flags]
  return f"{name} ({', '.join(kinds) or 'no AVX2'})"


def main(argv=None):
  t_script = time.time()
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--algo", choices=["a2c", "dqn"], default="a2c",
                 help="a2c: the zoo's A2C settings (default); dqn: our Figure 2 dqn's settings")
  p.add_argument("--game", default="Seaquest")
  p.add_argument("--seeds", default="0,1,2", help="comma-separated; one process per seed")
  p.add_argument("--frames", type=int, default=3_000_000, help="emulator frames (4 x agent steps)")
  p.add_argument("--out", required=True)
  p.add_argument("--monitor-dir", default=None,
                 help="where seed{S}/ monitor files go (default: --out)")
  p.add_argument("--vec-env", choices=["subproc", "dummy"], default="subproc")
  p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
  p.add_argument("--time-limit-s", type=float, default=None,
                 help="stop training this many seconds after the script started, then write "
                      "outputs")
  p.add_argument("--grace-s", type=float, default=45.0,
                 help="terminate a seed process this long after the time limit (default 45)")
  p.add_argument("--torch-threads", type=int, default=None,
                 help="torch.set_num_threads per seed (default: cores / (2 x seeds), 1 to 4)")
  p.add_argument("--every", type=int, default=None,
                 help="curve grid in frames (default 250,000 for A2C, 50,000 for DQN)")
  p.add_argument("--replay", type=int, default=10_000,
                 help="DQN replay capacity in transitions (default 10,000)")
  a = p.parse_args(argv)
  if a.every is None:
    a.every = 250_000 if a.algo == "a2c" else 50_000
  if a.every <= 0 or a.frames <= 0 or a.replay <= 0:
    p.error(f"--every {a.every}, --frames {a.frames}, --replay {a.replay}: each must be a positive "
            "integer")
  seeds = [int(s) for s in a.seeds.split(",") if s.strip()]
  if a.torch_threads is None:
    a.torch_threads = max(1, min(4, (os.cpu_count() or 1) // (2 * len(seeds))))
  for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, str(a.torch_threads))  # inherited by the seed and env processes
  out = Path(a.out)
  out.mkdir(parents=True, exist_ok=True)
  mon_root = Path(a.monitor_dir or a.out)
  deadline = t_script + a.time_limit_s if a.time_limit_s else None
  print(f"sb3_parity: {a.algo} {a.game} seeds {seeds}, {a.frames:,} frames, vec env {a.vec_env}, "
        f"device {a.device}, "
        f"torch threads {a.torch_threads}, time limit {a.time_limit_s} s", flush=True)

  import multiprocessing as mp
  ctx = mp.get_context("spawn")  # not a Pool: the seed processes start their own env processes
  procs = {s: ctx.Process(target=run_seed, args=(a, s, deadline, t_script), name=f"seed{s}")
           for s in seeds}
  for pr in procs.values():
    pr.start()
  tgz = out / "monitors.tgz"
  while any(pr.is_alive() for pr in procs.values()):
    for pr in procs.values():
      pr.join(timeout=WRITE_EVERY_S / len(procs))
    if deadline is not None and time.time() > deadline + a.grace_s:
      for s, pr in procs.items():
        if pr.is_alive():
          print(f"seed {s} still running {a.grace_s:.0f} s after the time limit: terminating it",
                flush=True)
          pr.terminate()
    tar_monitors(mon_root, seeds, tgz)
  tar_monitors(mon_root, seeds, tgz)
  codes = {s: pr.exitcode for s, pr in procs.items()}
  print(f"sb3_parity: exit codes {codes}, {time.time() - t_script:.0f} s; wrote {out}", flush=True)
  sys.exit(0 if all(c == 0 for c in codes.values()) else 1)


if __name__ == "__main__":
  main()
