"""Small builders shared by the tests."""
import contextlib
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import array_spec, tensor_spec
from tf_agents.trajectories import time_step as ts

from artifact.experiment import schedule
from artifact.experiment.registry import FIGURES
from artifact.experiment.runspec import make_run_spec
from artifact.training import pool, runner

REPO = Path(__file__).resolve().parent.parent


def run_spec(condition: str, hparams=None, **overrides):
  """The smoke-scale RunSpec of a registered condition (the first figure that has it, its first
  game, seed 0; `overrides` as --set gives them), with `hparams` in place of its
  hyperparameters if given: what an agent builder of `artifact.training` takes."""
  figure = next(f for f in FIGURES.values() if condition in [c.name for c in f.conditions])
  spec = make_run_spec(figure.number, figure.games[0], condition, 0, "smoke", overrides=overrides)
  return spec if hparams is None else dataclasses.replace(spec, hparams=hparams)


def specs(obs_shape=(4,), num_actions=3, obs_dtype=np.float32):
  obs = tensor_spec.from_spec(array_spec.ArraySpec(obs_shape, obs_dtype, name="observation"))
  act = tensor_spec.BoundedTensorSpec((), tf.int64, 0, num_actions - 1, name="action")
  return ts.time_step_spec(obs), act, obs


def train_updates(training, n: int):
  """`n` updates of a `artifact.training.runner.Training`, with the progress row of each logging
  point written as `Training.train` writes it (evaluations left out): the state a real run is in
  at its next checkpoint, so that a resume finds every row its schedule logged."""
  for _ in range(n):
    training.trainer.update()
    training.updates_done += 1
    if (schedule.logs_row(training.updates_done, training.per_update,
                          training.spec.log_every_frames)
        or training.updates_done in training.eval_at):
      training.progress.write(training._row(0.0, None))


def run_killed_before_final_checkpoint(spec, run_dir: Path) -> None:
  """Trains `spec` into `run_dir` in this process and stops it as a kill would just before its
  final checkpoint (`Training.finish` raises KeyboardInterrupt): every row written, the
  checkpoints of its evaluations and --checkpoint-every kept, no done.json."""
  pool.close_all()

  def killed(self):
    raise KeyboardInterrupt("killed before the final checkpoint")
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(runner.Training, "finish", killed)
    try:
      runner.run(spec, run_dir, on_event=lambda e: None)
    except KeyboardInterrupt:
      pass
    else:
      raise AssertionError("the run finished: Training.finish was not reached")
  pool.close_all()


@contextlib.contextmanager
def lock_held_by_another_process(run_dir: Path, seconds: float):
  """A child process that holds `run_dir`'s training lock (`checkpoints.lock_run_dir`) for up to
  `seconds`; yields it (its pid is the lock's) once the lock is taken, kills it on exit."""
  code = (f"import sys, time; sys.path.insert(0, {str(REPO)!r})\n"
          "from pathlib import Path\nfrom artifact.training.checkpoints import lock_run_dir\n"
          f"lock = lock_run_dir(Path({str(run_dir)!r})); print('locked', flush=True); "
          f"time.sleep({seconds})")
  held = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
  try:
    assert held.stdout.readline().strip() == "locked"
    yield held
  finally:
    held.kill()
    held.wait()


def run_play(argv, capsys):
  """`pg-softq-play argv` (`artifact.watch.cli.main`) in this process -> (exit status, stdout,
  stderr); a usage error's SystemExit gives its code."""
  from artifact.watch import cli
  try:
    status = cli.main([str(a) for a in argv])
  except SystemExit as e:
    status = e.code
  out, err = capsys.readouterr()
  return status, out, err
