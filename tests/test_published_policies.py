"""The published policies (reports/reference/policies/, scripts/publish_policies.py) load with
the README's own snippet, and each plays its game: actions from real observations of the game
(envs.atari.make_atari_env, the training preprocessing) are valid actions of its action set, and the
table names every policy directory there."""
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.trajectories import time_step as ts

from envs.atari import make_atari_env

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "reports" / "reference" / "policies"
PUBLISHED = sorted(p.parent for p in POLICIES.glob("*/*/saved_model.pb"))


def test_the_readme_snippet_runs_as_written(monkeypatch):
  readme = (POLICIES / "README.md").read_text()
  code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
  monkeypatch.chdir(ROOT)
  scope = {}
  exec(compile(code, "README.md", "exec"), scope)     # the documented snippet itself
  assert scope["action"].shape == (1,) and scope["action"].dtype == tf.int64
  for p in PUBLISHED:
    assert f"`{p.parent.name}/{p.name}`" in readme, p


@pytest.mark.parametrize("policy_dir", PUBLISHED,
                         ids=[f"{p.parent.name}-{p.name}" for p in PUBLISHED])
def test_a_published_policy_plays_its_game(policy_dir):
  game = policy_dir.parent.name
  policy = tf.saved_model.load(str(policy_dir))
  env = make_atari_env(game, num_envs=2, seed=0)
  step = env.reset()
  actions = []
  for _ in range(20):
    fields = (step.step_type, step.reward, step.discount, step.observation)
    a = policy.action(ts.TimeStep(*(tf.constant(x) for x in fields)), ()).action.numpy()
    assert a.shape == (2,)
    actions.append(a)
    step = env.step(a.astype(np.int32))
  actions = np.concatenate(actions)
  assert ((0 <= actions) & (actions < env.num_actions)).all()
  env.close()
