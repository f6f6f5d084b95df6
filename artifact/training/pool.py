"""The per-process trainer pool: a trainer is built once and restarted for each next seed of the
same structure (`artifact.training.trainer`), one trainer's environments alive at a time."""
from __future__ import annotations

import json

from artifact.experiment.runspec import RunSpec
from artifact.experiment.seeding import run_seeds
from artifact.training.a2c import A2CTrainer, a2c_env_groups
from artifact.training.dqn import DQNTrainer
from artifact.training.trainer import Trainer

FAMILIES = {"a2c": A2CTrainer, "dqn": DQNTrainer}   # RunSpec.family -> its trainer class
_POOL: dict[str, Trainer] = {}


def _structure_key(spec: RunSpec, env_groups: int | None) -> str:
  d = json.loads(spec.to_json())
  d.pop("seed")
  d["env_groups"] = env_groups             # a pooled trainer keeps its env grouping
  return json.dumps(d, sort_keys=True)


def acquire(spec: RunSpec, env_groups: int | None = None) -> Trainer:
  """A trainer in the start state of `spec`'s run: the pooled one for the same structure,
  restarted, or a new one. Closes any other pooled trainer (one trainer's envs alive at a time).
  `env_groups`: the A2C collection's env groups (--env-groups; None = auto, `a2c_env_groups`).
  Raises ValueError for env_groups outside [1, num_envs]."""
  seeds = run_seeds(spec.seed, spec.hparams.num_envs)
  groups = a2c_env_groups(spec.hparams.num_envs, env_groups) if spec.family == "a2c" else None
  trainer = _POOL.pop(_structure_key(spec, groups), None)
  close_all()
  if trainer is None:
    return FAMILIES[spec.family](spec, seeds, groups)
  trainer.restart(seeds)
  return trainer


def release(spec: RunSpec, trainer: Trainer):
  """Parks `trainer` for the next seed of the same structure."""
  close_all()
  _POOL[_structure_key(spec, trainer.env_groups)] = trainer


def close_all():
  """Closes and forgets every pooled trainer."""
  for t in _POOL.values():
    t.close()
  _POOL.clear()
