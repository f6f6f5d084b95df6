"""Experiment specs: one readable spec per figure, flat hyperparameter dicts with sources and units.

Units: "frames" are emulator frames = 4 x agent steps (docs/protocol.md section 2). Budgets are per run,
i.e. per (figure, game, condition, seed), summed over the run's parallel envs.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Dict, Optional, Tuple

# --- hyperparameters ---------------------------------------------------------------------------
A2C_HPARAMS = dict(                 # openai/baselines a2c/a2c.py defaults, paper Sec. 6.1
    num_envs=16,                    # parallel envs (baselines run_atari num_env=16)
    n_steps=5,                      # rollout length n, agent steps per env per update
    gamma=0.99,                     # discount per agent step
    lr=7e-4,                        # RMSProp learning rate, linearly decayed to 0 over the run
    rmsprop_rho=0.99,               # RMSProp decay (baselines alpha)
    rmsprop_eps=1e-5,               # RMSProp epsilon
    max_grad_norm=0.5,              # global gradient-norm clip
    value_coef=0.5,                 # c, weight of 0.5*(R - V)^2 (baselines vf_coef)
    tau=0.01,                       # temperature, nats per agent step (paper Sec. 6.1, 6.3)
    regularizer="entropy",          # entropy-bonus form (paper Sec. 6.1); "kl" = KL-penalty form
)

DQN_HPARAMS = dict(                 # openai/baselines deepq Atari defaults (run_atari.py, deepq.py)
    num_envs=1,                     # one env
    lr=1e-4,                        # Adam learning rate
    adam_eps=1e-8,                  # Adam epsilon (TF default, as baselines)
    batch_size=32,                  # transitions per gradient step
    replay_capacity=1_000_000,      # transitions (frame-deduplicated storage)
    learning_starts=10_000,         # agent steps of pure collection before the first update
    train_period=4,                 # agent steps per gradient step
    target_update_period=1_000,     # agent steps between target-network syncs
    epsilon_start=1.0,
    epsilon_end=0.01,
    epsilon_fraction=0.1,           # epsilon decays linearly over this fraction of the run
    gamma=0.99,
    grad_clip=10.0,                 # per-variable gradient-norm clip (baselines grad_norm_clipping)
    eval_epsilon=0.05,              # epsilon of the evaluation policy (Mnih et al. 2015)
)


@dataclasses.dataclass(frozen=True)
class Condition:
  """One curve of a figure: `name` is the run directory name, `agent` the agents/ class key.

  `same_run_as=(figure, condition)`: this curve is the very same run as that one (same network,
  hyperparameters, games and seeds), trained once and reported in both figures.
  """
  name: str
  agent: str                       # key in artifact.conditions.AGENTS
  family: str                      # "a2c" (A2C framework) or "dqn"
  overrides: Tuple[Tuple[str, object], ...] = ()   # hyperparameter overrides, e.g. (("tau", 0.1),)
  label: str = ""
  same_run_as: Optional[Tuple[int, str]] = None

  def hparams(self) -> Dict[str, object]:
    base = A2C_HPARAMS if self.family == "a2c" else DQN_HPARAMS
    out = dict(base)
    out.update(dict(self.overrides))
    return out


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
        conditions=(Condition("a2c_1step", "a2c_1step", "a2c", label="A2C, 1-step entropy bonus (eq. 79)"),
                    Condition("a2c_proper", "a2c_proper", "a2c", label="A2C, entropy in returns (eq. 80)")),
        seeds=(0, 1, 2), paper_frames=320_000_000, pairs=(("a2c_proper", "a2c_1step"),)),
    2: FigureSpec(
        number=2, title="DQN: standard vs soft Q-learning targets",
        section="Sec. 6.2, Fig. 2", games=FIG2_GAMES,
        conditions=(Condition("dqn", "dqn", "dqn", label="DQN (eq. 81)"),
                    Condition("dqn_nstep", "dqn_nstep", "dqn", (("n_step", 5),), "5-step DQN"),
                    Condition("soft_dqn_ent_0.1", "soft_dqn_ent", "dqn", (("tau", 0.1),), "soft, entropy, tau=0.1 (eq. 83)"),
                    Condition("soft_dqn_kl_0.1", "soft_dqn_kl", "dqn", (("tau", 0.1),), "soft, KL, tau=0.1 (eq. 82)"),
                    Condition("soft_dqn_ent_0.01", "soft_dqn_ent", "dqn", (("tau", 0.01),), "soft, entropy, tau=0.01 (eq. 83)"),
                    Condition("soft_dqn_kl_0.01", "soft_dqn_kl", "dqn", (("tau", 0.01),), "soft, KL, tau=0.01 (eq. 82)")),
        seeds=(0, 1), paper_frames=40_000_000,
        pairs=(("soft_dqn_ent_0.1", "dqn"), ("soft_dqn_ent_0.1", "soft_dqn_kl_0.1"),
               ("dqn_nstep", "dqn"), ("soft_dqn_ent_0.01", "dqn"), ("soft_dqn_ent_0.01", "soft_dqn_kl_0.01"))),
    3: FigureSpec(
        number=3, title="Policy gradient vs soft Q-learning in the A2C framework",
        section="Sec. 6.3, Fig. 3", games=FIG1_GAMES,
        conditions=(Condition("pg", "pg", "a2c", label="PG, entropy in returns",
                              same_run_as=(1, "a2c_proper")),
                    Condition("soft_ql", "soft_ql", "a2c", label="soft Q-learning (eq. 46-47)")),
        seeds=(0, 1, 2), paper_frames=320_000_000, pairs=(("soft_ql", "pg"),)),
}

# --- scales ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Scale:
  """Budgets, evaluation and schedule rules of one scale (see the README's "Scales")."""
  name: str
  frames: Optional[Dict[str, int]]  # emulator frames per run by family; None: the figure's paper budget
  eval_games: int                   # games per evaluation, played in parallel
  eval_max_frames: int              # cap per evaluation game, emulator frames (108,000 = 30 min)
  evals_per_run: int                # evaluations, evenly spaced in updates, the last at the end
  replay_capacity: Optional[int]    # DQN replay cap in transitions; None: the hyperparameter (1M)
  shrink_dqn_schedules: bool        # learning starts / target period shrink with a tiny budget

  def frames_for(self, fig: "FigureSpec", family: str) -> int:
    return fig.paper_frames if self.frames is None else self.frames[family]


SCALES: Dict[str, Scale] = {
    # smoke: proves the pipeline end to end on 2 CPU cores, not the science. Evaluation games are
    # capped at 500 frames (reported as truncated), replay is small, and the DQN learning-start /
    # target schedules shrink with the budget so that every condition trains.
    "smoke": Scale("smoke", frames={"a2c": 6_400, "dqn": 1_200}, eval_games=2, eval_max_frames=500,
                   evals_per_run=5, replay_capacity=20_000, shrink_dqn_schedules=True),
    # short: a budget where published curves have left random play on most games (docs/protocol.md section 8:
    # SB3-zoo A2C at 10M frames, Dopamine DQN at 10M); the paper's schedules, evaluation games
    # capped at 27,000 frames (7.5 minutes of play) to keep evaluation under ~10% of the run.
    "short": Scale("short", frames={"a2c": 10_000_000, "dqn": 5_000_000}, eval_games=8,
                   eval_max_frames=27_000, evals_per_run=10, replay_capacity=250_000,
                   shrink_dqn_schedules=False),
    # paper: the paper's budgets; 10 evaluation games of at most 108,000 frames, 20 evaluations.
    "paper": Scale("paper", frames=None, eval_games=10, eval_max_frames=108_000, evals_per_run=20,
                   replay_capacity=None, shrink_dqn_schedules=False),
}


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """Everything that determines one run; a run is a pure function of its RunSpec and out dir."""
  figure: int
  game: str
  condition: str
  seed: int
  frames: int                      # emulator frames to train for
  scale: str
  hparams: Dict[str, object]
  eval_games: int                  # games per evaluation (played in parallel)
  eval_max_frames: int             # cap per evaluation game, emulator frames
  evals_per_run: int               # evaluations, evenly spaced; the last one at the end

  @property
  def family(self) -> str:
    return FIGURES[self.figure].condition(self.condition).family

  @property
  def agent(self) -> str:
    return FIGURES[self.figure].condition(self.condition).agent

  def relpath(self) -> str:
    return f"figure{self.figure}/{self.game}/{self.condition}/seed{self.seed}"

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


def make_run_spec(figure: int, game: str, condition: str, seed: int, scale: str,
                  frames: Optional[int] = None, **hparam_overrides) -> RunSpec:
  """Builds the RunSpec of one run at a scale; `frames` overrides the scale's budget.

  A condition with `same_run_as` returns the spec of that run (Figure 3's `pg` is Figure 1's
  `a2c_proper`). Epsilon always decays over the first 10% of the run's agent steps. At smoke scale
  the DQN schedules also shrink with the budget: learning starts after 10% of the agent steps and
  the target syncs every min(1,000, 5% of the agent steps) agent steps (at least `train_period`).
  Raises ValueError for an unknown figure, condition or scale, or frames <= 0.
  """
  if figure not in FIGURES:
    raise ValueError(f"unknown figure {figure!r}; valid: {', '.join(map(str, FIGURES))}")
  if scale not in SCALES:
    raise ValueError(f"unknown scale {scale!r}; valid: {', '.join(SCALES)}")
  fig = FIGURES[figure]
  cond = fig.condition(condition)
  if cond.same_run_as is not None:
    src_figure, src_condition = cond.same_run_as
    return make_run_spec(src_figure, game, src_condition, seed, scale, frames, **hparam_overrides)
  sc = SCALES[scale]
  if frames is None:
    frames = sc.frames_for(fig, cond.family)
  if int(frames) <= 0:
    raise ValueError(f"frames must be > 0, got {frames}")
  hp = cond.hparams()
  if cond.family == "dqn":
    steps = int(frames) // 4
    if sc.replay_capacity:
      hp["replay_capacity"] = min(hp["replay_capacity"], sc.replay_capacity)
    if sc.shrink_dqn_schedules:
      hp["learning_starts"] = max(hp["batch_size"] + 8, steps // 10)
      hp["target_update_period"] = max(hp["train_period"], min(hp["target_update_period"], steps // 20))
  hp.update(hparam_overrides)
  return RunSpec(figure=figure, game=game, condition=condition, seed=int(seed), frames=int(frames),
                 scale=scale, hparams=hp, eval_games=sc.eval_games,
                 eval_max_frames=sc.eval_max_frames, evals_per_run=sc.evals_per_run)
