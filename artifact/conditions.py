"""Builds the tf-agents agent of a condition: one agent class per paper condition (docs/protocol.md section 4)."""
from __future__ import annotations

from typing import Dict

import tensorflow as tf
from tf_agents.utils import common

from agents.a2c import A2CNaiveAgent, A2CProperAgent, PGAgent
from agents.dqn import DQNAgent, DQNNStepAgent, SoftDQNEntAgent, SoftDQNKLAgent
from agents.networks import ActorCriticNetwork, QNetwork
from agents.optimizers import RMSpropTF1
from agents.soft_ql import SoftQLAgent
from artifact.dqn_loop import linear_epsilon

A2C_AGENTS = {"a2c_1step": A2CNaiveAgent, "a2c_proper": A2CProperAgent, "pg": PGAgent,
              "soft_ql": SoftQLAgent}
DQN_AGENTS = {"dqn": DQNAgent, "dqn_nstep": DQNNStepAgent, "soft_dqn_ent": SoftDQNEntAgent,
              "soft_dqn_kl": SoftDQNKLAgent}
AGENTS = {**A2C_AGENTS, **DQN_AGENTS}


def build_network(family: str, observation_spec, num_actions: int, seed: int):
  """The network of a family: `ActorCriticNetwork` ("a2c") or `QNetwork` ("dqn"), variables built."""
  net = (ActorCriticNetwork if family == "a2c" else QNetwork)(observation_spec, num_actions, seed=seed)
  net.create_variables()
  return net


def build_a2c_agent(agent_key: str, time_step_spec, action_spec, observation_spec, num_actions: int,
                    hp: Dict, total_updates: int, seed: int, policy_seed: int = 0):
  """A2C-framework agent with TF1-style RMSProp (mean square starts at 1, baselines), lr linearly
  decayed to 0 over `total_updates` updates. `seed`: weights; `policy_seed`: action sampling."""
  net = ActorCriticNetwork(observation_spec, num_actions, seed=seed)
  lr = tf.keras.optimizers.schedules.PolynomialDecay(hp["lr"], max(1, total_updates), 0.0, power=1.0)
  opt = RMSpropTF1(lr, rho=hp["rmsprop_rho"], epsilon=hp["rmsprop_eps"])
  cls = A2C_AGENTS[agent_key]
  agent = cls(time_step_spec, action_spec, net, opt, gamma=hp["gamma"], tau=hp["tau"],
              value_coef=hp["value_coef"], max_grad_norm=hp["max_grad_norm"],
              regularizer=hp["regularizer"], policy_seed=policy_seed,
              train_step_counter=tf.Variable(0, dtype=tf.int64))
  agent.initialize()
  return agent


def build_dqn_agent(agent_key: str, time_step_spec, action_spec, observation_spec, num_actions: int,
                    hp: Dict, total_agent_steps: int, seed: int, step_var):
  """DQN-family agent; epsilon reads `step_var` (agent steps). Target period in agent steps."""
  net = QNetwork(observation_spec, num_actions, seed=seed)
  eps = linear_epsilon(step_var, hp["epsilon_start"], hp["epsilon_end"],
                       int(hp["epsilon_fraction"] * total_agent_steps))
  kwargs = dict(
      q_network=net, optimizer=tf.keras.optimizers.Adam(hp["lr"], epsilon=hp["adam_eps"]),
      epsilon_greedy=eps, n_step_update=int(hp.get("n_step", 1)),
      target_update_period=max(1, int(hp["target_update_period"]) // int(hp["train_period"])),
      td_errors_loss_fn=common.element_wise_huber_loss, gamma=hp["gamma"],
      gradient_clipping=hp["grad_clip"], train_step_counter=tf.Variable(0, dtype=tf.int64))
  cls = DQN_AGENTS[agent_key]
  if cls in (SoftDQNEntAgent, SoftDQNKLAgent):
    kwargs["tau"] = hp["tau"]
  agent = cls(time_step_spec, action_spec, **kwargs)
  agent.initialize()
  return agent
