"""The A2C optimizer is TF1's RMSProp (openai/baselines): its mean squares start at 1, the
epsilon sits inside the square root, a reset returns it to that start state, and a restored
checkpoint keeps the saved mean squares."""
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.environments import tf_py_environment
from tf_agents.trajectories import trajectory

from artifact.experiment.hparams import A2CHparams
from artifact.training.a2c import build_a2c_agent
from envs.cartpole import make_cartpole_env

from helpers import run_spec

HP = A2CHparams()


# --- RMSProp starts its mean square at 1 (TF1 / openai/baselines) ---------------------------------
def _cartpole_a2c():
  env = make_cartpole_env(4, seed=0)
  tf_env = tf_py_environment.TFPyEnvironment(env)
  agent = build_a2c_agent(run_spec("a2c_1step", HP), tf_env.time_step_spec(),
                          tf_env.action_spec(), env.observation_spec(), env.num_actions,
                          decay_updates=100, seed=3)
  rng = np.random.default_rng(0)
  B, T = 4, 6
  exp = trajectory.Trajectory(
      step_type=tf.ones([B, T], tf.int32),
      observation=tf.constant(rng.normal(size=(B, T, 4)), tf.float32),
      action=tf.constant(rng.integers(0, 2, (B, T))), policy_info=(),
      next_step_type=tf.ones([B, T], tf.int32),
      reward=tf.constant(rng.normal(size=(B, T)), tf.float32),
      discount=tf.ones([B, T]))
  return agent, exp


def test_first_update_equals_tf1_rmsprop_numpy_reference():
  agent, exp = _cartpole_a2c()
  variables = agent.network.trainable_variables
  before = [v.numpy().astype(np.float64) for v in variables]
  with tf.GradientTape() as tape:
    loss = agent._loss(exp, training=True).loss
  grads, _ = tf.clip_by_global_norm(tape.gradient(loss, variables), HP.max_grad_norm)
  agent.train(exp)
  lr, rho, eps = HP.lr, HP.rmsprop_rho, HP.rmsprop_eps
  for v, b, g in zip(variables, before, grads):
    g = g.numpy().astype(np.float64)
    ms = rho * 1.0 + (1 - rho) * g ** 2              # TF1 RMSPropOptimizer: ms starts at 1
    expected = b - lr * g / np.sqrt(ms + eps)        # epsilon inside the square root
    np.testing.assert_allclose(v.numpy(), expected, rtol=1e-5, atol=1e-9)
  # Keras' RMSprop (ms from 0) would have moved every entry by about lr, far more
  big = max(np.abs(v.numpy() - b).max() for v, b in zip(variables, before))
  assert big < 0.2 * lr


def test_optimizer_reset_returns_to_the_start_state():
  agent, exp = _cartpole_a2c()
  agent.train(exp)
  opt = agent._optimizer
  assert int(opt.iterations.numpy()) == 1 and any((v.numpy() != 1).any() for v in opt._velocities)
  opt.reset()
  assert int(opt.iterations.numpy()) == 0
  assert all((v.numpy() == 1).all() for v in opt._velocities)


@pytest.mark.slow
def test_a_restored_optimizer_keeps_its_checkpointed_mean_squares(tmp_path):
  from tf_agents.utils import common
  agent, exp = _cartpole_a2c()
  for _ in range(3):
    agent.train(exp)
  saved = [v.numpy().copy() for v in agent._optimizer._velocities]
  common.Checkpointer(str(tmp_path), max_to_keep=1,
                      agent=agent).save(global_step=agent.train_step_counter)
  resumed, _ = _cartpole_a2c()                           # a new process's agent: slots not built
  common.Checkpointer(str(tmp_path), max_to_keep=1, agent=resumed).initialize_or_restore()
  resumed._optimizer.build(resumed.network.trainable_variables)
  assert int(resumed._optimizer.iterations.numpy()) == 3
  for v, s in zip(resumed._optimizer._velocities, saved):
    np.testing.assert_array_equal(v.numpy(), s)          # not reset to 1 by the TF1 start value
