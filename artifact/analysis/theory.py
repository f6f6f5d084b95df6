"""The paper's equivalence theorems checked numerically on real Keras networks in float64.

Each check computes both sides of an identity with autodiff and returns the max abs error, the
size of the terms compared, and a *contrast*: a quantity that must NOT vanish (a per-sample
version that only agrees in expectation, or a different update direction), so that a check
cannot pass vacuously. Notation as docs/protocol.md section 3: Q = V + tau*log(pi/pibar), pibar
uniform, log_ratio(a) = log(pi(a)/pibar(a)), KL = sum_a pi(a) log_ratio(a).

- `check_bandit` (Sec. 2, eq. 7): E_{a~pi} grad 0.5*(Q(a) - r(a))^2
     = -tau * grad eta(pi) + grad 0.5*(V - sg(eta))^2,   eta(pi) = E_pi[r] - tau*KL(pi||pibar).
- `check_sec4` (eq. 58-65): per state, with the weights pi(a|s) held constant (eq. 59),
     sum_a pi(a|s) grad 0.5*(Q(s,a) - y(s,a))^2
     = sum_a pi(a|s) ( coef * grad[-log pi(a|s) sg(Delta(a)) + tau*KL(s)] + grad 0.5*(V(s) -
     sg(Vhat))^2 )
  with y(s,a) = sg(V(s)) + Delta(a), Vhat = sg(V(s) + E_pi[Delta] - tau*KL(s)) and coef = tau.
  The per-action gradients differ by the zero-mean terms (*) and (**) of eq. 63.
- `check_sec5` (eq. 66-78): with V fixed, the Gauss-Newton step of the damped regression
  sum_a pi_old(a) 0.5*(Q_theta(s,a) - [(1-eps) Q_old(s,a) + eps Qhat(s,a)])^2, Qhat = V + Delta,
  equals the natural policy gradient step eps/tau * F^+ E_pi_old[grad log pi (Delta - tau*(lr_old -
  KL_old))].
- `check_soft_ql_surrogate`: the surrogate of `agents.soft_ql.SoftQLAgent` has the gradient of
  0.5*(Q - y)^2 with the advantage-stream gradient scaled by 1/tau and the V gradient by c.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf
from tf_agents.specs import array_spec

from agents import losses
from agents.networks import ActorCriticNetwork
from artifact.files import atomic_path, atomic_write_text

matplotlib.use("Agg")      # files only, no display

TAU = 0.01          # the paper's temperature in Fig. 1 and 3 (nats)


def _flat(grads, variables) -> np.ndarray:
  """Concatenated gradient vector (float64); a None gradient counts as zeros."""
  return np.concatenate([np.zeros(int(np.prod(v.shape))) if g is None
                         else tf.reshape(g, [-1]).numpy()
                         for g, v in zip(grads, variables)])


def _net(kind: str, num_actions: int, seed: int):
  if kind == "mlp":
    spec = array_spec.ArraySpec((8,), np.float64)
    states = np.random.default_rng(seed).normal(size=(4, 8))
  elif kind == "nature_cnn":
    spec = array_spec.BoundedArraySpec((4, 84, 84), np.uint8, 0, 255)
    states = np.random.default_rng(seed).integers(0, 256, size=(2, 4, 84, 84)).astype(np.uint8)
  else:
    raise ValueError(f"unknown network kind {kind!r}; valid: mlp, nature_cnn")
  net = ActorCriticNetwork(spec, num_actions, seed=seed, dtype="float64")
  net.create_variables()
  # Larger logits/values than a fresh init so every term of the identities is far from zero.
  for v in net.trainable_variables:
    if "pi_logits" in v.name or "value" in v.name:
      v.assign(v * 100.0 if "kernel" in v.name else v)
  return net, tf.constant(states)


def _heads(net, states):
  """The training code's heads (agents/losses.py): log pi, log(pi/pibar), pi, KL to uniform, V."""
  (logits, values), _ = net(states)
  log_pi, _, kl = losses.entropy_and_kl(logits)
  log_ratio = log_pi + math.log(logits.shape[-1])          # log(pi / pibar), pibar uniform
  return log_pi, log_ratio, tf.exp(log_pi), kl, values


def check_bandit(tau: float = TAU, num_actions: int = 5, seed: int = 0) -> dict:
  """Sec. 2, eq. 7: the soft-Q squared-error gradient = -tau * grad eta + the value-error
  gradient, in expectation over a ~ pi (one state, `num_actions` arms with normal rewards, a
  float64 MLP seeded by `seed`; tau in nats).
  Returns the check's row: identity, network, tau (nats), max_abs_error and term_scale (max
  abs of both sides' float64 gradient vectors), contrast and contrast_meaning (see the module
  docstring)."""
  net, states = _net("mlp", num_actions, seed)
  states = states[:1]                                   # a bandit: one state
  r = tf.constant(np.random.default_rng(seed + 1).normal(size=num_actions) * 0.5)
  variables = net.trainable_variables

  def lhs_terms():
    log_pi, log_ratio, pi, kl, v = _heads(net, states)
    q = losses.soft_q_values(v[0], log_pi[0], tau, num_actions)   # V + tau*log(pi/pibar)
    return tf.stop_gradient(pi[0]), 0.5 * tf.square(q - r)

  with tf.GradientTape() as tape:
    w, per_action = lhs_terms()
    lhs_loss = tf.reduce_sum(w * per_action)
  lhs = _flat(tape.gradient(lhs_loss, variables), variables)

  with tf.GradientTape() as tape:
    log_pi, log_ratio, pi, kl, v = _heads(net, states)
    eta = tf.reduce_sum(pi[0] * r) - tau * kl[0]
    rhs_loss = -tau * eta + 0.5 * tf.square(v[0] - tf.stop_gradient(eta))
  rhs = _flat(tape.gradient(rhs_loss, variables), variables)

  # contrast: one sampled action's soft-Q gradient vs its score-function PG estimate
  contrast = 0.0
  for a in range(num_actions):
    with tf.GradientTape() as tape:
      log_pi, log_ratio, pi, kl, v = _heads(net, states)
      eta = tf.stop_gradient(tf.reduce_sum(pi[0] * r) - tau * kl[0])
      q = losses.soft_q_values(v[0], log_pi[0, a], tau, num_actions)
      diff = (0.5 * tf.square(q - r[a])
              - (-tau * log_pi[0, a] * tf.stop_gradient(r[a] - tau * log_ratio[0, a]) + 0.5
                 * tf.square(v[0] - eta)))
    contrast = max(contrast, float(np.abs(_flat(tape.gradient(diff, variables), variables)).max()))
  return dict(identity="sec2_bandit", network="mlp", tau=tau,
              max_abs_error=float(np.abs(lhs - rhs).max()),
              term_scale=float(np.abs(lhs).max()), contrast=contrast,
              contrast_meaning="max over actions of the per-sample gradient gap (vanishes only in "
                               "expectation)")


def check_sec4(tau: float = TAU, coef: float = None, network: str = "mlp", num_actions: int = 6,
               seed: int = 0) -> dict:
  """Sec. 4, eq. 58-65, per state of a batch: the pi-weighted soft-Q gradient = the
  policy-gradient side (times `coef`, default tau: the paper's coefficient; another value must
  fail) + the value-error gradient; `network` "mlp" or "nature_cnn" (float64, seeded by `seed`).
  Returns the check's row: identity, network, tau (nats), max_abs_error and term_scale (max
  abs of both sides' float64 gradient vectors), contrast and contrast_meaning (see the module
  docstring)."""
  coef = tau if coef is None else coef
  net, states = _net(network, num_actions, seed)
  n_states = int(states.shape[0])
  delta = tf.constant(np.random.default_rng(seed + 2).normal(size=(n_states, num_actions)))
  variables = net.trainable_variables
  worst_err, scale, contrast = 0.0, 0.0, 0.0
  for s in range(n_states):
    st = states[s:s + 1]

    def sides(st=st, s=s):
      log_pi, log_ratio, pi, kl, v = _heads(net, st)
      w = tf.stop_gradient(pi[0])                           # weights held constant (eq. 59)
      q = losses.soft_q_values(v[0], log_pi[0], tau, num_actions)   # V + tau*log(pi/pibar)
      y = tf.stop_gradient(v[0]) + delta[s]
      vhat = tf.stop_gradient(v[0] + tf.reduce_sum(w * delta[s]) - tau * kl[0])
      lhs_a = 0.5 * tf.square(q - y)
      rhs_a = coef * (-log_pi[0] * delta[s] + tau * kl[0]) + 0.5 * tf.square(v[0] - vhat)
      return w, lhs_a, rhs_a

    with tf.GradientTape(persistent=True) as tape:
      w, lhs_a, rhs_a = sides()
      lhs_loss = tf.reduce_sum(w * lhs_a)
      rhs_loss = tf.reduce_sum(w * rhs_a)
      per_action = [lhs_a[a] - rhs_a[a] for a in range(num_actions)]
    lhs = _flat(tape.gradient(lhs_loss, variables), variables)
    rhs = _flat(tape.gradient(rhs_loss, variables), variables)
    worst_err = max(worst_err, float(np.abs(lhs - rhs).max()))
    scale = max(scale, float(np.abs(lhs).max()))
    for d in per_action:
      contrast = max(contrast, float(np.abs(_flat(tape.gradient(d, variables), variables)).max()))
    del tape
  return dict(identity="sec4_eq58_65" + ("" if coef == tau else f"_coef{coef:g}"), network=network,
              tau=tau,
              max_abs_error=worst_err, term_scale=scale, contrast=contrast,
              contrast_meaning="max over actions of the per-sample gap (*)+(**) of eq. 63")


def check_sec5(tau: float = TAU, eps: float = 0.1, num_actions: int = 6, seed: int = 0) -> dict:
  """Sec. 5, eq. 66-78: with V fixed, the Gauss-Newton step of the damped soft-Q regression
  (damping `eps`) = the natural policy gradient step eps/tau * F^+ g, on a small float64 MLP over
  48 random 4-dim states.
  Returns the check's row: identity, network, tau (nats), max_abs_error and term_scale (max
  abs of both sides' float64 gradient vectors), contrast and contrast_meaning (see the module
  docstring)."""
  spec = array_spec.ArraySpec((4,), np.float64)
  rng = np.random.default_rng(seed)
  net = ActorCriticNetwork(spec, num_actions, seed=seed, dtype="float64")
  net._torso = _small_torso()
  net.create_variables()
  states = tf.constant(rng.normal(size=(48, 4)))
  delta = rng.normal(size=(48, num_actions))
  policy_vars = [v for v in net.trainable_variables if "value" not in v.name]
  with tf.GradientTape() as tape:
    log_pi, log_ratio, pi, kl, v = _heads(net, states)
    q = tf.stop_gradient(v)[:, None] + tau * log_ratio                   # V held fixed
  jac = tape.jacobian(q, policy_vars)
  J = np.concatenate([tf.reshape(j, [q.shape[0] * q.shape[1], -1]).numpy() for j in jac], 1)
  w = pi.numpy().reshape(-1)
  q_old = q.numpy().reshape(-1)
  q_hat = (v.numpy()[:, None] + delta).reshape(-1)
  target = (1 - eps) * q_old + eps * q_hat
  sw = np.sqrt(w)[:, None]
  gn_step = np.linalg.pinv(sw * J, rcond=1e-10) @ (np.sqrt(w) * (target - q_old))
  # natural gradient: Psi = rows sqrt(pi) * grad log pi, F = Psi^T Psi
  psi = sw * (J / tau)  # d log_ratio / d theta = d log pi / d theta
  adv = (delta - tau * (log_ratio.numpy() - kl.numpy()[:, None])).reshape(-1)
  g = psi.T @ (np.sqrt(w) * adv)
  ng_step = eps / tau * (np.linalg.pinv(psi.T @ psi, rcond=1e-12, hermitian=True) @ g)
  vanilla = eps / tau * g
  vanilla = vanilla * np.linalg.norm(ng_step) / max(np.linalg.norm(vanilla), 1e-300)
  return dict(identity="sec5_eq66_78", network="mlp", tau=tau,
              max_abs_error=float(np.abs(gn_step - ng_step).max()),
              term_scale=float(np.abs(gn_step).max()),
              contrast=float(np.abs(vanilla - ng_step).max()),
              contrast_meaning="gap to the plain (non-natural) gradient step of the same length")


def _small_torso():
  return tf.keras.Sequential([
      tf.keras.layers.Dense(12, activation="tanh", dtype="float64",
                            kernel_initializer=tf.keras.initializers.Orthogonal(1.5, seed=3))],
      name="small_mlp")


def check_soft_ql_surrogate(tau: float = TAU, c: float = 0.5, num_actions: int = 6,
                            seed: int = 0) -> dict:
  """`agents.losses.soft_q_surrogate` (what SoftQLAgent trains on) vs 0.5*(Q - y)^2 with the
  gradient scaled 1/tau (advantage stream) and c (V), on a float64 MLP's batch.
  Returns the check's row: identity, network, tau (nats), max_abs_error and term_scale (max
  abs of both sides' float64 gradient vectors), contrast and contrast_meaning (see the module
  docstring)."""
  net, states = _net("mlp", num_actions, seed)
  rng = np.random.default_rng(seed + 3)
  actions = tf.constant(rng.integers(0, num_actions, size=states.shape[0]))
  y = tf.constant(rng.normal(size=states.shape[0]))
  variables = net.trainable_variables
  with tf.GradientTape() as tape:
    log_pi, log_ratio, pi, kl, v = _heads(net, states)
    lp_a = tf.gather(log_pi, actions, batch_dims=1)
    q = losses.soft_q_values(v[None], lp_a[None], tau)          # [1, N]: the agents' [B, T] layout
    n = float(states.shape[0])
    surrogate = n * losses.soft_q_surrogate(q, y[None], lp_a[None], v[None], c)   # mean -> sum
  g_sur = _flat(tape.gradient(surrogate, variables), variables)
  # the scaled squared error: route the gradient through V and tau*log pi separately
  with tf.GradientTape(persistent=True) as tape:
    log_pi, log_ratio, pi, kl, v = _heads(net, states)
    lp_a = tf.gather(log_pi, actions, batch_dims=1)
    q_v = v + tf.stop_gradient(tau * lp_a)                  # gradient only into V
    q_a = tf.stop_gradient(v) + tau * lp_a  # gradient only into the advantage stream
    l_v = tf.reduce_sum(0.5 * tf.square(q_v - y))
    l_a = tf.reduce_sum(0.5 * tf.square(q_a - y))
    l_plain = tf.reduce_sum(0.5 * tf.square(v + tau * lp_a - y))
  g_sq = (c * _flat(tape.gradient(l_v, variables), variables)
          + _flat(tape.gradient(l_a, variables), variables) / tau)
  g_plain = _flat(tape.gradient(l_plain, variables), variables)
  return dict(identity="soft_ql_surrogate", network="mlp", tau=tau,
              max_abs_error=float(np.abs(g_sur - g_sq).max()),
              term_scale=float(np.abs(g_sq).max()), contrast=float(np.abs(g_sur - g_plain).max()),
              contrast_meaning="gap to the unscaled squared-error gradient")


def run_all_checks() -> list[dict]:
  """The rows of every check, in theory.csv's order: the bandit, Sec. 4 on the MLP and the
  Nature CNN, Sec. 4 with the deliberately wrong coefficient 1 (must fail), Sec. 5, and the
  soft-QL surrogate. Builds Keras networks and takes float64 gradients (TensorFlow)."""
  return [check_bandit(), check_sec4(network="mlp"), check_sec4(network="nature_cnn"),
          check_sec4(coef=1.0), check_sec5(), check_soft_ql_surrogate()]


def write_theory_report(reports_dir) -> dict[str, Path]:
  """Writes theory.csv (one row per identity of `run_all_checks`, with relative_error =
  max_abs_error / term_scale and holds = relative_error < 1e-9) and theory.pdf (the same table
  as a page) into `reports_dir`, each atomically; returns their paths."""
  reports_dir = Path(reports_dir)
  reports_dir.mkdir(parents=True, exist_ok=True)
  rows = run_all_checks()
  for r in rows:
    r["relative_error"] = r["max_abs_error"] / max(r["term_scale"], 1e-300)
    r["holds"] = bool(r["relative_error"] < 1e-9)
  cols = ["identity", "network", "tau", "max_abs_error", "term_scale", "relative_error", "holds",
          "contrast", "contrast_meaning"]
  df = pd.DataFrame(rows)[cols]
  paths = dict(csv=reports_dir / "theory.csv", pdf=reports_dir / "theory.pdf")
  atomic_write_text(paths["csv"], df.to_csv(index=False))
  fig, ax = plt.subplots(figsize=(11, 3.2))
  ax.axis("off")
  shown = df[cols[:-1]].copy()
  for c in ("max_abs_error", "term_scale", "relative_error", "contrast"):
    shown[c] = shown[c].map(lambda x: f"{x:.2e}")
  table = ax.table(cellText=shown.values, colLabels=shown.columns, loc="center")
  table.auto_set_font_size(False)
  table.set_fontsize(7)
  table.scale(1, 1.4)
  ax.set_title("Equivalence identities on float64 Keras networks (holds: relative error < 1e-9; "
               "sec4_..._coef1 is the deliberately wrong coefficient and must fail)", fontsize=8)
  try:
    with atomic_path(paths["pdf"]) as tmp:
      fig.savefig(tmp, format="pdf", bbox_inches="tight")
  finally:
    plt.close(fig)
  return paths
