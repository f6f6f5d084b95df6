"""Every condition actually learns: CartPole-v1 (random policy: about 22 steps per game) through
the same agent builders and collect/train loops that the Atari runs use. The conditions come from
the registry (`artifact.experiment.registry.FIGURES`): every agent class of each family, through the
first condition registered with it."""
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.environments import tf_py_environment

from artifact.experiment.hparams import A2CHparams, DQNHparams
from artifact.experiment.registry import FIGURES, find_condition
from artifact.training.a2c import A2CLoop, build_a2c_agent
from artifact.training.dqn import DQNLoop, build_dqn_agent
from envs.cartpole import make_cartpole_env

from helpers import run_spec

pytestmark = pytest.mark.slow   # processes, kills, Ray clusters or training

RANDOM_POLICY_SCORE = 22.0


def one_condition_per_agent(family):
  """The first registered condition of each agent class of `family`, in registry order: every
  agent class once (the soft DQN conditions at tau = 0.01 are the tau = 0.1 classes again)."""
  first = {}
  for fig in FIGURES.values():
    for c in fig.conditions:
      if c.family == family:
        first.setdefault(c.agent, c.name)
  return list(first.values())


BFLOAT16_CONDITIONS = ("soft_ql", "soft_dqn_kl_0.1")   # one per family


def _learn_a2c(agent_key, max_updates=3000, threshold=150.0, window=20, precision="float32"):
  tf.random.set_seed(0)
  env = make_cartpole_env(8, seed=0)
  tf_env = tf_py_environment.TFPyEnvironment(env)
  hp = A2CHparams(lr=2e-3, precision=precision)
  agent = build_a2c_agent(run_spec(agent_key, hp), tf_env.time_step_spec(), tf_env.action_spec(),
                          env.observation_spec(), env.num_actions,
                          decay_updates=10 * max_updates, seed=0)  # lr decays 10% here
  loop = A2CLoop(agent, env, hp.n_steps)
  scores = []
  for update in range(1, max_updates + 1):
    loop.update()
    scores += [g.score for g in env.pop_finished_games()]
    if update % 50 == 0 and len(scores) >= window and np.mean(scores[-window:]) >= threshold:
      return update * hp.n_steps * 8, float(np.mean(scores[-window:]))
  return None, float(np.mean(scores[-window:]))


@pytest.mark.parametrize("agent_key", one_condition_per_agent("a2c"))
def test_a2c_framework_condition_learns_cartpole(agent_key):
  steps, score = _learn_a2c(agent_key)
  assert steps is not None, \
      f"{agent_key}: mean of last 20 games only {score:.1f} after 120k agent steps"
  assert score >= 150.0 > 5 * RANDOM_POLICY_SCORE


def _learn_dqn(condition, total=16_000, threshold=100.0, window=10, precision="float32"):
  tf.random.set_seed(0)
  np.random.seed(0)
  env = make_cartpole_env(1, seed=0)
  tf_env = tf_py_environment.TFPyEnvironment(env)
  hp = DQNHparams(lr=1e-3, target_update_period=100, train_period=1, epsilon_end=0.02,
                  precision=precision)
  step = tf.Variable(0, dtype=tf.int64)
  agent = build_dqn_agent(run_spec(condition, hp), tf_env.time_step_spec(), tf_env.action_spec(),
                          env.observation_spec(), env.num_actions, total, 0, step)
  loop = DQNLoop(agent, env, step, replay_capacity=50_000, batch_size=32, train_period=1,
                 learning_starts=1_000, seed=0)
  scores = []
  while loop.agent_steps < total:
    loop.update()
    scores += [g.score for g in env.pop_finished_games()]
    if (loop.agent_steps % 500 == 0 and len(scores) >= window
        and np.mean(scores[-window:]) >= threshold):
      return loop.agent_steps, float(np.mean(scores[-window:]))
  return None, float(np.mean(scores[-window:]))


@pytest.mark.parametrize("condition", one_condition_per_agent("dqn"))
def test_dqn_condition_learns_cartpole(condition):
  steps, score = _learn_dqn(condition)
  assert steps is not None, \
      f"{condition}: mean of last 10 games only {score:.1f} after 16k agent steps"
  assert score >= 100.0 > 4 * RANDOM_POLICY_SCORE


# --- mixed precision (--set precision=bfloat16): the torso in bfloat16 still learns -----------
@pytest.mark.parametrize("family,condition", [(find_condition(c).family, c)
                                              for c in BFLOAT16_CONDITIONS])
def test_bfloat16_torso_learns_cartpole_like_float32(family, condition):
  learn = _learn_a2c if family == "a2c" else _learn_dqn
  steps32, score32 = learn(condition)
  steps16, score16 = learn(condition, precision="bfloat16")
  assert steps16 is not None, f"{condition} bfloat16: mean of the last games only {score16:.1f}"
  # parity: reaches the same threshold within 2x the float32 agent steps
  assert steps16 <= 2 * steps32, (steps16, steps32)
  print(f"\n{condition}: float32 solved at {steps32} agent steps ({score32:.0f}), "
        f"bfloat16 at {steps16} ({score16:.0f})")
