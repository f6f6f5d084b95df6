"""The known, harmless third-party warnings and notices, filtered here and nowhere else, each by
its source module and its message (no blanket ignore). Imported first by `agents`, `envs` and
`artifact`, so `python -m artifact`, `./run_all.sh` and the tests print the same, quiet console.

Anything not listed here is shown; the tests turn warnings raised from our own modules into errors.
"""
from __future__ import annotations

import logging
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # TF's C++ start-up banner (oneDNN, CPU flags)

# gym 0.23 (a tf-agents 0.19 pin; this project uses gymnasium) prints an "unmaintained" notice from
# the gym_notices package on import: drop that notice before tf-agents imports gym.
try:
  import gym_notices.notices as _gym_notices
  for _version, _text in list(_gym_notices.notices.items()):
    if "Gym has been unmaintained" in _text:
      del _gym_notices.notices[_version]
except ImportError:  # gym_notices absent: nothing to silence
  pass

_WARNINGS = (
    # (action, message regex, category, module regex)
    ("ignore", r"Encoding a StructuredValue with type tfp\.distributions", UserWarning,
     r"tensorflow\.python\.saved_model\.nested_structure_coder"),  # PolicySaver, tf-agents policies
    # rliable -> arch
    ("ignore", r"random_state is deprecated", FutureWarning, r"arch\.bootstrap\.base"),
    ("ignore", r"pkg_resources is deprecated", UserWarning, r".*"),   # tf-agents / tfp import
    ("ignore", r"distutils Version classes are deprecated", DeprecationWarning, r".*"),
)


def apply_warning_filters():
  """Installs the filters above (idempotent). Runs on import; pytest calls it again in
  `pytest_configure`, since filters added while pytest collects are reset after collection."""
  for action, message, category, module in _WARNINGS:
    warnings.filterwarnings(action, message=message, category=category, module=module)


apply_warning_filters()


class _DropMessages(logging.Filter):
  """Drops log records whose message contains one of `needles` (third-party loggers only)."""

  def __init__(self, *needles: str):
    super().__init__()
    self.needles = needles

  def filter(self, record: logging.LogRecord) -> bool:
    msg = record.getMessage()
    return not any(n in msg for n in self.needles)


# TF's deprecation notices for tf-agents' ReplayBuffer.gather_all (the A2C rollout read, the
# documented way to read a whole rollout in a traced function) and for tf-agents' own n-step
# return (`common.discounted_return` calls tf.foldr with back_prop=False; `dqn_nstep`), and
# absl's notice that PolicySaver renames nested argument names ("0/step_type" -> "arg_0_step_type").
logging.getLogger("tensorflow").addFilter(_DropMessages(
    "gather_all (from tf_agents",
    "calling foldr_v2 (from tensorflow.python.ops.functional_ops) with back_prop=False"))
logging.getLogger("absl").addFilter(_DropMessages("is not a valid tf.function parameter name"))
