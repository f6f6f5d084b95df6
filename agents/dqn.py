"""Figure 2 (Sec. 6.2): DQN and soft Q-learning, as tf-agents `DqnAgent`s that differ in one hook.

Everything but the backup target is tf-agents' `DqnAgent`: epsilon-greedy collection, target
network Qbar, Huber TD loss, optimizer, n-step returns (`n_step_update`). Like tf-agents'
`DdqnAgent`, each condition overrides only `_compute_next_q_values`, i.e. the value of the next
state that the target bootstraps from (docs/protocol.md section 4):

    dqn          (eq. 81)  y = r + gamma * max_a' Qbar(s', a')
    soft_dqn_kl  (eq. 82)  y = r + gamma * tau * (logsumexp_a' Qbar(s', a') / tau - log|A|)
    soft_dqn_ent (eq. 83)  y = r + gamma * tau * logsumexp_a' Qbar(s', a') / tau
    dqn_nstep              y = sum_{d<5} gamma^d r_{t+d} + gamma^5 max_a' Qbar(s_{t+5}, a')

The KL form is the soft value V = tau * log sum_a pibar(a) exp(Q/tau) against the uniform
reference policy pibar; the entropy form drops the -tau*log|A| constant (which rewards long
episodes). `tf.reduce_logsumexp` is the numerically stable logsumexp (max-shifted).
"""
from __future__ import annotations

from tf_agents.agents.dqn import dqn_agent

from agents.losses import hard_value, soft_value_ent, soft_value_kl


class StandardDQNAgent(dqn_agent.DqnAgent):
  """`dqn` (eq. 81), the paper's "standard DQN" target. Same constructor as tf-agents' `DqnAgent`.

  The properties below give the trainer what it passed to `DqnAgent.__init__` and tf-agents keeps
  only in private members (it has no public accessors for them).
  """

  @property
  def q_network(self):
    """The online `agents.networks.QNetwork` (the `q_network` argument)."""
    return self._q_network

  @property
  def optimizer(self):
    """The optimizer the updates apply (the `optimizer` argument; Adam in the runs)."""
    return self._optimizer

  @property
  def epsilon_greedy(self):
    """The exploration rate as passed (`epsilon_greedy`: a float or a callable)."""
    return self._epsilon_greedy

  def restart_target_updates(self):
    """Copies the online network into the target network (`initialize()`) and sets the counter of
    the periodic target update back to 0, as in a newly built agent. tf-agents keeps that counter
    in `common.Periodically._counter` and has no public way to reset it."""
    self.initialize()
    self._update_target._counter.assign(0)

  def next_state_value(self, target_q):
    """The backup's value of s' from the target network's Q values [B, |A|] -> [B]."""
    return hard_value(target_q)

  def _compute_next_q_values(self, next_time_steps, info):
    del info
    target_q, _ = self._target_q_network(next_time_steps.observation,
                                         step_type=next_time_steps.step_type, training=False)
    return self.next_state_value(target_q)


class DQNNStepAgent(StandardDQNAgent):
  """`dqn_nstep`: the standard target over a 5-step return (tf-agents `n_step_update=5`):
  y = sum_{d<5} gamma^d r_{t+d} + gamma^5 max_a' Qbar(s_{t+5}, a'), cut at terminals."""

  def __init__(self, *args, n_step_update: int = 5, **kwargs):
    super().__init__(*args, n_step_update=n_step_update, **kwargs)


class _SoftDQNAgent(StandardDQNAgent):
  """A soft target's agent. Extra keyword: tau, the temperature in nats, > 0 (the target divides
  by it); the runs' value is checked where it is declared (`artifact.experiment.hparams`'
  `AGENT_ARGUMENTS`, before any work), not again here."""

  def __init__(self, *args, tau: float, **kwargs):
    self.tau = float(tau)
    super().__init__(*args, **kwargs)


class SoftDQNEntAgent(_SoftDQNAgent):
  """`soft_dqn_ent` (eq. 83). Extra keyword: tau (temperature, nats; 0.1 or 0.01 in Fig. 2)."""

  def next_state_value(self, target_q):
    return soft_value_ent(target_q, self.tau)


class SoftDQNKLAgent(_SoftDQNAgent):
  """`soft_dqn_kl` (eq. 82). Extra keyword: tau (temperature, nats; 0.1 or 0.01 in Fig. 2)."""

  def next_state_value(self, target_q):
    return soft_value_kl(target_q, self.tau)
