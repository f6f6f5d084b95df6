"""Keras (tf.keras, Keras 2) networks as tf-agents `Network`s, so policies export with PolicySaver.

- `nature_cnn_torso`: Mnih et al. (2015) torso, conv 32x8s4, 64x4s2, 64x3s1, fc512, ReLU,
  inputs uint8 [B, 4, 84, 84] (channels first, oldest frame first) scaled by 1/255 inside the net;
  orthogonal init with gain sqrt(2) (openai/baselines `a2c/utils.py` `ortho_init`, `nature_cnn`).
- `mlp_torso`: 2 x 64 tanh units for vector observations (CartPole tests).
- `ActorCriticNetwork`: shared torso -> pi-logits head (orthogonal gain 0.01) and V head (gain 1.0)
  (baselines `policies.py`). Used by every A2C-framework condition (Fig. 1 and 3).
- `QNetwork`: torso -> Q head with one output per action (Fig. 2). Its `torso_init` picks the
  kernels' initialiser for the torso and the Q head: "orthogonal" (default: as above, Q head gain
  1.0) or "glorot" (Glorot uniform, limit sqrt(6 / (fan_in + fan_out)), zero biases: baselines
  `deepq`'s tf.contrib.layers default and Keras' own; `--set torso_init=glorot`).

Precision (`precision` argument, `--set precision=bfloat16`): "float32" (default) or "bfloat16":
the torso (convolutions and fc512) computes in bfloat16 with float32 variables (Keras
"mixed_bfloat16" policy); heads, losses and the optimizer stay float32 (the heads cast their
input back to float32).
"""
from __future__ import annotations

import math

import tensorflow as tf
from tf_agents.networks import network

from agents.precision import PRECISIONS


def _ortho(gain: float, seed: int | None):
  return tf.keras.initializers.Orthogonal(gain=gain, seed=seed)


def _seed(seed: int | None, k: int) -> int | None:
  return None if seed is None else seed * 101 + k


TORSO_INITS = ("orthogonal", "glorot")


def kernel_init(torso_init: str, gain: float, seed: int | None):
  """The kernel initialiser of one layer: orthogonal with `gain` ("orthogonal") or Glorot
  uniform ("glorot", which has no gain), seeded with `seed`. Raises ValueError for another
  `torso_init` (the allowed ones: TORSO_INITS)."""
  if torso_init == "orthogonal":
    return _ortho(gain, seed)
  if torso_init == "glorot":
    return tf.keras.initializers.GlorotUniform(seed=seed)
  raise ValueError(f"torso_init must be one of {', '.join(TORSO_INITS)}; got {torso_init!r}")


def torso_dtype(precision: str, dtype: str = "float32"):
  """The torso layers' dtype: `dtype`, or the Keras "mixed_bfloat16" policy for bfloat16.
  Raises ValueError for a precision not in PRECISIONS."""
  if precision not in PRECISIONS:
    raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
  return dtype if precision == "float32" else tf.keras.mixed_precision.Policy("mixed_bfloat16")


def _compute_dtype(dtype):
  return getattr(dtype, "compute_dtype", dtype)


def nature_cnn_torso(seed: int | None = None, dtype="float32",
                     init: str = "orthogonal") -> tf.keras.Sequential:
  """Nature-CNN feature extractor: [B, 4, 84, 84] uint8 -> [B, 512] features in `dtype`'s
  compute dtype (`dtype`: a dtype name or a Keras mixed-precision Policy); kernels initialised
  as `init` says (`kernel_init`: "orthogonal" gain sqrt(2), or "glorot"), biases zero."""
  g = math.sqrt(2.0)
  compute = _compute_dtype(dtype)
  return tf.keras.Sequential([
      tf.keras.layers.Lambda(lambda x: tf.transpose(tf.cast(x, compute) / 255.0, [0, 2, 3, 1]),
                             dtype=dtype, name="scale_nhwc"),
      tf.keras.layers.Conv2D(32, 8, 4, activation="relu",
                             kernel_initializer=kernel_init(init, g, _seed(seed, 1)), dtype=dtype),
      tf.keras.layers.Conv2D(64, 4, 2, activation="relu",
                             kernel_initializer=kernel_init(init, g, _seed(seed, 2)), dtype=dtype),
      tf.keras.layers.Conv2D(64, 3, 1, activation="relu",
                             kernel_initializer=kernel_init(init, g, _seed(seed, 3)), dtype=dtype),
      tf.keras.layers.Flatten(dtype=dtype),
      tf.keras.layers.Dense(512, activation="relu",
                            kernel_initializer=kernel_init(init, g, _seed(seed, 4)), dtype=dtype),
  ], name="nature_cnn")


def mlp_torso(seed: int | None = None, units=(64, 64), dtype="float32",
              init: str = "orthogonal") -> tf.keras.Sequential:
  """MLP feature extractor for vector observations: [B, d] -> [B, units[-1]] (tanh); kernels
  as `init` says (`kernel_init`), biases zero."""
  g = math.sqrt(2.0)
  compute = _compute_dtype(dtype)
  layers = [tf.keras.layers.Lambda(lambda x: tf.cast(x, compute), dtype=dtype, name="cast")]
  for i, u in enumerate(units):
    init_i = kernel_init(init, g, _seed(seed, 10 + i))
    layers.append(tf.keras.layers.Dense(u, activation="tanh", dtype=dtype,
                                        kernel_initializer=init_i))
  return tf.keras.Sequential(layers, name="mlp")


def make_torso(observation_spec, seed: int | None = None, dtype="float32",
               init: str = "orthogonal"):
  """Nature CNN for image observations (rank 3), MLP for vectors (rank 1), kernels initialised
  as `init` says (`kernel_init`)."""
  rank = len(observation_spec.shape)
  if rank == 3:
    return nature_cnn_torso(seed, dtype, init)
  if rank == 1:
    return mlp_torso(seed, dtype=dtype, init=init)
  raise ValueError(
      f"unsupported observation shape {observation_spec.shape}; expected (4, 84, 84) or (d,)")


class ActorCriticNetwork(network.Network):
  """Shared torso with pi-logits and V heads.

  call(observation [B, ...]) -> ((logits [B, |A|], value [B]), ()) in `dtype` (float32 default).
  `precision` "bfloat16" runs the torso in bfloat16 (module docstring).
  """

  def __init__(self, observation_spec, num_actions: int, seed: int | None = None,
               dtype: str = "float32", name: str = "ActorCriticNetwork",
               precision: str = "float32"):
    super().__init__(input_tensor_spec=observation_spec, state_spec=(), name=name)
    self.num_actions = int(num_actions)
    self._torso = make_torso(observation_spec, seed, torso_dtype(precision, dtype))
    self._logits = tf.keras.layers.Dense(num_actions,
                                         kernel_initializer=_ortho(0.01, _seed(seed, 20)),
                                         dtype=dtype, name="pi_logits")
    self._value = tf.keras.layers.Dense(1, kernel_initializer=_ortho(1.0, _seed(seed, 21)),
                                        dtype=dtype, name="value")

  def call(self, observation, step_type=None, network_state=(), training=False):
    del step_type
    h = self._torso(observation, training=training)
    return (self._logits(h), tf.squeeze(self._value(h), -1)), network_state


class QNetwork(network.Network):
  """Torso -> Q head. call(observation [B, ...]) -> (q_values [B, |A|] float32, ()).
  `precision` "bfloat16" runs the torso in bfloat16; `torso_init` ("orthogonal" or "glorot")
  initialises the torso's and the Q head's kernels (module docstring). Raises ValueError for a
  `torso_init` not in TORSO_INITS."""

  def __init__(self, observation_spec, num_actions: int, seed: int | None = None,
               name: str = "QNetwork", precision: str = "float32", torso_init: str = "orthogonal"):
    super().__init__(input_tensor_spec=observation_spec, state_spec=(), name=name)
    self._torso = make_torso(observation_spec, seed, torso_dtype(precision), torso_init)
    q_init = kernel_init(torso_init, 1.0, _seed(seed, 30))
    self._q = tf.keras.layers.Dense(num_actions, kernel_initializer=q_init, name="q_values")

  def call(self, observation, step_type=None, network_state=(), training=False):
    del step_type
    return self._q(self._torso(observation, training=training)), network_state
