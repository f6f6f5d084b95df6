import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_configure(config):
  """The known third-party notices are filtered in artifact/quiet.py; import the libraries that
  raise them here, under those filters, before pytest's per-test capture shows them again."""
  del config
  from artifact import quiet
  quiet.apply_warning_filters()
  import tf_agents.agents  # noqa: F401  (distutils notices of tf-agents 0.19 and tfp 0.23)


@pytest.fixture(autouse=True)
def _restore_kernel_path_variable():
  """The command line run inside the test process sets TF_ENABLE_ONEDNN_OPTS (to the kernel path
  its grid runs, `artifact.training.machine.use_onednn`); each test gets the variable back as it
  found it, so that the processes later tests start choose their own path."""
  name = "TF_ENABLE_ONEDNN_OPTS"
  before = os.environ.get(name)
  yield
  if before is None:
    os.environ.pop(name, None)
  else:
    os.environ[name] = before


@pytest.fixture(autouse=True)
def _rate_cache_copy(tmp_path_factory, monkeypatch):
  """Every test reads the committed wrong-verdict rate cache (artifact/analysis/rate_cache.json)
  from a copy of its own, so that entries a test computes (at its own, smaller draw counts) never
  reach the repository's file."""
  import shutil

  from artifact.analysis import error_rates as er
  src = Path(er.__file__).with_name("rate_cache.json")
  dst = tmp_path_factory.mktemp("rates") / "rate_cache.json"  # beside, not in, the test's tmp_path
  if src.exists():
    shutil.copy(src, dst)
  monkeypatch.setattr(er, "CACHE", er.RateCache(dst))
