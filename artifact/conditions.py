"""Builds the tf-agents agent of a condition from its registry entry (`artifact.specs.Condition`):
the class named there, the family's typed hyperparameters and the condition's agent arguments.
One agent class per paper condition (docs/protocol.md section 4)."""
from __future__ import annotations

import importlib

import tensorflow as tf
from tf_agents.utils import common

from agents.networks import ActorCriticNetwork, QNetwork
from agents.optimizers import RMSpropTF1
from artifact.dqn_loop import linear_epsilon
from artifact.specs import A2CHparams, Condition, DQNHparams


def agent_class(condition: Condition):
  """The agents/ class a condition names ("module.Class" under `agents`)."""
  module, name = condition.agent.rsplit(".", 1)
  return getattr(importlib.import_module(f"agents.{module}"), name)


def make_network(family: str, observation_spec, num_actions: int, seed: int, precision: str = "float32"):
  """The network of a family: `ActorCriticNetwork` ("a2c": Nature-CNN torso, pi and V heads) or
  `QNetwork` ("dqn"), weights drawn from `seed` when its variables are built."""
  return (ActorCriticNetwork if family == "a2c" else QNetwork)(observation_spec, num_actions, seed=seed,
                                                               precision=precision)


def build_network(family: str, observation_spec, num_actions: int, seed: int, precision: str = "float32"):
  """`make_network` with its variables built."""
  net = make_network(family, observation_spec, num_actions, seed, precision)
  net.create_variables()
  return net


def build_a2c_agent(condition: Condition, time_step_spec, action_spec, observation_spec,
                    num_actions: int, hp: A2CHparams, decay_updates: int, seed: int,
                    policy_seed: int = 0):
  """A2C-framework agent with TF1-style RMSProp (mean square starts at 1, baselines), lr linearly
  decayed to 0 over `decay_updates` updates (the horizon, `A2CHparams.horizon_frames`, in
  updates; it stays 0 after). `seed`: weights; `policy_seed`: action sampling."""
  net = make_network("a2c", observation_spec, num_actions, seed, hp.precision)
  lr = tf.keras.optimizers.schedules.PolynomialDecay(hp.lr, max(1, decay_updates), 0.0, power=1.0)
  opt = RMSpropTF1(lr, rho=hp.rmsprop_rho, epsilon=hp.rmsprop_eps)
  agent = agent_class(condition)(
      time_step_spec, action_spec, net, opt, gamma=hp.gamma, tau=hp.tau, value_coef=hp.value_coef,
      max_grad_norm=hp.max_grad_norm, regularizer=hp.regularizer, policy_seed=policy_seed,
      num_envs=hp.num_envs, train_step_counter=tf.Variable(0, dtype=tf.int64), **dict(condition.agent_kwargs))
  agent.initialize()
  return agent


def build_dqn_agent(condition: Condition, time_step_spec, action_spec, observation_spec,
                    num_actions: int, hp: DQNHparams, horizon_agent_steps: int, seed: int, step_var,
                    agent_kwargs=None):
  """DQN-family agent; epsilon (a `LinearEpsilon`, `agent._epsilon_greedy`) reads `step_var`
  (agent steps) and decays over `epsilon_fraction` of `horizon_agent_steps` (the horizon,
  `DQNHparams.horizon_frames`, in agent steps). Target period in agent steps.
  `agent_kwargs` (default: the condition's) are passed to the class, e.g. tau of a soft target."""
  net = make_network("dqn", observation_spec, num_actions, seed, hp.precision)
  eps = linear_epsilon(step_var, hp.epsilon_start, hp.epsilon_end,
                       int(hp.epsilon_fraction * horizon_agent_steps))
  kwargs = dict(condition.agent_kwargs if agent_kwargs is None else agent_kwargs)
  agent = agent_class(condition)(
      time_step_spec, action_spec, q_network=net,
      optimizer=tf.keras.optimizers.Adam(hp.lr, epsilon=hp.adam_eps), epsilon_greedy=eps,
      target_update_period=max(1, hp.target_update_period // hp.train_period),
      td_errors_loss_fn=common.element_wise_huber_loss, gamma=hp.gamma,
      gradient_clipping=hp.grad_clip, train_step_counter=tf.Variable(0, dtype=tf.int64), **kwargs)
  agent.initialize()
  return agent
