"""Small builders shared by the tests."""
import numpy as np
import tensorflow as tf
from tf_agents.specs import array_spec, tensor_spec
from tf_agents.trajectories import time_step as ts


def specs(obs_shape=(4,), num_actions=3, obs_dtype=np.float32):
  obs = tensor_spec.from_spec(array_spec.ArraySpec(obs_shape, obs_dtype, name="observation"))
  act = tensor_spec.BoundedTensorSpec((), tf.int64, 0, num_actions - 1, name="action")
  return ts.time_step_spec(obs), act, obs


def train_updates(training, n: int):
  """`n` updates of a `artifact.training.runner.Training`, with the progress row of each logging
  point written as `Training.train` writes it (evaluations left out): the state a real run is in
  at its next checkpoint, so that a resume finds every row its schedule logged."""
  from artifact.experiment import schedule
  for _ in range(n):
    training.trainer.update()
    training.updates_done += 1
    if (schedule.logs_row(training.updates_done, training.per_update, training.spec.log_every_frames)
        or training.updates_done in training.eval_at):
      training.progress.write(training._row(0.0, None))  # pylint: disable=protected-access
