"""Experiment specs: the registry (one line per condition in its figure spec), typed hyperparameters
with sources and units, scales, and the RunSpec that determines a run.

Units: "frames" are emulator frames = 4 x agent steps (docs/protocol.md section 2). Budgets are per run,
i.e. per (figure, game, condition, seed), summed over the run's parallel envs.
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Dict, Optional, Tuple

import numpy as np

from agents.precision import PRECISIONS
from artifact import schedule

LOG_POINTS_SMOKE = 20              # progress rows of a smoke run (spread over its budget)

# --- hyperparameters ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class A2CHparams:
  """A2C framework (Fig. 1 and 3): openai/baselines `a2c/a2c.py` defaults and paper Sec. 6.1.

  Attributes:
    num_envs: parallel envs (baselines `run_atari` num_env = 16).
    n_steps: rollout length n, agent steps per env per update (baselines nsteps = 5).
    gamma: discount per agent step.
    lr: RMSProp learning rate, linearly decayed to 0 over `horizon_frames` (baselines lr = 7e-4,
      'linear', over the whole run).
    horizon_frames: emulator frames over which the learning rate decays to 0: the paper run's
      budget (320M) at short and paper scale, so that a shorter run is the first N frames of the
      paper's run; the run's own budget at smoke scale. Past it the rate stays 0.
    rmsprop_rho: RMSProp decay (baselines alpha = 0.99).
    rmsprop_eps: RMSProp epsilon, inside the square root (baselines epsilon = 1e-5).
    max_grad_norm: global gradient-norm clip (baselines max_grad_norm = 0.5).
    value_coef: c, the weight of 0.5 * (R - V)^2 (baselines vf_coef = 0.5; paper eq. 85-86).
    tau: temperature, nats per agent step (paper Sec. 6.1, 6.3: 0.01).
    regularizer: "entropy" (bonus +tau*H, paper Sec. 6.1) or "kl" (penalty -tau*KL to uniform).
    precision: "float32" (default, the paper's) or "bfloat16": the CNN torso computes in
      bfloat16 (float32 variables); heads, losses and optimizer stay float32 (agents/networks.py).
  """
  num_envs: int = 16
  n_steps: int = 5
  gamma: float = 0.99
  lr: float = 7e-4
  horizon_frames: int = 320_000_000
  rmsprop_rho: float = 0.99
  rmsprop_eps: float = 1e-5
  max_grad_norm: float = 0.5
  value_coef: float = 0.5
  tau: float = 0.01
  regularizer: str = "entropy"
  precision: str = "float32"

  def validate(self):
    _check_kinds(self)
    if self.regularizer not in ("entropy", "kl"):
      raise ValueError(f"regularizer must be one of entropy, kl; got {self.regularizer!r}")
    _check_precision(self)
    _positive(self, "num_envs", "n_steps", "lr", "horizon_frames", "rmsprop_rho", "rmsprop_eps",
              "max_grad_norm")
    _in_unit(self, "gamma")
    if self.tau < 0 or self.value_coef < 0:
      raise ValueError(f"tau and value_coef must be >= 0; got {self.tau}, {self.value_coef}")


@dataclasses.dataclass(frozen=True)
class DQNHparams:
  """DQN family (Fig. 2): openai/baselines `deepq` Atari defaults (run_atari.py, deepq.py).

  Attributes:
    num_envs: environments; the DQN loop runs exactly one (baselines deepq).
    lr: Adam learning rate (1e-4).
    adam_eps: Adam epsilon (1e-8, the TF default, as baselines).
    batch_size: transitions per gradient step (32).
    replay_capacity: transitions kept (1M; frame-deduplicated storage; 20k at smoke scale).
    learning_starts: agent steps of pure collection before the first update (10k).
    train_period: agent steps per gradient step (4).
    target_update_period: agent steps between target-network syncs (1,000).
    epsilon_start, epsilon_end: exploration rate, linearly 1.0 -> 0.01 ...
    epsilon_fraction: ... over this fraction of `horizon_frames` (0.1: the first 4M frames).
    horizon_frames: the paper run's budget in emulator frames (40M) at short and paper scale, so
      that a shorter run is the first N frames of the paper's run; the run's own budget at smoke.
    gamma: discount per agent step (0.99).
    grad_clip: per-variable gradient-norm clip (baselines grad_norm_clipping = 10).
    eval_epsilon: epsilon of the evaluation policy (0.05, Mnih et al. 2015).
    precision: "float32" (default) or "bfloat16" for the torso, as in A2CHparams.
  """
  num_envs: int = 1
  lr: float = 1e-4
  adam_eps: float = 1e-8
  batch_size: int = 32
  replay_capacity: int = 1_000_000
  learning_starts: int = 10_000
  train_period: int = 4
  target_update_period: int = 1_000
  epsilon_start: float = 1.0
  epsilon_end: float = 0.01
  epsilon_fraction: float = 0.1
  horizon_frames: int = 40_000_000
  gamma: float = 0.99
  grad_clip: float = 10.0
  eval_epsilon: float = 0.05
  precision: str = "float32"

  def validate(self):
    _check_kinds(self)
    _check_precision(self)
    if self.num_envs != 1:
      raise ValueError(f"num_envs must be 1 for the DQN family (baselines deepq), got {self.num_envs}")
    _positive(self, "lr", "adam_eps", "batch_size", "replay_capacity", "train_period",
              "target_update_period", "grad_clip", "horizon_frames")
    if self.learning_starts < 0:
      raise ValueError(f"learning_starts must be >= 0, got {self.learning_starts}")
    _in_unit(self, "gamma", "epsilon_start", "epsilon_end", "epsilon_fraction", "eval_epsilon")


HPARAMS = {"a2c": A2CHparams, "dqn": DQNHparams}


MAX_SET_INT = 10 ** 10          # an integer given with --set (steps, transitions, envs): beyond any budget
MAX_FRAMES = 2 ** 53            # any integer (frames, steps; --frames): exact as a float


def check_value(name: str, value, kind: type):
  """`value` is of `kind` (the field's type): a float finite (an int is accepted), an int a real
  int (not a bool, not a float) of magnitude <= MAX_FRAMES, a str a str. Raises ValueError
  naming the value and what is allowed."""
  if kind is float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
      raise ValueError(f"{name} must be a finite number, got {value!r}")
  elif kind is int:
    if isinstance(value, bool) or not isinstance(value, int):
      raise ValueError(f"{name} must be an integer, got {value!r}")
    if abs(value) > MAX_FRAMES:
      raise ValueError(f"{name} must be at most {MAX_FRAMES:,} in magnitude, got {value:,}")
  elif kind is str and not isinstance(value, str):
    raise ValueError(f"{name} must be a string, got {value!r}")


def _check_kinds(hp):
  """Every field of `hp` of its declared kind (`check_value`, the kind of its default)."""
  for f in dataclasses.fields(hp):
    check_value(f.name, getattr(hp, f.name), type(f.default))


def _check_precision(hp):
  if hp.precision not in PRECISIONS:
    raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {hp.precision!r}")


def _positive(hp, *names):
  for n in names:
    if not getattr(hp, n) > 0:
      raise ValueError(f"{n} must be > 0, got {getattr(hp, n)!r}")


def _in_unit(hp, *names):
  for n in names:
    if not 0 <= getattr(hp, n) <= 1:
      raise ValueError(f"{n} must be in [0, 1], got {getattr(hp, n)!r}")


@dataclasses.dataclass(frozen=True)
class Condition:
  """One curve of a figure, registered in one line of its figure spec.

  name: the run directory and report name. agent: the agents/ class ("module.Class"), built by
  `artifact.conditions`. family: "a2c" (A2C framework) or "dqn". agent_kwargs: what the class
  needs beyond the family's hyperparameters (e.g. tau of a soft DQN target), as pairs.
  `same_run_as=(figure, condition)`: this curve is the very same run as that one (same network,
  hyperparameters, games and seeds), trained once and reported in both figures.
  """
  name: str
  agent: str
  family: str
  agent_kwargs: Tuple[Tuple[str, object], ...] = ()
  label: str = ""
  same_run_as: Optional[Tuple[int, str]] = None


@dataclasses.dataclass(frozen=True)
class ClaimSpec:
  """One of the paper's claims about a figure, declared in its figure spec (`FigureSpec.claims`)
  and judged by `artifact.claims`' rule for `id` (docs/decision_rules.md). Only which conditions
  play which role is declared here; statistics, thresholds and margins are the rule's.

  id: "C1".."C6", the key of the claim's rule in `artifact.claims.RULES`. text: the claim.
  conditions: the conditions the claim compares, in the roles of its rule: (x, y) of P(x > y)
    for C1-C4; (a, b) of C5's curve difference (b - a) / mean; C6 judges its one condition
    alone. A game is "run" for the claim when each has >= 2 seeds there; one with no run at
    all makes the claim "not run".
  reference: conditions the rule reads without requiring them: C6's pg, whose improvement
    where soft_ql did not improve contradicts the claim.
  """
  id: str
  text: str
  conditions: Tuple[str, ...]
  reference: Tuple[str, ...] = ()

  @property
  def evidence(self) -> Tuple[str, ...]:
    """The conditions whose runs leaving random play make a game count for the claim (amendment
    A1 of docs/decision_rules.md): its conditions, then its reference conditions."""
    return self.conditions + self.reference


@dataclasses.dataclass(frozen=True)
class FigureSpec:
  number: int
  title: str
  section: str
  games: Tuple[str, ...]
  conditions: Tuple[Condition, ...]
  seeds: Tuple[int, ...]
  paper_frames: int                # emulator frames per run at paper scale
  # (x, y) condition pairs compared by the statistics (probability that x beats y); the first
  # pair of Figure 3 is the "almost identical curves" pair of its summary.
  pairs: Tuple[Tuple[str, str], ...] = ()
  # (a, b): the figure claims these two conditions' curves are almost identical (Fig. 3's pg and
  # soft_ql); its summary then reports their curve gap against the seed spread.
  agreement: Optional[Tuple[str, str]] = None
  # the paper's claims about this figure, each with the conditions it compares (artifact/claims.py
  # judges them, in this order, figure by figure)
  claims: Tuple[ClaimSpec, ...] = ()

  def __post_init__(self):
    """Every condition a pair, the agreement or a claim names is one of the figure's conditions."""
    names = [c.name for c in self.conditions]
    named = [(f"pair {p}", n) for p in self.pairs for n in p]
    named += [("agreement", n) for n in (self.agreement or ())]
    named += [(f"claim {c.id}", n) for c in self.claims for n in c.conditions + c.reference]
    for where, n in named:
      if n not in names:
        raise ValueError(f"figure {self.number}: {where} names condition {n!r}, which is not a "
                         f"condition of the figure; valid: {', '.join(names)}")

  def condition(self, name: str) -> Condition:
    for c in self.conditions:
      if c.name == name:
        return c
    raise ValueError(f"unknown condition {name!r} for figure {self.number}; "
                     f"valid: {', '.join(c.name for c in self.conditions)}")


FIG1_GAMES = ("SpaceInvaders", "Breakout", "BeamRider", "Pong", "Qbert", "Seaquest")
FIG2_GAMES = ("BeamRider", "Breakout", "Enduro", "Pong", "Qbert", "Seaquest")

FIGURES: Dict[int, FigureSpec] = {
    1: FigureSpec(
        number=1, title="A2C: entropy bonus only in the gradient vs entropy in the returns",
        section="Sec. 6.1, Fig. 1", games=FIG1_GAMES,
        conditions=(
            Condition("a2c_1step", "a2c.A2CNaiveAgent", "a2c", label="A2C, 1-step entropy bonus (eq. 79)"),
            Condition("a2c_proper", "a2c.A2CProperAgent", "a2c", label="A2C, entropy in returns (eq. 80)")),
        seeds=(0, 1, 2), paper_frames=320_000_000, pairs=(("a2c_proper", "a2c_1step"),),
        claims=(
            ClaimSpec("C1", "A2C with entropy in the returns (proper) performs the same as or better than naive A2C",
                      ("a2c_proper", "a2c_1step")),)),
    2: FigureSpec(
        number=2, title="DQN: standard vs soft Q-learning targets",
        section="Sec. 6.2, Fig. 2", games=FIG2_GAMES,
        conditions=(
            Condition("dqn", "dqn.StandardDQNAgent", "dqn", label="DQN (eq. 81)"),
            Condition("dqn_nstep", "dqn.DQNNStepAgent", "dqn", label="5-step DQN"),
            Condition("soft_dqn_ent_0.1", "dqn.SoftDQNEntAgent", "dqn", (("tau", 0.1),), "soft, entropy, tau=0.1 (eq. 83)"),
            Condition("soft_dqn_kl_0.1", "dqn.SoftDQNKLAgent", "dqn", (("tau", 0.1),), "soft, KL, tau=0.1 (eq. 82)"),
            Condition("soft_dqn_ent_0.01", "dqn.SoftDQNEntAgent", "dqn", (("tau", 0.01),), "soft, entropy, tau=0.01 (eq. 83)"),
            Condition("soft_dqn_kl_0.01", "dqn.SoftDQNKLAgent", "dqn", (("tau", 0.01),), "soft, KL, tau=0.01 (eq. 82)")),
        seeds=(0, 1), paper_frames=40_000_000,
        pairs=(("soft_dqn_ent_0.1", "dqn"), ("soft_dqn_ent_0.1", "soft_dqn_kl_0.1"),
               ("dqn_nstep", "dqn"), ("soft_dqn_ent_0.01", "dqn"), ("soft_dqn_ent_0.01", "soft_dqn_kl_0.01")),
        claims=(
            ClaimSpec("C2", "Soft Q-learning, entropy bonus, tau = 0.1, performs a bit better than standard DQN",
                      ("soft_dqn_ent_0.1", "dqn")),
            ClaimSpec("C3", "The KL-penalty version (tau = 0.1) performs worse than the entropy-bonus version",
                      ("soft_dqn_ent_0.1", "soft_dqn_kl_0.1")),
            ClaimSpec("C4", "5-step Q-learning is better on Pong and Qbert, worse on the other games",
                      ("dqn_nstep", "dqn")))),
    3: FigureSpec(
        number=3, title="Policy gradient vs soft Q-learning in the A2C framework",
        section="Sec. 6.3, Fig. 3", games=FIG1_GAMES,
        conditions=(
            Condition("pg", "a2c.PGAgent", "a2c", label="PG, entropy in returns", same_run_as=(1, "a2c_proper")),
            Condition("soft_ql", "soft_ql.SoftQLAgent", "a2c", label="soft Q-learning (eq. 46-47)")),
        seeds=(0, 1, 2), paper_frames=320_000_000, pairs=(("soft_ql", "pg"),),
        agreement=("pg", "soft_ql"),
        claims=(
            ClaimSpec("C5", "PG and soft Q-learning learning curves are almost identical in most games",
                      ("pg", "soft_ql")),
            ClaimSpec("C6", "Soft Q-learning learns stably without a target network or an epsilon schedule",
                      ("soft_ql",), reference=("pg",)))),
}
_claim_ids = [c.id for f in FIGURES.values() for c in f.claims]
if len(set(_claim_ids)) != len(_claim_ids):
  raise ValueError(f"claim ids must be unique across figures; got {', '.join(_claim_ids)}")

# --- scales ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Scale:
  """Budgets, evaluation and schedule rules of one scale (docs/protocol.md section 7).

  A scale with `paper_schedules` runs the first N frames of the paper's run: learning-rate and
  epsilon schedules over the paper's horizon, progress rows and evaluations at points fixed in
  frames (`artifact.schedule`), so its runs extend. Without (smoke), every schedule and point
  shrinks into the run's own budget."""
  name: str
  frames: Optional[Dict[str, int]]  # emulator frames per run by family; None: the figure's paper budget
  eval_games: int                   # games per evaluation, played in parallel
  eval_max_frames: int              # cap per evaluation game, emulator frames (108,000 = 30 min)
  paper_schedules: bool             # schedules over the paper's horizon, points fixed in frames
  evals_per_run: int = 0            # without paper_schedules: evaluations spread over the budget
  replay_capacity: Optional[int] = None  # DQN replay cap in transitions; None: the hyperparameter (1M)

  def frames_for(self, fig: "FigureSpec", family: str) -> int:
    return fig.paper_frames if self.frames is None else self.frames[family]


SCALES: Dict[str, Scale] = {
    # smoke: proves the pipeline end to end on 2 CPU cores, not the science. Evaluation games are
    # capped at 500 frames (reported as truncated), replay is small, and the DQN learning-start /
    # target schedules shrink with the budget so that every condition trains.
    "smoke": Scale("smoke", frames={"a2c": 6_400, "dqn": 1_200}, eval_games=2, eval_max_frames=500,
                   paper_schedules=False, evals_per_run=5, replay_capacity=20_000),
    # short: the first 10M / 5M frames of the paper's runs, a budget where published curves have
    # left random play on most games (docs/protocol.md section 8: SB3-zoo A2C at 10M frames,
    # Dopamine DQN at 10M); evaluation games capped at 27,000 frames (7.5 minutes of play) to
    # keep evaluation under ~10% of the run.
    "short": Scale("short", frames={"a2c": 10_000_000, "dqn": 5_000_000}, eval_games=8,
                   eval_max_frames=27_000, paper_schedules=True),
    # paper: the paper's budgets; 10 evaluation games of at most 108,000 frames.
    "paper": Scale("paper", frames=None, eval_games=10, eval_max_frames=108_000,
                   paper_schedules=True),
}


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """Everything that determines one run; a run is a pure function of its RunSpec and out dir.

  `frames` is how far along its schedules the run trains; two specs that differ only in `frames`
  and `keep_extension_state` are the same run taken to different budgets (a finished run is
  extended to a larger one, `artifact.runner`). Equality of the rest: `same_run`."""
  figure: int
  game: str
  condition: str
  seed: int
  frames: int                      # emulator frames to train for
  scale: str
  hparams: object                  # A2CHparams or DQNHparams
  agent_kwargs: Dict[str, object]  # the condition's extra agent arguments (e.g. tau of soft DQN)
  eval_games: int                  # games per evaluation (played in parallel)
  eval_max_frames: int             # cap per evaluation game, emulator frames
  eval_schedule: str               # "fixed" (points fixed in frames) or "spread:K" (artifact.schedule)
  log_every_frames: int            # a progress row each time the frames cross a multiple of this
  keep_extension_state: bool = True  # a finished run keeps what an extension needs (DQN: replay)

  @property
  def family(self) -> str:
    return FIGURES[self.figure].condition(self.condition).family

  @property
  def condition_spec(self) -> Condition:
    return FIGURES[self.figure].condition(self.condition)

  def same_run(self, other: "RunSpec") -> bool:
    """True if the two specs are one run taken to (possibly) different budgets."""
    return run_identity(json.loads(self.to_json())) == run_identity(json.loads(other.to_json()))

  def relpath(self) -> str:
    return f"figure{self.figure}/{self.game}/{self.condition}/seed{self.seed}"

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


# RunSpec fields that may change between a run and its extension (config.json keeps the latest),
# and "machine": the CPU facts config.json records beside the spec (`artifact.machine.cpu_facts`;
# the machine it last trained on), which are not part of the run's identity.
EXTENSION_FIELDS = ("frames", "keep_extension_state")
NOT_IDENTITY = EXTENSION_FIELDS + ("machine",)


def run_identity(config: Dict) -> Dict:
  """A config.json dict without the fields an extension may change (`EXTENSION_FIELDS`) and
  without its "machine" record."""
  return {k: v for k, v in config.items() if k not in NOT_IDENTITY}


def config_differences(config: Dict, spec: "RunSpec") -> Tuple[list, list]:
  """(RunSpec fields, hyperparameters) in which a run directory's config.json dict differs from
  `spec`'s run, both empty if it is that run: frames and extension state aside, and
  hyperparameters added since the config was written count as matching at their defaults."""
  old, new = json.loads(json.dumps(config)), json.loads(spec.to_json())
  default = type(spec.hparams)()
  for k, v in new["hparams"].items():
    if k not in old.get("hparams", {}) and v == getattr(default, k):
      old.setdefault("hparams", {})[k] = v
  old, new = run_identity(old), run_identity(new)
  if old == new:
    return [], []
  hp_old = old.get("hparams") if isinstance(old.get("hparams"), dict) else {}
  return (sorted(k for k in new if old.get(k) != new[k]),
          sorted(k for k in new["hparams"] if hp_old.get(k) != new["hparams"][k]))


def config_matches(config: Dict, spec: "RunSpec") -> bool:
  """True if a run directory's config.json dict is `spec`'s run (`config_differences`)."""
  return config_differences(config, spec) == ([], [])


# --- validators of a run's figure, scale and budget (make_run_spec and the command line's grid) ---
def check_figure(figure) -> int:
  """The figure number `figure` names (an int, or its digits as given on the command line).
  Raises ValueError naming it and the valid figures."""
  number = int(figure) if isinstance(figure, str) and figure.isdecimal() else figure
  if number not in FIGURES:
    raise ValueError(f"unknown figure {figure!r}; valid: {', '.join(map(str, FIGURES))}")
  return number


def check_scale(name: str) -> "Scale":
  """The Scale called `name`. Raises ValueError naming it and the valid scales."""
  if name not in SCALES:
    raise ValueError(f"unknown scale {name!r}; valid: {', '.join(SCALES)}")
  return SCALES[name]


def check_frames(frames) -> int:
  """A budget given as a number: a positive integer (not a bool). Raises ValueError."""
  if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or int(frames) <= 0:
    raise ValueError(f"frames must be a positive integer, got {frames!r}")
  return int(frames)


def parse_frames(raw: str) -> int:
  """A budget given as text (`--frames 3e6`): whole emulator frames in [1, MAX_FRAMES]. Raises
  ValueError naming the text and what is allowed."""
  try:
    value = float(raw)
  except (TypeError, ValueError):
    value = float("nan")
  if not (math.isfinite(value) and value >= 1 and value == int(value)):
    raise ValueError(f"--frames must be a positive integer (whole emulator frames, e.g. 3000000 or "
                     f"3e6), got {raw!r}")
  if value > MAX_FRAMES:
    raise ValueError(f"--frames must be at most {MAX_FRAMES:,} (beyond any budget), got {raw!r}")
  return int(value)


def make_run_spec(figure: int, game: str, condition: str, seed: int, scale: str,
                  frames: Optional[int] = None, overrides: Optional[Dict[str, object]] = None,
                  keep_extension_state: Optional[bool] = None) -> RunSpec:
  """Builds the RunSpec of one run at a scale; `frames` overrides the scale's budget.

  A condition with `same_run_as` returns the spec of that run (Figure 3's `pg` is Figure 1's
  `a2c_proper`). At short and paper scale the run is the first `frames` frames of the paper's
  run: `horizon_frames` = the figure's paper budget (learning rate and epsilon schedules),
  evaluations and progress rows at points fixed in frames, the DQN replay at its 1M transitions.
  At smoke scale every schedule shrinks into the budget: `horizon_frames` = `frames`, learning
  starts after max(batch + 8, 10% of the agent steps), the target syncs every min(1,000, 5% of
  the agent steps) agent steps (at least `train_period`), 5 evaluations spread over the run. `overrides` ({key: value}, from `--set`) replace hyperparameters of the run's
  family or the condition's agent arguments, after the scale's rules; keys that belong to neither
  are ignored here (`parse_overrides` rejects keys that belong to no selected run).
  Raises ValueError for an unknown figure, condition or scale, frames <= 0, or a bad value.
  """
  figure = check_figure(figure)
  sc = check_scale(scale)
  fig = FIGURES[figure]
  cond = fig.condition(condition)
  if cond.same_run_as is not None:
    src_figure, src_condition = cond.same_run_as
    return make_run_spec(src_figure, game, src_condition, seed, scale, frames, overrides,
                         keep_extension_state)
  frames = check_frames(sc.frames_for(fig, cond.family) if frames is None else frames)
  hp = HPARAMS[cond.family]()
  hp = dataclasses.replace(hp, horizon_frames=fig.paper_frames if sc.paper_schedules else int(frames))
  if cond.family == "dqn":
    steps = int(frames) // 4
    if sc.replay_capacity:
      hp = dataclasses.replace(hp, replay_capacity=min(hp.replay_capacity, sc.replay_capacity))
    if not sc.paper_schedules:
      hp = dataclasses.replace(
          hp, learning_starts=max(hp.batch_size + 8, steps // 10),
          target_update_period=max(hp.train_period, min(hp.target_update_period, steps // 20)))
  kwargs = dict(cond.agent_kwargs)
  overrides = overrides or {}
  fields = {f.name for f in dataclasses.fields(hp)}
  hp = dataclasses.replace(hp, **{k: v for k, v in overrides.items() if k in fields})
  kwargs.update({k: v for k, v in overrides.items() if k in kwargs})
  hp.validate()
  for k, default in cond.agent_kwargs:          # e.g. the tau of a soft DQN target
    check_value(k, kwargs[k], type(default))
    if k == "tau" and not kwargs[k] > 0:
      raise ValueError(f"tau must be > 0 for soft Q-learning (its target divides by tau), got {kwargs[k]!r}")
  return RunSpec(figure=figure, game=game, condition=condition, seed=int(seed), frames=int(frames),
                 scale=scale, hparams=hp, agent_kwargs=kwargs, eval_games=sc.eval_games,
                 eval_max_frames=sc.eval_max_frames,
                 eval_schedule=schedule.FIXED if sc.paper_schedules else f"{schedule.SPREAD}:{sc.evals_per_run}",
                 log_every_frames=(schedule.LOG_EVERY_FRAMES if sc.paper_schedules
                                   else max(1, int(frames) // LOG_POINTS_SMOKE)),
                 keep_extension_state=sc.paper_schedules if keep_extension_state is None
                 else bool(keep_extension_state))


def settable_keys(conditions) -> Dict[str, type]:
  """{key: type} that `--set` accepts for the given Conditions: their families' hyperparameter
  fields and their agent arguments."""
  keys: Dict[str, type] = {}
  for c in conditions:
    for f in dataclasses.fields(HPARAMS[c.family]):
      keys[f.name] = type(getattr(HPARAMS[c.family](), f.name))
    for k, v in c.agent_kwargs:
      keys[k] = type(v)
  return keys


def parse_overrides(items, conditions) -> Dict[str, object]:
  """Parses `--set key=value` items against `settable_keys(conditions)`.

  Raises ValueError naming the bad item and the valid keys (unknown key, no '=', a value that
  does not parse as the key's type, an int beyond MAX_SET_INT); `make_run_spec` then checks
  the values (`validate`: finite floats, ranges)."""
  valid = settable_keys(conditions)
  out: Dict[str, object] = {}
  for item in items or []:
    if "=" not in item:
      raise ValueError(f"--set {item!r}: expected key=value")
    key, raw = (x.strip() for x in item.split("=", 1))
    if key not in valid:
      raise ValueError(f"--set {item!r}: unknown key {key!r}; valid for the selected runs: "
                       f"{', '.join(sorted(valid))}")
    typ = valid[key]
    try:
      value = _parse(typ, raw)
    except ValueError:
      raise ValueError(f"--set {item!r}: {key} takes a {typ.__name__}, got {raw!r}") from None
    if typ is int and abs(value) > MAX_SET_INT:
      raise ValueError(f"--set {item!r}: {key} must be at most {MAX_SET_INT:,} (beyond any "
                       f"sensible budget), got {value:,}")
    out[key] = value
  return out


def _parse(typ, raw: str):
  """int accepts '1e6' and '1_000' (but not 0.5), float any float literal, str anything."""
  if typ is int:
    x = float(raw)
    if not math.isfinite(x) or x != int(x):
      raise ValueError(raw)
    return int(x)
  if typ is float:
    return float(raw)
  return raw


def find_condition(name: str) -> Condition:
  """The registered Condition called `name` (first figure that has it). Raises ValueError."""
  for fig in FIGURES.values():
    for c in fig.conditions:
      if c.name == name:
        return c
  raise ValueError(f"unknown condition {name!r}; valid: "
                   f"{', '.join(c.name for f in FIGURES.values() for c in f.conditions)}")
