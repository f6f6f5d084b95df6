"""Small builders shared by the tests."""
import numpy as np
import tensorflow as tf
from tf_agents.specs import array_spec, tensor_spec
from tf_agents.trajectories import time_step as ts


def specs(obs_shape=(4,), num_actions=3, obs_dtype=np.float32):
  obs = tensor_spec.from_spec(array_spec.ArraySpec(obs_shape, obs_dtype, name="observation"))
  act = tensor_spec.BoundedTensorSpec((), tf.int64, 0, num_actions - 1, name="action")
  return ts.time_step_spec(obs), act, obs
