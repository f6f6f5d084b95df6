"""stable-baselines3's A2C and DQN on Pong, for the speed ratios in docs/performance.md
("Measured").

Run in its own virtualenv (SB3 needs PyTorch, which this project does not depend on), in the
same sitting as `python -m artifact.grid.bench`:

  python3.11 -m venv /tmp/sb3 && /tmp/sb3/bin/pip install stable-baselines3==2.9.2 ale-py==0.12.1 \
      opencv-python-headless gymnasium==1.3.0 "numpy<2"
  /tmp/sb3/bin/python scripts/bench_sb3.py [--seconds 15] [--out reports]

Measures steady-state training frames/s (emulator frames = 4 x agent steps) after a warm-up:
  sb3_a2c_train   A2C, 16 envs (DummyVecEnv, AtariWrapper, 4-frame stack), n_steps 5: the same
                  rollout/update shape as `a2c_train` in artifact.grid.bench
  sb3_dqn_train   DQN, 1 env, batch 32, one gradient step every 4 agent steps, replay 50,000,
                  exploration already at its final 0.01 (as `dqn_train`)
Writes reports/bench_sb3.csv.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import time
from pathlib import Path

import ale_py
import gymnasium as gym
import stable_baselines3 as sb3
import torch
from stable_baselines3 import A2C, DQN
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.vec_env import VecFrameStack

FRAME_SKIP = 4        # AtariWrapper's frame_skip: emulator frames per agent step (SB3's timesteps)


class _Timer(BaseCallback):
  """Records (wall time, timesteps) after a warm-up of `warm` timesteps."""

  def __init__(self, warm: int, seconds: float):
    super().__init__()
    self.warm, self.seconds, self.start = warm, seconds, None

  def _on_step(self) -> bool:
    if self.start is None and self.num_timesteps >= self.warm:
      self.start = (time.time(), self.num_timesteps)
    if self.start is not None and time.time() - self.start[0] >= self.seconds:
      self.end = (time.time(), self.num_timesteps)
      return False
    return True

  def fps(self) -> float:
    """Emulator frames/s between the end of the warm-up and the end of the measurement."""
    (t0, n0), (t1, n1) = self.start, self.end
    return FRAME_SKIP * (n1 - n0) / (t1 - t0)


def bench_a2c(seconds: float) -> float:
  """Frames/s of SB3's A2C on Pong (16 envs, n_steps 5, CPU) over `seconds` after the warm-up."""
  env = VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=16, seed=0), n_stack=4)
  model = A2C("CnnPolicy", env, n_steps=5, device="cpu", seed=0)
  timer = _Timer(warm=16 * 5 * 20, seconds=seconds)
  model.learn(total_timesteps=10 ** 9, callback=timer)
  env.close()
  return timer.fps()


def bench_dqn(seconds: float) -> float:
  """Frames/s of SB3's DQN on Pong (1 env, batch 32 every 4 agent steps, epsilon 0.01, CPU) over
  `seconds` after the warm-up."""
  env = VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=1, seed=0), n_stack=4)
  model = DQN("CnnPolicy", env, buffer_size=50_000, learning_starts=200, batch_size=32,
              train_freq=4,
              exploration_fraction=1e-6, exploration_final_eps=0.01, device="cpu", seed=0,
              optimize_memory_usage=False)
  timer = _Timer(warm=400, seconds=seconds)
  model.learn(total_timesteps=10 ** 9, callback=timer)
  env.close()
  return timer.fps()


def main():
  """Measures both and writes --out/bench_sb3.csv (atomically: a temporary file renamed)."""
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--seconds", type=float, default=15.0,
                 help="measurement per algorithm (default 15)")
  p.add_argument("--out", default="reports", help="directory for bench_sb3.csv")
  args = p.parse_args()
  gym.register_envs(ale_py)
  torch.set_num_threads(os.cpu_count() or 1)
  rows = [("sb3_a2c_train", bench_a2c(args.seconds)), ("sb3_dqn_train", bench_dqn(args.seconds))]
  out = Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  tmp = out / ".bench_sb3.csv.tmp"
  with open(tmp, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["metric", "value", "unit", "cores", "stable_baselines3", "torch", "python", "when"])
    for name, value in rows:
      print(f"  {name:<16} {value:>10,.1f} frames/s", flush=True)
      w.writerow([name, round(value, 2), "frames/s", os.cpu_count(), sb3.__version__,
                  torch.__version__,
                  platform.python_version(), time.strftime("%Y-%m-%d %H:%M:%S")])
  os.replace(tmp, out / "bench_sb3.csv")
  print(f"wrote {out / 'bench_sb3.csv'}")


if __name__ == "__main__":
  main()
