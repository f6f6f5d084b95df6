"""RMSProp as openai/baselines' A2C runs it (TF1 `tf.train.RMSPropOptimizer`), in Keras 2.

Keras' `RMSprop` starts the running mean of squared gradients at 0; TF1's `RMSPropOptimizer`
(used by openai/baselines `a2c/a2c.py`) and stable-baselines3's `RMSpropTFLike` start it at 1.
With a gradient entry of 1e-3 the first Keras step is about 300x larger than TF1's, and the
difference lasts about 1/(1 - rho) * ln(1e6) ~ 1,100 updates. The update rule is otherwise the
same (rho = decay, epsilon inside the square root, no momentum, not centered):

    ms  <- rho * ms + (1 - rho) * g^2          (ms starts at 1)
    var <- var - lr * g / sqrt(ms + epsilon)

Written here rather than taken from a library because no Keras 2 / TF 2.15 optimizer offers the
TF1 start value (`tf.compat.v1.train.RMSPropOptimizer` does, but is not a Keras optimizer and its
slots do not checkpoint with `tf.train.Checkpoint` the same way).
"""
from __future__ import annotations

import tensorflow as tf


class RMSpropTF1(tf.keras.optimizers.RMSprop):
  """Keras `RMSprop` whose mean-square slots start at 1 (TF1 / baselines), not 0.

  Args as `tf.keras.optimizers.RMSprop` (learning_rate, rho, epsilon); momentum and centered are
  not supported (baselines uses neither). Raises ValueError for momentum != 0 or centered.
  `reset()` returns the optimizer to its state before the first update (iterations 0, slots 1):
  used when a trainer is reused for the next seed.
  """

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    if self.momentum or self.centered:
      raise ValueError(f"RMSpropTF1 supports momentum=0, centered=False only; got momentum="
                       f"{self.momentum}, centered={self.centered}")

  def add_variable_from_reference(self, model_variable, variable_name, shape=None,
                                  initial_value=None):
    """The mean-square slots ("velocity") are created at 1. Created, not assigned after: a
    checkpoint restored before the first update (a resumed run) fills the slots as they are
    created, and an assignment after `build` would overwrite the restored values."""
    if variable_name == "velocity" and initial_value is None:
      initial_value = tf.ones(model_variable.shape if shape is None else shape,
                              model_variable.dtype)
    return super().add_variable_from_reference(model_variable, variable_name, shape, initial_value)

  def reset(self):
    """Iterations back to 0 and every mean-square slot back to 1 (the state at build)."""
    self.iterations.assign(0)
    for v in getattr(self, "_velocities", []):
      v.assign(tf.ones_like(v))
