"""The whole pipeline at a tiny budget: CLI -> runs -> reports, saved policies, resume, an
unwritable --out (bad arguments: tests/test_inputs.py)."""
import json

import numpy as np
import pandas as pd
import pytest

from artifact.analysis.curves import SUMMARY_COLUMNS
from artifact.analysis.results import LONG_COLUMNS
from artifact.experiment.runspec import make_run_spec
from artifact.grid import cli
from artifact.training import runner

RUN_FILES = {"config.json", "progress.csv", "checkpoint", "policy", "done.json"}


@pytest.fixture(scope="module")
def out(tmp_path_factory):
  d = tmp_path_factory.mktemp("out")
  code = cli.main(["--figures", "1,2,3", "--games", "Pong", "--conditions",
                   "a2c_proper,dqn,pg,soft_ql",
                   "--seeds", "0", "--frames", "640", "--out", str(d), "--jobs", "1",
                   "--no-theory"])
  assert code == 0
  return d


@pytest.mark.slow
def test_runs_and_reports_are_written_with_documented_columns(out):
  # Figure 3's pg is Figure 1's a2c_proper run, trained once and reported in both figures
  assert not (out / "runs" / "figure3/Pong/pg").exists()
  for rel in ("figure1/Pong/a2c_proper/seed0", "figure2/Pong/dqn/seed0",
              "figure3/Pong/soft_ql/seed0"):
    run_dir = out / "runs" / rel
    assert RUN_FILES <= {p.name for p in run_dir.iterdir()}, rel
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["frames"] == 640 and cfg["game"] == "Pong"
  for f in (1, 2, 3):
    long = pd.read_csv(out / "reports" / f"figure{f}.csv")
    assert list(long.columns) == LONG_COLUMNS
    assert len(long) >= 2 and (long["game"] == "Pong").all() and long["frames"].max() == 640
    assert long["eval_return"].notna().sum() >= 1          # raw game score of evaluation games
    assert long["eval_return"].dropna().between(-21, 21).all()
    summary = pd.read_csv(out / "reports" / f"figure{f}_summary.csv")
    assert list(summary.columns)[:len(SUMMARY_COLUMNS)] == SUMMARY_COLUMNS
    assert (summary["seeds"] == 1).all()
    assert (out / "reports" / f"figure{f}.pdf").read_bytes()[:4] == b"%PDF"
  # every condition really trained at this budget (DQN: learning starts after 10% of the steps)
  for rel in ("figure2/Pong/dqn/seed0", "figure1/Pong/a2c_proper/seed0"):
    progress = pd.read_csv(out / "runs" / rel / "progress.csv")
    assert progress["loss"].notna().sum() >= 2 and np.isfinite(progress["loss"].dropna()).all()
  s3 = pd.read_csv(out / "reports" / "figure3_summary.csv")
  assert {"curve_gap", "seed_spread", "gap_over_spread"} <= set(s3.columns)
  assert set(s3["condition"]) == {"pg", "soft_ql"}


@pytest.mark.slow
def test_saved_policy_loads_and_acts(out):
  from tf_agents.policies.py_tf_eager_policy import SavedModelPyTFEagerPolicy

  from envs.atari import make_atari_env
  env = make_atari_env("Pong", num_envs=2, seed=3, reuse=False)
  for rel in ("figure1/Pong/a2c_proper/seed0", "figure2/Pong/dqn/seed0"):
    policy = SavedModelPyTFEagerPolicy(str(out / "runs" / rel / "policy"), env.time_step_spec(),
                                       env.action_spec(), batch_time_steps=False)
    t = env.reset()
    for _ in range(5):
      a = policy.action(t).action
      assert a.shape == (2,) and np.all((a >= 0) & (a < 6))
      t = env.step(a)
  env.close()


@pytest.mark.slow
def test_finished_runs_are_skipped_and_killed_runs_resume(out, capsys):
  spec = make_run_spec(1, "Pong", "a2c_proper", 0, "smoke", frames=640)
  run_dir = out / "runs" / spec.relpath()
  before = pd.read_csv(run_dir / "progress.csv")
  runner.run(spec, run_dir)
  assert "already finished" in capsys.readouterr().out
  (run_dir / "done.json").unlink()                      # as if killed after the last checkpoint
  done = runner.run(spec, run_dir)
  assert "resuming from checkpoint at 640 frames" in capsys.readouterr().out
  assert done["frames"] == 640
  pd.testing.assert_frame_equal(pd.read_csv(run_dir / "progress.csv"), before)


@pytest.mark.slow
def test_a_different_config_in_the_same_dir_is_refused(out):
  spec = make_run_spec(1, "Pong", "a2c_proper", 0, "smoke", frames=1280)
  with pytest.raises(ValueError, match="different config"):
    runner.run(spec, out / "runs" / "figure1/Pong/a2c_proper/seed0")


def test_unwritable_out_dir(tmp_path):
  target = tmp_path / "file"
  target.write_text("x")
  with pytest.raises(SystemExit) as e:
    cli.main(["--out", str(target / "sub")])
  assert "is not writable" in str(e.value)


def test_list_prints_the_full_default_grid(capsys):
  assert cli.main(["--list", "--runs"]) == 0
  out = capsys.readouterr().out
  # 144 (figure, game, condition, seed) curves; Figure 3's 18 pg runs are Figure 1's a2c_proper
  assert out.startswith("126 runs (18 of them serve two figures), 432,000 frames in all")
  assert out.index("estimated cost: ") < out.index("\nruns:\n")       # the summary first
  assert out.count("serving figure 1 a2c_proper and figure 3 pg") == 18
  assert "figure3/Pong/pg" not in out


@pytest.mark.parametrize("jobs", [1, 2])
def test_env_groups_reaches_each_run_as_an_argument(tmp_path, monkeypatch, jobs):
  """--env-groups travels as an argument (planning -> executor -> worker -> runner -> trainer), not
  through the environment. With --jobs 1 the run trains in this process: the trainer factory is
  replaced to record what it receives and stop the run there."""
  import os

  from artifact.training import pool
  seen = []

  def acquire(spec, env_groups=None):
    seen.append((spec.relpath(), env_groups))
    raise RuntimeError("stopped before training")
  if jobs == 1:
    monkeypatch.setattr(pool, "acquire", acquire)
  else:            # a worker process cannot be patched: check the executor the grid builds
    from artifact.grid import executors
    made = []
    real = executors.make_executor
    monkeypatch.setattr(executors, "make_executor",
                        lambda *a, **kw: made.append(real(*a, **kw)) or made[-1])
    monkeypatch.setattr(executors.LocalExecutor, "run",
                        lambda self, specs, out, on_event, stop_file=None:
                        [(s.relpath(), "not trained") for s in specs])
  code = cli.main(["--figures", "1", "--games", "Pong", "--conditions", "a2c_1step", "--seeds", "0",
                   "--env-groups", "2", "--jobs", str(jobs), "--out", str(tmp_path)])
  assert code == 1                                   # the run did not train
  if jobs == 1:
    assert seen == [("figure1/Pong/a2c_1step/seed0", 2)]
  else:
    assert [e.env_groups for e in made] == [2]
  assert not any(k.startswith("PG_SOFTQ") for k in os.environ)
