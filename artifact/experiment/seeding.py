"""Every random stream of a run, derived from one `numpy.random.SeedSequence` per run seed.

ale-py seeds env i of a vector env with `seed + i`, so passing consecutive run seeds straight
through makes seeds 0, 1, 2 share 14 of their 16 training-env seeds (ALE without sticky actions
is deterministic, so those runs would replay the same games). Instead each stream gets its own
child of `SeedSequence(run_seed)` and every sub-environment its own 31-bit seed drawn from it.

Common random numbers: the streams depend on the run seed only, not on the figure, game or
condition, so the conditions of one seed start from the same weights and the same env seeds
(a paired comparison). Different run seeds share nothing.
"""
from __future__ import annotations

import dataclasses

import numpy as np

# One spawn key per stream: adding a stream never changes the others.
_STREAMS = ("train_env", "eval_env", "network", "policy", "eval_policy", "replay", "tf_global")


def _child(seed: int, stream: str, *extra: int) -> np.random.SeedSequence:
  return np.random.SeedSequence(entropy=int(seed), spawn_key=(_STREAMS.index(stream),) + extra)


def _ints(ss: np.random.SeedSequence, n: int) -> np.ndarray:
  """n non-negative 31-bit ints (ALE and TF take signed 32-bit seeds)."""
  return (ss.generate_state(n, dtype=np.uint32) >> 1).astype(np.int64)


@dataclasses.dataclass(frozen=True)
class RunSeeds:
  """The seeds of one run. Env seeds: int64 [num_envs], one per sub-environment."""
  run_seed: int
  train_env: tuple[int, ...]
  network: int          # Keras initializers (weights)
  policy: int           # action sampling in training (tf.random.Generator)
  eval_policy: int      # action sampling in evaluation games
  replay: int           # replay sampling (DQN)
  tf_global: int        # tf.random.set_seed, for tf-agents ops seeded from the global seed

  def eval_env(self, num_envs: int, evaluation: int) -> np.ndarray:
    """Seeds of the evaluation games of evaluation number `evaluation` (0, 1, ...): int64
    [num_envs].

    Each evaluation plays new games, and a resumed run replays the same ones it would have.
    The runner passes the evaluation's frame point, so an evaluation added at one budget's end
    shifts no other.
    """
    return _ints(_child(self.run_seed, "eval_env", int(evaluation)), num_envs)

  def eval_policy_seed(self, point: int) -> int:
    """Seed of the evaluation policy's action sampling for the evaluation at frame `point`."""
    return int(_ints(_child(self.run_seed, "eval_policy", int(point)), 1)[0])


def run_seeds(seed: int, num_envs: int) -> RunSeeds:
  """Derives a run's seeds from its run seed (>= 0). Raises ValueError for a negative seed."""
  if int(seed) < 0:
    raise ValueError(f"run seed must be >= 0, got {seed}")

  def one(stream):
    return int(_ints(_child(seed, stream), 1)[0])
  return RunSeeds(run_seed=int(seed),
                  train_env=tuple(int(s) for s in _ints(_child(seed, "train_env"), num_envs)),
                  network=one("network") % (2 ** 24),   # Keras initializers add small offsets
                  policy=one("policy"), eval_policy=one("eval_policy"),
                  replay=one("replay"), tf_global=one("tf_global"))
