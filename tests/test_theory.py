"""The paper's identities hold to float64 round-off on real Keras networks, and the checks can
fail."""
import pytest

from artifact.analysis import theory


def _rel(r):
  return r["max_abs_error"] / r["term_scale"]


def test_bandit_identity_holds_and_per_sample_gradients_differ():
  r = theory.check_bandit()
  assert _rel(r) < 1e-11 and r["term_scale"] > 1.0
  assert r["contrast"] > 1e-2


@pytest.mark.parametrize("network", ["mlp", "nature_cnn"])
def test_sec4_identity_holds_in_expectation_but_not_per_sample(network):
  r = theory.check_sec4(network=network)
  assert _rel(r) < 1e-11 and r["term_scale"] > 1.0
  assert r["contrast"] > 1.0                       # the zero-mean terms (*) and (**) of eq. 63


@pytest.mark.parametrize("tau", [0.1, 1.0])
def test_sec4_identity_at_other_temperatures(tau):
  assert _rel(theory.check_sec4(tau=tau)) < 1e-11


def test_sec4_wrong_coefficient_fails():
  r = theory.check_sec4(coef=1.0)                  # 1 instead of tau
  assert _rel(r) > 1e-3


def test_sec5_gauss_newton_step_is_the_natural_gradient_step():
  r = theory.check_sec5()
  assert _rel(r) < 1e-8
  assert r["contrast"] / r["term_scale"] > 1e-2    # a plain gradient step is a different step


def test_soft_ql_surrogate_identity():
  r = theory.check_soft_ql_surrogate()
  assert _rel(r) < 1e-11 and r["contrast"] > 1.0


def test_theory_report_files(tmp_path):
  import pandas as pd
  paths = theory.write_theory_report(tmp_path)
  df = pd.read_csv(paths["csv"])
  assert list(df.columns) == ["identity", "network", "tau", "max_abs_error", "term_scale",
                              "relative_error", "holds", "contrast", "contrast_meaning"]
  assert len(df) == 6 and set(df["identity"]) == {
      "sec2_bandit", "sec4_eq58_65", "sec4_eq58_65_coef1", "sec5_eq66_78", "soft_ql_surrogate"}
  assert (df["holds"] == (df["identity"] != "sec4_eq58_65_coef1")).all()
  assert paths["pdf"].stat().st_size > 1000
