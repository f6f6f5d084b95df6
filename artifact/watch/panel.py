"""The panel under a filmed game's screens (`pg-softq-play --video FILE --panel`, `artifact.watch`):
at every agent step, each policy's action probabilities pi(a|s) as a bar chart over the game's
actions (their ALE names), its value estimate V(s) and its score so far (raw).

What is drawn is read from the logits the policy sampled its action from (the SavedModel's own
`distribution`, `artifact.watch.policies.SavedSamplingPyPolicy`) and from its network's value
head, by the run's algorithm (`Reading`, docs/protocol.md section 4):
- policy gradient (A2C, Figures 1 and 3: a2c_1step, a2c_proper = pg): pi = softmax(logits) of
  the pi head (`softmax_probabilities`), V = the value head;
- soft Q-learning (Figure 3's soft_ql, eq. 46-47): the network parameterizes
  Q(s, a) = V(s) + tau * log pi(a|s) (`soft_q_values`; KL form + tau * log|A|), and the panel
  reads the Boltzmann policy and the soft value off that Q (eq. 55-57):
  pi = softmax(Q / tau) (`boltzmann_probabilities`) and V = tau * logsumexp(Q / tau)
  (`soft_value`; KL form: tau * log sum_a pibar(a) exp(Q(s, a) / tau), pibar uniform), with tau
  and the form from the run's config.json. By the parameterization these give back the pi head's
  softmax and the value head exactly (to float64 rounding): the panel shows that identity, it does
  not assume it;
- a bare SavedModel (no config.json: no tau, no algorithm known): the network's heads, as for
  policy gradient.

The value head is not a function of the SavedModel: a tf-agents PolicySaver export exposes
`action`, `distribution` (a Categorical with the pi head's logits; its policy_info is empty) and
`model_variables`, but nothing that evaluates V. Its variables are there (the torso's, the pi
head's and ActorCriticNetwork/value/kernel and bias), so `saved_actor_critic` rebuilds the
`agents.networks.ActorCriticNetwork` with those variables; each step the rebuilt network's
logits are checked against the SavedModel's own (`LOGIT_TOLERANCE`), so the V drawn is the value
head of the very network that chose the actions. No checkpoint is needed (published runs have
none).

V is in the units the agent learned in: a discounted sum of sign-clipped rewards plus the entropy
bonus (gamma 0.99), not the raw game score; the score so far is raw.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import numpy as np

from artifact.experiment.registry import FIGURES

ENTROPY, KL = "entropy", "kl"                 # the soft-QL regularizer forms (config "regularizer")
LOGIT_TOLERANCE = 1e-4        # |rebuilt network's logits - SavedModel's| allowed (float32 rounding)
PANEL_MIN_WIDTH = 140         # pixels: the action names (about 70 at most) and bars of 60 or more
POLICY_COLORS = ((255, 160, 64), (80, 200, 255), (160, 230, 100))   # tile order: 1st, 2nd, 3rd
DIM = 0.45                    # brightness of the bars of the actions not taken
_TEXT, _NOTE, _GRID = (235, 235, 235), (150, 150, 150), (48, 48, 48)


# --- the paper's formulas (docs/protocol.md section 4, eq. 46-47 and 55-57) -----------------------

def log_softmax(logits) -> np.ndarray:
  """log pi(a|s) = logits - logsumexp(logits) over the last axis, float64, shape of `logits`
  ([..., |A|])."""
  x = np.asarray(logits, np.float64)
  m = np.max(x, axis=-1, keepdims=True)
  return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def softmax_probabilities(logits) -> np.ndarray:
  """pi(a|s) = softmax(logits): the policy of an A2C pi head. logits [..., |A|] (any float
  dtype) -> float64 [..., |A|], each row summing to 1."""
  return np.exp(log_softmax(logits))


def soft_q_values(logits, value, tau: float, regularizer: str = ENTROPY) -> np.ndarray:
  """The soft-QL agent's Q (eq. 46, `agents.soft_ql`): Q(s, a) = V(s) + tau * log pi(a|s),
  pi = softmax(logits); the KL form (`regularizer` "kl") adds tau * log|A| (Q = V + tau *
  log(pi / pibar), pibar uniform). logits [..., |A|], value [...] (the value head, in reward
  units), tau > 0 in nats per step -> float64 [..., |A|]. Raises ValueError for another
  `regularizer` or tau <= 0."""
  _check_soft(tau, regularizer)
  lp = log_softmax(logits)
  bonus = math.log(lp.shape[-1]) if regularizer == KL else 0.0
  return np.asarray(value, np.float64)[..., None] + tau * (lp + bonus)


def boltzmann_probabilities(q, tau: float) -> np.ndarray:
  """The Boltzmann policy of Q at temperature tau (eq. 55-57 with pibar uniform, either form):
  pi(a|s) = pibar(a) exp((Q(s, a) - V(s)) / tau) = softmax(Q / tau). q [..., |A|] (reward units),
  tau > 0 (nats per step) -> float64 [..., |A|], computed stably (max subtracted). Raises
  ValueError for tau <= 0."""
  _check_soft(tau, ENTROPY)
  return softmax_probabilities(np.asarray(q, np.float64) / tau)


def soft_value(q, tau: float, regularizer: str = ENTROPY) -> np.ndarray:
  """The soft value of Q (eq. 55-57): V(s) = tau * logsumexp_a(Q(s, a) / tau) in the entropy form,
  V(s) = tau * log sum_a pibar(a) exp(Q(s, a) / tau) = that - tau * log|A| in the KL form
  (pibar uniform). q [..., |A|] (reward units), tau > 0 (nats per step) -> float64 [...], in
  Q's units; tends to max_a Q (+ nothing, or - tau log|A|) as tau -> 0. Computed stably. Raises
  ValueError for another `regularizer` or tau <= 0."""
  _check_soft(tau, regularizer)
  z = np.asarray(q, np.float64) / tau
  m = np.max(z, axis=-1)
  lse = m + np.log(np.sum(np.exp(z - m[..., None]), axis=-1))
  return tau * (lse - (math.log(z.shape[-1]) if regularizer == KL else 0.0))


def _check_soft(tau: float, regularizer: str):
  if not (math.isfinite(tau) and tau > 0):
    raise ValueError(f"tau must be a positive number of nats per step, got {tau!r}")
  if regularizer not in (ENTROPY, KL):
    raise ValueError(f"regularizer must be {ENTROPY!r} or {KL!r}, got {regularizer!r}")


# --- how a run's policy is read ------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Reading:
  """How pi and V are read off a policy's network outputs (module docstring). `kind`: "pg"
  (policy gradient: the pi head's softmax and the value head), "soft_ql" (Boltzmann policy and
  soft value of Q = V + tau log pi, with `tau` and `regularizer` "entropy" or "kl") or "heads"
  (a bare SavedModel: the network's heads)."""
  kind: str
  tau: float | None = None
  regularizer: str = ENTROPY

  def pi_and_value(self, logits, value) -> tuple[np.ndarray, np.ndarray]:
    """(pi float64 [..., |A|], V float64 [...]) from the SavedModel's logits [..., |A|] and the
    value head [...] at the same states."""
    if self.kind == "soft_ql":
      q = soft_q_values(logits, value, self.tau, self.regularizer)
      return boltzmann_probabilities(q, self.tau), soft_value(q, self.tau, self.regularizer)
    return softmax_probabilities(logits), np.asarray(value, np.float64)

  def notes(self) -> list[str]:
    """What the panel says it draws, longest first: the first that fits its width is drawn."""
    if self.kind == "soft_ql":
      kl = " + tau log|A|" if self.regularizer == KL else ""
      v = "tau log mean exp(Q/tau)" if self.regularizer == KL else "tau lse(Q/tau)"
      return [f"Q = V + tau log pi{kl}, tau {self.tau:g}: pi = softmax(Q/tau), V = {v}",
              f"pi = softmax(Q/tau), V = {v}, tau {self.tau:g}",
              f"pi = softmax(Q/tau), V = {v}", "soft QL: softmax(Q/tau), soft V"]
    where = "" if self.kind == "pg" else " (bare SavedModel)"
    return [f"policy gradient: pi = softmax(logits), V = value head{where}",
            f"pi = softmax(logits), V = value head{where}", "pi = softmax(logits), V head"]


def reading_of(config: dict | None) -> Reading:
  """The `Reading` of a run from its config.json (None: a bare SavedModel, "heads"): "soft_ql"
  with the run's hparams tau and regularizer when its condition's agent is soft_ql
  (`artifact.experiment.registry`), else "pg". Raises ValueError for a config of no known
  figure and condition, or of a DQN-family condition (no pi head: greedy in Q)."""
  if config is None:
    return Reading("heads")
  cond = FIGURES[int(config["figure"])].condition(config["condition"])
  if cond.family != "a2c":
    raise ValueError(f"condition {cond.name} is of the {cond.family} family: greedy in Q, no pi "
                     f"head or value head to draw")
  if cond.agent == "soft_ql":
    hp = config["hparams"]
    return Reading("soft_ql", float(hp["tau"]), str(hp.get("regularizer", ENTROPY)))
  return Reading("pg")


@functools.cache
def action_names(game: str) -> tuple[str, ...]:
  """The ALE names of `game`'s minimal action set, in the policies' action order (index a is
  action a), e.g. Breakout: ('NOOP', 'FIRE', 'RIGHT', 'LEFT')."""
  import ale_py
  from ale_py import roms

  from envs.games import _rom_id, validate_game
  validate_game(game)
  ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
  ale = ale_py.ALEInterface()
  ale.loadROM(roms.get_rom_path(_rom_id(game)))
  return tuple(a.name for a in ale.getMinimalActionSet())


def saved_actor_critic(saved, num_actions: int, precision: str = "float32"):
  """An `agents.networks.ActorCriticNetwork` (observations uint8 [B, 4, 84, 84]; outputs
  ((logits float32 [B, |A|], value float32 [B]), ())) holding the variables of the loaded
  PolicySaver SavedModel `saved` (its `model_variables`: torso, pi head, value head), each layer
  matched by its kernel's shape (all differ; the saved names carry the training process's Keras
  numbering) and its bias by the kernel's layer name. `precision`: the run's ("float32" or
  "bfloat16"). Raises ValueError if the SavedModel has no such variables (not an A2C-framework
  policy) or a shape matches none or several."""
  import tensorflow as tf

  from agents.networks import ActorCriticNetwork
  net = ActorCriticNetwork(tf.TensorSpec([4, 84, 84], tf.uint8), num_actions, precision=precision)
  net.create_variables()
  variables = {v.name: v for v in saved.model_variables}
  kernels: dict[tuple, list] = {}
  for v in saved.model_variables:
    if v.name.endswith("/kernel:0"):
      kernels.setdefault(tuple(v.shape), []).append(v)
  layers = [layer for layer in net._torso.layers if layer.weights] + [net._logits, net._value]
  for layer in layers:
    found = kernels.get(tuple(layer.kernel.shape), [])
    if len(found) != 1:
      raise ValueError(f"the SavedModel has {len(found)} kernels of shape "
                       f"{tuple(layer.kernel.shape)} (want 1: an ActorCriticNetwork's "
                       f"{layer.name})")
    bias = variables.get(found[0].name[:-len("kernel:0")] + "bias:0")
    if bias is None or tuple(bias.shape) != tuple(layer.bias.shape):
      raise ValueError(f"the SavedModel has no bias beside {found[0].name}")
    layer.kernel.assign(found[0])
    layer.bias.assign(bias)
  return net


# --- drawing --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PanelEntry:
  """One policy's row of the panel at one video frame: its `label` (condition), `pi` (float64
  [|A|], the probabilities drawn; None once its game is over: no step left to take), `value` (V
  drawn, float, None with pi), `action` (the action it took from this state, None with pi),
  `score` (raw score so far), `reading` (how pi and V were read) and `end` ("", "game over" or
  "capped": why there is no pi)."""
  label: str
  pi: np.ndarray | None
  value: float | None
  action: int | None
  score: float
  reading: Reading
  end: str = ""


@functools.cache
def panel_fonts():
  """(header font, small font): Pillow's built-in default at 10 and 8 pixels (no font file)."""
  from PIL import ImageFont
  return ImageFont.load_default(), ImageFont.load_default(size=8)


def _line_height(font) -> int:
  from PIL import Image, ImageDraw
  _, top, _, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), "Ag_y|0", font=font)
  return bottom - top


def _layout(num_policies: int, num_actions: int):
  """(header line, note line, axis line, bar height, row height), pixels."""
  big, small = panel_fonts()
  header, note = _line_height(big) + 2, _line_height(small) + 2
  bar = {1: 6, 2: 4}.get(num_policies, 3)
  row = max(_line_height(small) + 1, num_policies * (bar + 1) + 1)
  return header, note, note, bar, row


def panel_height(num_policies: int, num_actions: int) -> int:
  """Pixels of the panel of `num_policies` policies over `num_actions` actions: a header and a
  note line per policy, an axis line, one row per action, 2-pixel margins; even (H.264)."""
  header, note, axis, _, row = _layout(num_policies, num_actions)
  h = 2 + num_policies * (header + note) + axis + num_actions * row + 2
  return h + h % 2


def _fit(draw, texts: Sequence[str], font, width: int) -> str:
  return next((t for t in texts if draw.textlength(t, font=font) <= width), texts[-1])


def _text(draw, xy, text, font, fill):
  _, top, _, _ = draw.textbbox((0, 0), "Ag_y|0", font=font)    # one baseline for every text
  draw.text((xy[0], xy[1] - top), text, font=font, fill=fill)


def draw_panel(entries: Sequence[PanelEntry], names: Sequence[str], width: int) -> np.ndarray:
  """The panel of `entries` (one per policy, in tile order) over the actions `names`, `width`
  pixels wide (>= PANEL_MIN_WIDTH): uint8 [panel_height(len(entries), len(names)), width, 3].
  Per policy, in its color (POLICY_COLORS): a header 'label: score S, V v' and a note saying how
  pi and V were read; then one row per action, its name at the left and, one above the other, each
  policy's bar of length pi(a|s) (0 to 1 across the bar area, grid lines at 0.25), the action it
  took drawn bright, the others dim. A policy whose game is over has no bars and its `end`
  ('game over' or 'capped') for V. Raises ValueError for a width under PANEL_MIN_WIDTH."""
  from PIL import Image, ImageDraw
  if width < PANEL_MIN_WIDTH:
    raise ValueError(f"the panel needs {PANEL_MIN_WIDTH} pixels or more, got {width}")
  big, small = panel_fonts()
  n = len(entries)
  header, note, axis, bar, row = _layout(n, len(names))
  img = Image.new("RGB", (width, panel_height(n, len(names))), (0, 0, 0))
  draw = ImageDraw.Draw(img)
  y = 2
  for j, e in enumerate(entries):
    color = POLICY_COLORS[j % len(POLICY_COLORS)]
    draw.rectangle([2, y + 2, 8, y + 8], fill=color)
    score = f"{e.score:,.0f}" if float(e.score).is_integer() else f"{e.score:,.2f}"
    v = (e.end or "game over") if e.value is None else f"V {e.value:.3f}"
    _text(draw, (12, y), _fit(draw, [f"{e.label}: score {score}, {v}", f"{e.label} {score} {v}"],
                              big, width - 14), big, _TEXT)
    _text(draw, (12, y + header), _fit(draw, e.reading.notes(), small, width - 14), small, _NOTE)
    y += header + note
  name_w = max(int(math.ceil(draw.textlength(s, font=small))) for s in names) + 4
  x0, x1 = 2 + name_w, width - 4
  span = x1 - x0
  _text(draw, (x0 - 3 - draw.textlength("pi(a|s)", font=small), y), "pi(a|s)", small, _NOTE)
  for k in range(5):                                 # grid lines at 0, .25, .5, .75, 1
    x = x0 + round(span * k / 4)
    draw.line([x, y + axis - 1, x, y + axis + len(names) * row - 1], fill=_GRID)
  for k, tick in ((0, "0"), (2, ".5"), (4, "1")):   # labels: 0 left-, .5 centre-, 1 right-aligned
    tw = draw.textlength(tick, font=small)
    _text(draw, (x0 + round(span * k / 4) - tw * k / 4, y), tick, small, _NOTE)
  y += axis
  for a, name in enumerate(names):
    _text(draw, (x0 - 3 - draw.textlength(name, font=small), y), name, small, _TEXT)
    for j, e in enumerate(entries):
      if e.pi is None:
        continue
      length = round(span * float(np.clip(e.pi[a], 0.0, 1.0)))
      if length:
        color = POLICY_COLORS[j % len(POLICY_COLORS)]
        fill = color if a == e.action else tuple(round(c * DIM) for c in color)
        top = y + j * (bar + 1)
        draw.rectangle([x0, top, x0 + length - 1, top + bar - 1], fill=fill)
    y += row
  return np.asarray(img)
