"""Every numeric and command-line input is checked, finite and of the right kind, before any work:
the error names the bad value and what is allowed, the exit status is 2, nothing is written."""
import dataclasses
import math

import pytest

from artifact.experiment.hparams import A2CHparams, DQNHparams
from artifact.experiment.registry import FIGURES
from artifact.experiment.runspec import make_run_spec
from artifact.experiment.scales import SCALES
from artifact.grid import cli, planning

SOFT = ["--figures", "2", "--games", "Pong", "--conditions", "soft_dqn_ent_0.1"]


@pytest.mark.parametrize("argv,needle", [
    (["--frames", "inf"],
     "--frames must be a positive integer (whole emulator frames, e.g. 3000000 or 3e6), got 'inf'"),
    (["--frames", "nan"],
     "--frames must be a positive integer (whole emulator frames, e.g. 3000000 or 3e6), got 'nan'"),
    (["--frames=-inf"],
     "--frames must be a positive integer (whole emulator frames, e.g. 3000000 or 3e6), "
     "got '-inf'"),
    (["--frames", "1.7"],
     "--frames must be a positive integer (whole emulator frames, e.g. 3000000 or 3e6), got '1.7'"),
    (["--frames", "6400.5"], "got '6400.5'"),
    (["--frames", "1e20"],
     "--frames must be at most 9,007,199,254,740,992 (beyond any budget), got '1e20'"),
    (["--figures", "1", "--set", "lr=inf"], "lr must be a finite number, got inf (--set lr=inf)"),
    (["--figures", "1", "--set", "lr=nan"], "lr must be a finite number, got nan"),
    (["--figures", "1", "--set", "tau=nan"], "tau must be a finite number, got nan"),
    (["--figures", "1", "--set", "max_grad_norm=-inf"],
     "max_grad_norm must be a finite number, got -inf"),
    (SOFT + ["--set", "tau=nan"], "tau must be a finite number, got nan"),
    (SOFT + ["--set", "tau=inf"], "tau must be a finite number, got inf"),
    (SOFT + ["--set", "tau=0"], "tau must be > 0 for soft Q-learning"),
    (["--figures", "2", "--set", "learning_starts=1e12"],
     "learning_starts must be at most 10,000,000,000 (beyond any sensible budget), got "
     "1,000,000,000,000"),
    (["--figures", "2", "--set", "replay_capacity=1e30"],
     "replay_capacity must be at most 10,000,000,000"),
    (["--figures", "2", "--set", "learning_starts=inf"], "learning_starts takes a int, got 'inf'"),
    (["--figures", "2", "--set", "learning_starts=nan"], "learning_starts takes a int, got 'nan'"),
    (["--figures", "1", "--set", "num_envs=1.5"], "num_envs takes a int, got '1.5'"),
    (["--seeds", "0,0"],
     "--seeds '0,0' lists seed 0 more than once; each seed is one run: list each once"),
    (["--seeds", "2,1,2,1,3"], "lists seed 1, 2 more than once"),
    (["--status-every", "inf"], "--status-every must be a finite number > 0, got inf"),
    (["--status-every", "nan"], "--status-every must be a finite number > 0, got nan"),
    (["--status-every", "0"], "--status-every must be > 0, got 0"),
    (["--status-every", "-5"], "--status-every must be > 0, got -5"),
    (["--cpus-per-run", "inf"], "--cpus-per-run must be a finite number > 0, got inf"),
    (["--cpus-per-run", "nan"], "--cpus-per-run must be a finite number > 0, got nan"),
    (["--cpus-per-run", "-1"], "--cpus-per-run must be > 0, got -1"),
    (["--checkpoint-every", "inf"], "--checkpoint-every must be a finite number > 0, got inf"),
    (["--checkpoint-every", "nan"], "--checkpoint-every must be a finite number > 0, got nan"),
    (["--executor", "ray", "--gpus-per-run", "inf"],
     "--gpus-per-run must be a finite number > 0, got inf"),
    (["--executor", "ray", "--ray-address", ""],
     "--ray-address '' is empty; give the Ray cluster's head as HOST:PORT"),
    (["--executor", "ray", "--ray-address", "  "], "--ray-address '  ' is empty"),
    (["--ray-address", ""], "--ray-address '' is empty"),
    (["--figures", "4"], "unknown figure '4'; valid: 1, 2, 3"),
    (["--games", "Pongg"], "unknown game 'Pongg'"),
    (["--figures", "2", "--games", "Pong", "--set", "nope=1"],
     "unknown key 'nope'; valid for the selected runs: adam_eps"),
    (["--figures", "1", "--set", "lr=fast"], "lr takes a float, got 'fast'"),
    (["--figures", "1", "--set", "n_steps=2.5"], "n_steps takes a int, got '2.5'"),
    (["--figures", "1", "--set", "gamma=2"], "gamma must be in [0, 1], got 2.0"),
    (["--figures", "1", "--set", "lr"], "expected key=value"),
    (["--figures", "1", "--conditions", "dqn"],
     "unknown condition 'dqn' for figure(s) 1; valid: a2c_1step, a2c_proper"),
    (["--scale", "huge"], "unknown scale 'huge'; valid: smoke, short, paper"),
    (["--frames", "-5"], "--frames must be a positive integer"),
    (["--frames", "0"], "--frames must be a positive integer"),
    (["--seeds", "a"], "--seeds must be"),
    (["--jobs", "0"], "--jobs must be >= 1"),
    (["--executor", "slurm"], "unknown --executor 'slurm'; valid: local, ray"),
    (["--cpus-per-run", "0"], "--cpus-per-run must be > 0, got 0"),
    (["--executor", "ray", "--gpus-per-run", "-1"], "--gpus-per-run must be > 0, got -1"),
    (["--checkpoint-every", "0"], "--checkpoint-every must be > 0, got 0"),
    (["--env-groups", "0"],
     "--env-groups must be auto or an integer in [1, num_envs] (16 envs per A2C run), got '0'"),
    (["--env-groups", "two"], "--env-groups must be auto or an integer in [1, num_envs]"),
    (["--figures", "1", "--env-groups", "17"],
     "--env-groups 17: more groups than the 16 envs of an A2C run"),
    (["--checkpoint-every", "-30"], "--checkpoint-every must be > 0, got -30"),
    (["--ray-address", "127.0.0.1:1"], "--ray-address '127.0.0.1:1' needs --executor ray"),
    (["--gpus-per-run", "1"], "--gpus-per-run is for --executor ray"),
    # nothing listens on port 1 of this machine: refused before Ray starts or any run is written
    (["--executor", "ray", "--ray-address", "127.0.0.1:1", "--figures", "1", "--games", "Pong",
      "--conditions", "a2c_1step", "--seeds", "0"], "--ray-address '127.0.0.1:1' is unreachable"),
    # a replay of 1e8 transitions (~7 KB each in a checkpoint) needs more disk than this machine has
    (["--figures", "2", "--games", "Pong", "--conditions", "dqn", "--seeds", "0", "--frames",
      "4e12",
      "--set", "replay_capacity=100000000"], "the selected runs' checkpoints need about"),
])
def test_bad_input_exits_2_naming_the_value_and_writes_nothing(tmp_path, capsys, argv, needle):
  out = tmp_path / "out"
  keep = out / "reports" / "figure1.csv"
  keep.parent.mkdir(parents=True)
  keep.write_text("precious")
  with pytest.raises(SystemExit) as e:
    cli.main(argv + ["--out", str(out)])
  assert e.value.code == 2
  assert needle in str(e.value)
  assert needle in capsys.readouterr().err               # what the command line shows
  assert keep.read_text() == "precious"                  # nothing already written is lost
  written = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
  assert written == ["reports", "reports/figure1.csv"]


@pytest.mark.parametrize("argv,needle", [
    (["--figures", "3", "--conditions", "soft_ql"], "tau must be >= 0, got -0.5 (--set tau=-0.5)"),
    (SOFT, "tau must be > 0 for soft Q-learning (its target divides by tau), got -0.5 (--set "
           "tau=-0.5)"),
    (["--figures", "1,2,3"], "tau must be >= 0, got -0.5 (--set tau=-0.5)"),
])
def test_an_out_of_range_tau_is_refused_once_before_any_work(tmp_path, capsys, argv, needle):
  with pytest.raises(SystemExit) as e:
    cli.main(argv + ["--games", "Pong", "--set", "tau=-0.5", "--out", str(tmp_path / "out")])
  err = capsys.readouterr().err
  assert e.value.code == 2 and needle in str(e.value) and needle in err
  assert err.count("tau must be") == 1                   # one message, not one per run or check
  assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [["--frames", "inf"], ["--scale", "huge"], ["--seeds", "0,0"],
                                  ["--figures", "1", "--set", "lr=nan"], ["--jobs", "0"]])
def test_a_bad_argument_does_not_even_create_out(tmp_path, argv):
  out = tmp_path / "out"
  with pytest.raises(SystemExit) as e:
    cli.main(argv + ["--out", str(out)])
  assert e.value.code == 2
  assert not out.exists()


@pytest.mark.parametrize("name", ["runs[1]", "runs*", "what?", "a]b[c"])
def test_an_out_dir_with_glob_characters_is_refused(tmp_path, name):
  out = tmp_path / name
  with pytest.raises(SystemExit) as e:
    cli.main(["--figures", "1", "--games", "Pong", "--seeds", "0", "--out", str(out)])
  assert e.value.code == 2
  assert f"--out {str(out)!r} contains" in str(e.value)
  assert ("TensorFlow's checkpoint clean-up treats the run directories' paths as glob patterns"
          in str(e.value))
  assert "'[', '*', '?'" in str(e.value)
  assert not out.exists()


def test_plan_from_args_refuses_before_anything_is_written(tmp_path):
  out = tmp_path / "new" / "out"
  args = cli.build_parser().parse_args(["--figures", "1", "--set", "lr=inf", "--out", str(out)])
  with pytest.raises(planning.UsageError, match="lr must be a finite number, got inf") as e:
    planning.plan_from_args(args)
  assert e.value.code == 2 and not (tmp_path / "new").exists()


def test_good_values_still_pass(tmp_path):
  args = cli.build_parser().parse_args(
      ["--figures", "1,2", "--games", "Pong", "--seeds", "0,1", "--frames", "3e6", "--set",
       "lr=3e-4",
       "--set", "learning_starts=1e4", "--status-every", "0.5", "--checkpoint-every", "60",
       "--cpus-per-run", "1", "--out", str(tmp_path / "out")])
  plan = planning.plan_from_args(args)
  assert {s.frames for s in plan.specs} == {3_000_000}
  assert {s.hparams.lr for s in plan.specs} == {3e-4}
  assert {s.hparams.learning_starts for s in plan.specs if s.family == "dqn"} == {10_000}


@pytest.mark.parametrize("hp,field,value,needle", [
    (A2CHparams, "lr", math.inf, "lr must be a finite number, got inf"),
    (A2CHparams, "tau", math.nan, "tau must be a finite number, got nan"),
    (A2CHparams, "gamma", math.nan, "gamma must be a finite number, got nan"),
    (A2CHparams, "value_coef", -math.inf, "value_coef must be a finite number, got -inf"),
    (A2CHparams, "n_steps", 5.0, "n_steps must be an integer, got 5.0"),
    (A2CHparams, "num_envs", True, "num_envs must be an integer, got True"),
    (A2CHparams, "lr", "7e-4", "lr must be a finite number, got '7e-4'"),
    (A2CHparams, "lr", True, "lr must be a finite number, got True"),
    (DQNHparams, "learning_starts", 1.5, "learning_starts must be an integer, got 1.5"),
    (DQNHparams, "batch_size", 2 ** 60,
     "batch_size must be at most 9,007,199,254,740,992 in magnitude"),
    (DQNHparams, "epsilon_end", math.nan, "epsilon_end must be a finite number, got nan"),
    (DQNHparams, "grad_clip", math.inf, "grad_clip must be a finite number, got inf"),
    (DQNHparams, "precision", 32, "precision must be a string, got 32"),
])
def test_validate_wants_every_float_finite_and_every_int_an_int(hp, field, value, needle):
  with pytest.raises(ValueError) as e:
    dataclasses.replace(hp(), **{field: value}).validate()
  assert needle in str(e.value)


def test_every_registered_run_validates():
  for f, fig in FIGURES.items():
    for c in fig.conditions:
      for scale in SCALES:
        make_run_spec(f, fig.games[0], c.name, 0, scale)      # validate() runs inside
  A2CHparams().validate()
  DQNHparams().validate()
  assert isinstance(DQNHparams().lr, float) and math.isfinite(DQNHparams().lr)
