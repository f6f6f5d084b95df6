"""The experiment layer: scale rules of make_run_spec (at least 5 evaluations per run at every
scale), --set overrides, the registry (Figure 3's pg is Figure 1's a2c_proper run), the reports'
summary and Figure 3 agreement on a hand-made CSV (the progress schema table:
tests/test_docs.py)."""
import dataclasses
import importlib
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
import tensorflow as tf
from tf_agents.agents import tf_agent

import agents.a2c
import agents.dqn
from artifact.analysis import curves
from artifact.analysis.results import LONG_COLUMNS
from artifact.experiment.hparams import A2CHparams, DQNHparams
from artifact.experiment.registry import FIGURES, Condition, find_condition
from artifact.experiment.runspec import make_run_spec
from artifact.experiment.scales import SCALES, frames_text
from artifact.experiment.schedule import eval_updates
from artifact.grid import cli, planning
from artifact.training import pool
from artifact.training.a2c import build_a2c_agent
from artifact.training.dqn import build_dqn_agent
from artifact.training.trainer import AGENT_CLASSES, agent_class

from helpers import run_spec, specs


# --- make_run_spec and the scales -----------------------------------------------------------------
def test_dqn_schedules_at_smoke_scale():
  spec = make_run_spec(2, "Pong", "dqn", 0, "smoke")            # 1,200 frames = 300 agent steps
  hp = spec.hparams
  assert spec.frames == 1_200
  assert hp.learning_starts == 40                                # max(32 + 8, 300 // 10 = 30)
  assert hp.target_update_period == 15                           # max(4, min(1000, 300 // 20))
  assert hp.replay_capacity == 20_000 and hp.epsilon_fraction == 0.1
  big = make_run_spec(2, "Pong", "dqn", 0, "smoke", frames=4_000_000)   # 1M agent steps
  assert big.hparams.learning_starts == 100_000                  # 10% of the agent steps
  assert big.hparams.target_update_period == 1_000               # capped at the paper's 1,000


def test_dqn_schedules_at_paper_and_short_scale_are_the_papers():
  # a short run, and a run of any --frames, is the first N frames of the paper's run
  for scale, frames in (("paper", 40_000_000), ("short", 5_000_000), ("short", 1_234_567)):
    spec = make_run_spec(2, "Breakout", "soft_dqn_ent_0.1", 1, scale,
                         None if frames in (40_000_000, 5_000_000) else frames)
    hp = spec.hparams
    assert spec.frames == frames and hp.replay_capacity == 1_000_000
    assert hp.horizon_frames == 40_000_000 and spec.eval_schedule == "fixed"
    assert spec.log_every_frames == 100_000
    assert hp.learning_starts == 10_000 and hp.target_update_period == 1_000
    assert (hp.epsilon_start, hp.epsilon_end, hp.epsilon_fraction) == (1.0, 0.01, 0.1)
    assert spec.agent_kwargs == {"tau": 0.1}


def test_a2c_budgets_and_evaluations_per_scale():
  from artifact.experiment.schedule import eval_updates
  expect = {"smoke": (6_400, 5, 2, 500), "short": (10_000_000, 4 + 8 + 5, 8, 27_000),
            "paper": (320_000_000, 4 + 8 + 5 + 12 + 28, 10, 108_000)}
  for scale, (frames, evals, games, cap) in expect.items():
    spec = make_run_spec(1, "Qbert", "a2c_1step", 0, scale)
    n_evals = len(eval_updates(spec.eval_schedule, spec.frames, 320))
    assert ((spec.frames, n_evals, spec.eval_games, spec.eval_max_frames)
            == (frames, evals, games, cap))
    # the paper's learning-rate horizon (320M frames) except at smoke, which shrinks it
    assert spec.hparams == A2CHparams(horizon_frames=6_400 if scale == "smoke" else 320_000_000)
  assert set(SCALES) == {"smoke", "short", "paper"}


@pytest.mark.parametrize("scale", list(SCALES))
def test_every_run_has_at_least_five_evaluations(scale):
  for f, fig in FIGURES.items():
    cond = fig.conditions[0]
    spec = make_run_spec(f, fig.games[0], cond.name, 0, scale)
    per_update = (spec.hparams.n_steps * spec.hparams.num_envs * 4 if cond.family == "a2c"
                  else spec.hparams.train_period * 4)
    updates = -(-spec.frames // per_update)
    at = eval_updates(spec.eval_schedule, spec.frames, per_update)
    assert len(at) >= 5 and at[-1] == updates, (scale, f)


def test_every_condition_resolves_to_a_class_of_the_agent_table():
  seen = {}
  for fig in FIGURES.values():
    for c in fig.conditions:
      cls = agent_class(c)
      assert cls is AGENT_CLASSES[c.agent], c.name
      seen.setdefault(c.name, cls)
  # each class of the table is built by a condition, and is its agents module's own class
  assert {c.agent for f in FIGURES.values() for c in f.conditions} == set(AGENT_CLASSES)
  for key, cls in AGENT_CLASSES.items():
    module = importlib.import_module(cls.__module__)
    assert cls.__module__ in ("agents.a2c", "agents.dqn", "agents.soft_ql"), key
    assert getattr(module, cls.__name__) is cls and issubclass(cls, tf_agent.TFAgent), key
  assert seen["dqn_nstep"] is agents.dqn.DQNNStepAgent and seen["pg"] is agents.a2c.A2CProperAgent
  assert seen["soft_dqn_kl_0.01"] is seen["soft_dqn_kl_0.1"] is agents.dqn.SoftDQNKLAgent
  assert find_condition("dqn_nstep").agent_kwargs == ()
  assert find_condition("soft_dqn_kl_0.01").agent_kwargs == (("tau", 0.01),)


def test_an_unknown_agent_or_an_undeclared_agent_argument_is_refused():
  with pytest.raises(ValueError, match="unknown agent 'a2c.A2CNaiveAgent'; valid: a2c_naive"):
    agent_class(Condition("x", "a2c.A2CNaiveAgent", "a2c"))
  with pytest.raises(ValueError, match="agent argument 'temperature' is not declared"):
    Condition("x", "soft_dqn_ent", "dqn", (("temperature", 0.1),))
  with pytest.raises(ValueError, match="agent argument 'tau' is also a hyperparameter of the a2c"):
    Condition("x", "soft_ql", "a2c", (("tau", 0.1),))
  with pytest.raises(ValueError, match="unknown family 'ppo'"):
    Condition("x", "a2c_naive", "ppo")


def test_frames_text_is_exact_where_round_and_three_digits_elsewhere():
  texts = {1_200: "1,200", 6_400: "6,400", 99_999: "99,999", 100_000: "100k", 250_000: "250k",
           123_456: "123k", 999_999: "1,000k", 1_000_000: "1M", 2_500_000: "2.5M",
           2_999_360: "3M", 1_234_567: "1.23M", 320_000_000: "320M"}
  assert {n: frames_text(n) for n in texts} == texts


def test_pg_is_the_a2c_proper_run():
  pg = make_run_spec(3, "Seaquest", "pg", 2, "short")
  proper = make_run_spec(1, "Seaquest", "a2c_proper", 2, "short")
  assert pg == proper and pg.relpath() == "figure1/Seaquest/a2c_proper/seed2"


# --- --set ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("condition,figure", [("soft_dqn_kl_0.1", 2), ("soft_ql", 3)])
def test_set_reaches_the_agent_and_config_json(tmp_path, condition, figure):
  plan = planning.plan_from_args(cli.build_parser().parse_args(
      ["--figures", str(figure), "--games", "Pong", "--conditions", condition, "--seeds", "0",
       "--set", "tau=0.05", "--set", "lr=3e-4", "--out", str(tmp_path)]))
  (spec,) = plan.specs
  pool.close_all()
  trainer = pool.acquire(spec)
  assert trainer.agent.tau == pytest.approx(0.05)
  lr = trainer.agent._optimizer.learning_rate
  lr = float(lr(0)) if callable(lr) else float(lr.numpy())
  assert lr == pytest.approx(3e-4)
  pool.close_all()
  from artifact.training.runner import Run
  Run(spec, tmp_path / "run").prepare()
  cfg = json.loads((tmp_path / "run" / "config.json").read_text())
  assert cfg["hparams"]["lr"] == pytest.approx(3e-4)
  tau = cfg["agent_kwargs"]["tau"] if figure == 2 else cfg["hparams"]["tau"]
  assert tau == pytest.approx(0.05)


# Each agent argument of a family (its hyperparameters the agent takes, and the condition's
# declared arguments) as --set gives it, and where the built agent holds it.
AGENT_ARGUMENTS = [
    ("soft_ql", "tau", "0.05", lambda a: a.tau, 0.05),
    ("a2c_1step", "tau", "0.03", lambda a: a.tau, 0.03),
    ("a2c_proper", "gamma", "0.9", lambda a: a.gamma, 0.9),
    ("a2c_proper", "value_coef", "0.25", lambda a: a.value_coef, 0.25),
    ("a2c_1step", "max_grad_norm", "2.5", lambda a: a._max_grad_norm, 2.5),
    ("soft_ql", "regularizer", "kl", lambda a: a.regularizer, "kl"),
    ("soft_dqn_ent_0.1", "tau", "0.05", lambda a: a.tau, 0.05),
    ("soft_dqn_kl_0.01", "tau", "0.2", lambda a: a.tau, 0.2),
    ("dqn", "gamma", "0.9", lambda a: a._gamma, 0.9),
    ("dqn_nstep", "grad_clip", "3.0", lambda a: a._gradient_clipping, 3.0),
]


def _agent_of(spec):
  """The agent `spec`'s family builds, on 4-d observations with 3 actions (MLP torso)."""
  time_step_spec, action_spec, obs_spec = specs()
  if spec.family == "a2c":
    return build_a2c_agent(spec, time_step_spec, action_spec, obs_spec, 3, decay_updates=10, seed=0)
  return build_dqn_agent(spec, time_step_spec, action_spec, obs_spec, 3, 1_000, 0,
                         tf.Variable(0, dtype=tf.int64))


@pytest.mark.parametrize("condition,key,raw,held,value", AGENT_ARGUMENTS)
def test_a_set_agent_argument_reaches_the_agent(condition, key, raw, held, value):
  figure = next(f for f in FIGURES if condition in [c.name for c in FIGURES[f].conditions])
  argv = ["--figures", str(figure), "--games", "Pong", "--conditions", condition, "--seeds", "0"]
  args = cli.build_parser().parse_args(argv + ["--set", f"{key}={raw}"])
  (spec,) = planning.plan_from_args(args).specs
  default = held(_agent_of(run_spec(condition)))
  assert default != value and held(_agent_of(spec)) == pytest.approx(value)


def test_a_declared_agent_argument_of_the_a2c_family_reaches_the_agent():
  # the one channel: both families' builders pass the spec's agent_kwargs to the agent class
  spec = dataclasses.replace(run_spec("a2c_1step"), agent_kwargs={"name": "probe"})
  assert _agent_of(spec).name == "probe"
  soft = dataclasses.replace(run_spec("soft_dqn_ent_0.1"), agent_kwargs={"tau": 0.7})
  assert _agent_of(soft).tau == 0.7


def test_a_bad_set_key_fails_before_any_work(tmp_path):
  with pytest.raises(SystemExit) as e:
    cli.main(["--figures", "1", "--set", "learning_rate=1e-3", "--out", str(tmp_path / "o")])
  assert "unknown key 'learning_rate'" in str(e.value) and "lr" in str(e.value)
  assert not (tmp_path / "o").exists()


def test_dqn_hparams_validate():
  with pytest.raises(ValueError, match="num_envs must be 1"):
    DQNHparams(num_envs=4).validate()


# --- reports on a hand-made CSV -------------------------------------------------------------------
def _hand_made():
  rows = []
  # pg and soft_ql on one game, 2 seeds, evaluations at 100 and 200 frames
  evals = {("pg", 0): (10.0, 20.0), ("pg", 1): (14.0, 24.0),
           ("soft_ql", 0): (11.0, 23.0), ("soft_ql", 1): (15.0, 25.0)}
  for (cond, seed), (e1, e2) in evals.items():
    for fr, ev in ((50, math.nan), (100, e1), (150, math.nan), (200, e2)):
      rows.append(dict(figure=3, game="Seaquest", condition=cond, seed=seed, frames=fr,
                       train_return=ev if not math.isnan(ev) else 5.0, eval_return=ev))
  return pd.DataFrame(rows).reindex(columns=LONG_COLUMNS)


def test_summarize_and_agreement_on_a_hand_made_csv():
  df = _hand_made()
  s = curves.summarize(df, 3).set_index("condition")
  assert s.loc["pg", "final_eval_mean"] == pytest.approx(22.0)          # (20 + 24) / 2
  assert s.loc["pg", "final_eval_std"] == pytest.approx(2.0)            # population std
  assert s.loc["soft_ql", "final_eval_mean"] == pytest.approx(24.0)
  assert s.loc["pg", "seeds"] == 2 and s.loc["pg", "frames"] == 200 and not s.loc["pg", "extension"]
  # gap: mean over frames 100 and 200 of |mean pg - mean soft_ql| = (|12 - 13| + |22 - 24|) / 2
  assert s.loc["pg", "curve_gap"] == pytest.approx(1.5)
  # spread: mean of the std between seeds at each frame point, both conditions: all 2.0 or 1.0
  assert s.loc["pg", "seed_spread"] == pytest.approx((2 + 2 + 2 + 1) / 4)
  assert s.loc["pg", "gap_over_spread"] == pytest.approx(1.5 / 1.75)
  assert s.loc["pg", "curve_metric"] == "eval_return"


def test_extension_games_are_marked():
  df = _hand_made().assign(game="Tetris")
  assert curves.summarize(df, 3)["extension"].all()


# --- the progress schema, defined once ------------------------------------------------------------
def test_gpu_requirements_differ_from_the_cpu_ones_only_in_tensorflow():
  root = Path(__file__).resolve().parent.parent

  def pins(name):
    lines = [line.split("#")[0].strip() for line in (root / name).read_text().splitlines()]
    return [line for line in lines if line]
  cpu, gpu = pins("requirements.txt"), pins("requirements-gpu.txt")
  tf_line = re.compile(r"^tensorflow(-cpu|\[and-cuda\])?==")    # not tensorflow-probability
  assert [p for p in cpu if not tf_line.match(p)] == [p for p in gpu if not tf_line.match(p)]
  assert "tensorflow[and-cuda]==2.15.1" in gpu
  tf_pins = [p for p in cpu if tf_line.match(p)]  # one build per platform, one version
  assert {p.split(";")[0].strip() for p in tf_pins} == {"tensorflow-cpu==2.15.1",
                                                        "tensorflow==2.15.1"}
