"""Seeds: one SeedSequence per run seed, no env seed shared between run seeds, and the conditions
of one run seed share its env and weight seeds (common random numbers)."""
import pytest

from artifact.experiment.runspec import make_run_spec
from artifact.experiment.seeding import run_seeds


def test_run_seeds_share_no_env_seed_and_are_stable():
  seen = {}
  for s in range(100):
    seeds = run_seeds(s, 16)
    envs = list(seeds.train_env) + [int(x) for k in range(3) for x in seeds.eval_env(10, k)]
    assert len(set(envs)) == len(envs)                       # within a run
    for e in envs:
      assert seen.setdefault(e, s) == s, f"env seed {e} shared by run seeds {seen[e]} and {s}"
    assert all(0 <= e < 2 ** 31 for e in envs)
  assert run_seeds(1, 16) == run_seeds(1, 16)                # a pure function of the run seed
  assert run_seeds(1, 16).network != run_seeds(2, 16).network
  with pytest.raises(ValueError, match="run seed must be >= 0"):
    run_seeds(-1, 16)


def test_conditions_of_one_seed_share_env_and_weight_seeds():
  # common random numbers across conditions: seeds depend on the run seed only
  a = make_run_spec(1, "Pong", "a2c_1step", 2, "smoke")
  b = make_run_spec(3, "Pong", "soft_ql", 2, "smoke")
  assert run_seeds(a.seed, 16) == run_seeds(b.seed, 16)
