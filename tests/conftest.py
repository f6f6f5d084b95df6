import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_configure(config):
  """The known third-party notices are filtered in artifact/quiet.py; import the libraries that
  raise them here, under those filters, before pytest's per-test capture shows them again."""
  del config
  from artifact import quiet
  quiet.apply_warning_filters()
  import tf_agents.agents  # noqa: F401  (distutils notices of tf-agents 0.19 and tfp 0.23)
