"""scripts/measure_fire_share.py: its count of FIRE-substituted transitions is the env's own (the
pending flags envs/batched_env.py substitutes from), Pong has none, bad arguments exit 2."""
import importlib.util
from pathlib import Path

import numpy as np

from envs.atari import make_atari_env

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("measure_fire_share",
                                              ROOT / "scripts" / "measure_fire_share.py")
fire_mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fire_mod)


def test_the_count_is_the_envs_own_substitutions():
  row = fire_mod.measure("Breakout", 2, 600, seed=0)
  env = make_atari_env("Breakout", 2, 0, num_threads=1, reuse=False)
  rng = np.random.default_rng(0)
  env.reset()
  pending = 0
  for _ in range(300):
    pending += int(env._fire_pending.sum())       # what send() replaces by FIRE on this step
    env.step(rng.integers(0, env.num_actions, 2))
  env.close()
  assert row["transitions"] == 600 and row["fire_reset"] and row["life_losses"] > 0
  assert row["substituted"] == pending > 0
  assert row["differing"] <= row["substituted"]


def test_pong_has_no_substitution():
  row = fire_mod.measure("Pong", 1, 300)
  assert row["life_losses"] == 0 and row["substituted"] == 0 and row["per_1000"] == 0


def test_bad_arguments_exit_2(capsys):
  assert fire_mod.main(["--games", "NoSuchGame", "--csv", ""]) == 2
  assert "NoSuchGame" in capsys.readouterr().err
  assert fire_mod.main(["--layouts", "a2c_8_envs", "--csv", ""]) == 2
  assert "allowed: a2c_16_envs, dqn_1_env" in capsys.readouterr().err
  assert fire_mod.main(["--steps", "0", "--csv", ""]) == 2
