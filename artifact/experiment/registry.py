"""The registry: the paper's figures, one line per condition in its figure spec, and the claims
each figure makes (judged by `artifact.analysis.claims`).
"""
from __future__ import annotations

import dataclasses

from artifact.experiment.hparams import AGENT_ARGUMENTS, HPARAMS


@dataclasses.dataclass(frozen=True)
class Condition:
  """One curve of a figure, registered in one line of its figure spec.

  name: the run directory and report name. agent: the key of its agents/ class in
  `artifact.training.trainer.AGENT_CLASSES` (e.g. "soft_dqn_ent" for
  `agents.dqn.SoftDQNEntAgent`). family: "a2c" (A2C framework) or "dqn". agent_kwargs: what the
  class needs beyond the family's hyperparameters (e.g. tau of a soft DQN target), as pairs;
  each name one of `artifact.experiment.hparams.AGENT_ARGUMENTS` (its kind and range, checked
  with any `--set` override by `make_run_spec`) and none a hyperparameter of the family.
  `same_run_as=(figure, condition)`: this curve is the very same run as that one (same network,
  hyperparameters, games and seeds), trained once and reported in both figures. Raises
  ValueError for an unknown family, an undeclared agent argument or one that is a
  hyperparameter of the family.
  """
  name: str
  agent: str
  family: str
  agent_kwargs: tuple[tuple[str, object], ...] = ()
  label: str = ""
  same_run_as: tuple[int, str] | None = None

  def __post_init__(self):
    """The family is known; each agent argument declared (`AGENT_ARGUMENTS`), and not also a
    hyperparameter of the family (one channel per value)."""
    if self.family not in HPARAMS:
      raise ValueError(f"condition {self.name!r}: unknown family {self.family!r}; valid: "
                       f"{', '.join(HPARAMS)}")
    fields = {f.name for f in dataclasses.fields(HPARAMS[self.family])}
    for key, _ in self.agent_kwargs:
      if key not in AGENT_ARGUMENTS:
        raise ValueError(f"condition {self.name!r}: agent argument {key!r} is not declared in "
                         f"AGENT_ARGUMENTS; declared: {', '.join(AGENT_ARGUMENTS)}")
      if key in fields:
        raise ValueError(f"condition {self.name!r}: agent argument {key!r} is also a "
                         f"hyperparameter of the {self.family} family; set it there")


@dataclasses.dataclass(frozen=True)
class ClaimSpec:
  """One of the paper's claims about a figure, declared in its figure spec (`FigureSpec.claims`)
  and judged by `artifact.analysis.claims`' rule for `id` (docs/decision_rules.md). Only which
  conditions play which role is declared here; statistics, thresholds and margins are the rule's.

  id: "C1".."C6", the key of the claim's rule in `artifact.analysis.claims.RULES`. text: the claim.
  conditions: the conditions the claim compares, in the roles of its rule: (x, y) of P(x > y)
    for C1-C4; (a, b) of C5's curve difference (b - a) / mean; C6 judges its one condition
    alone. A game is "run" for the claim when each has >= 2 seeds there; one with no run at
    all makes the claim "not run".
  reference: conditions the rule reads without requiring them: C6's pg, whose improvement
    where soft_ql did not improve contradicts the claim.
  """
  id: str
  text: str
  conditions: tuple[str, ...]
  reference: tuple[str, ...] = ()

  @property
  def evidence(self) -> tuple[str, ...]:
    """The conditions whose runs leaving random play make a game count for the claim (amendment
    A1 of docs/decision_rules.md): its conditions, then its reference conditions."""
    return self.conditions + self.reference


@dataclasses.dataclass(frozen=True)
class FigureSpec:
  """One of the paper's figures: its games, its conditions (one line each), seeds, the paper's
  budget per run (emulator frames), the condition pairs its statistics compare, the pair whose
  curves it calls almost identical, and its claims. Raises ValueError if a pair, the agreement
  or a claim names a condition the figure does not have."""
  number: int
  title: str
  section: str
  games: tuple[str, ...]
  conditions: tuple[Condition, ...]
  seeds: tuple[int, ...]
  paper_frames: int                # emulator frames per run at paper scale
  # (x, y) condition pairs compared by the statistics (probability that x beats y); the first
  # pair of Figure 3 is the "almost identical curves" pair of its summary.
  pairs: tuple[tuple[str, str], ...] = ()
  # (a, b): the figure claims these two conditions' curves are almost identical (Fig. 3's pg and
  # soft_ql); its summary then reports their curve gap against the seed spread.
  agreement: tuple[str, str] | None = None
  # the paper's claims about this figure, each with the conditions it compares
  # (artifact/analysis/claims.py judges them, in this order, figure by figure)
  claims: tuple[ClaimSpec, ...] = ()

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
    """The figure's Condition called `name`. Raises ValueError naming it and the valid ones."""
    for c in self.conditions:
      if c.name == name:
        return c
    raise ValueError(f"unknown condition {name!r} for figure {self.number}; "
                     f"valid: {', '.join(c.name for c in self.conditions)}")


FIG1_GAMES = ("SpaceInvaders", "Breakout", "BeamRider", "Pong", "Qbert", "Seaquest")
FIG2_GAMES = ("BeamRider", "Breakout", "Enduro", "Pong", "Qbert", "Seaquest")

FIGURES: dict[int, FigureSpec] = {
    1: FigureSpec(
        number=1, title="A2C: entropy bonus only in the gradient vs entropy in the returns",
        section="Sec. 6.1, Fig. 1", games=FIG1_GAMES,
        conditions=(
            Condition("a2c_1step", "a2c_naive", "a2c", label="A2C, 1-step entropy bonus (eq. 79)"),
            Condition("a2c_proper", "a2c_proper", "a2c", label="A2C, entropy in returns (eq. 80)")),
        seeds=(0, 1, 2), paper_frames=320_000_000, pairs=(("a2c_proper", "a2c_1step"),),
        claims=(
            ClaimSpec("C1",
                      "A2C with entropy in the returns (proper) performs the same as or better "
                      "than naive A2C",
                      ("a2c_proper", "a2c_1step")),)),
    2: FigureSpec(
        number=2, title="DQN: standard vs soft Q-learning targets",
        section="Sec. 6.2, Fig. 2", games=FIG2_GAMES,
        conditions=(
            Condition("dqn", "dqn", "dqn", label="DQN (eq. 81)"),
            Condition("dqn_nstep", "dqn_nstep", "dqn", label="5-step DQN"),
            Condition("soft_dqn_ent_0.1", "soft_dqn_ent", "dqn", (("tau", 0.1),),
                      "soft, entropy, tau=0.1 (eq. 83)"),
            Condition("soft_dqn_kl_0.1", "soft_dqn_kl", "dqn", (("tau", 0.1),),
                      "soft, KL, tau=0.1 (eq. 82)"),
            Condition("soft_dqn_ent_0.01", "soft_dqn_ent", "dqn", (("tau", 0.01),),
                      "soft, entropy, tau=0.01 (eq. 83)"),
            Condition("soft_dqn_kl_0.01", "soft_dqn_kl", "dqn", (("tau", 0.01),),
                      "soft, KL, tau=0.01 (eq. 82)")),
        seeds=(0, 1), paper_frames=40_000_000,
        pairs=(("soft_dqn_ent_0.1", "dqn"), ("soft_dqn_ent_0.1", "soft_dqn_kl_0.1"),
               ("dqn_nstep", "dqn"), ("soft_dqn_ent_0.01", "dqn"),
               ("soft_dqn_ent_0.01", "soft_dqn_kl_0.01")),
        claims=(
            ClaimSpec("C2",
                      "Soft Q-learning, entropy bonus, tau = 0.1, performs a bit better than "
                      "standard DQN",
                      ("soft_dqn_ent_0.1", "dqn")),
            ClaimSpec("C3",
                      "The KL-penalty version (tau = 0.1) performs worse than the entropy-bonus "
                      "version",
                      ("soft_dqn_ent_0.1", "soft_dqn_kl_0.1")),
            ClaimSpec("C4",
                      "5-step Q-learning is better on Pong and Qbert, worse on the other games",
                      ("dqn_nstep", "dqn")))),
    3: FigureSpec(
        number=3, title="Policy gradient vs soft Q-learning in the A2C framework",
        section="Sec. 6.3, Fig. 3", games=FIG1_GAMES,
        conditions=(
            Condition("pg", "a2c_proper", "a2c", label="PG, entropy in returns",
                      same_run_as=(1, "a2c_proper")),
            Condition("soft_ql", "soft_ql", "a2c", label="soft Q-learning (eq. 46-47)")),
        seeds=(0, 1, 2), paper_frames=320_000_000, pairs=(("soft_ql", "pg"),),
        agreement=("pg", "soft_ql"),
        claims=(
            ClaimSpec("C5",
                      "PG and soft Q-learning learning curves are almost identical in most games",
                      ("pg", "soft_ql")),
            ClaimSpec("C6",
                      "Soft Q-learning learns stably without a target network or an epsilon "
                      "schedule",
                      ("soft_ql",), reference=("pg",)))),
}
_claim_ids = [c.id for f in FIGURES.values() for c in f.claims]
if len(set(_claim_ids)) != len(_claim_ids):
  raise ValueError(f"claim ids must be unique across figures; got {', '.join(_claim_ids)}")


def check_figure(figure) -> int:
  """The figure number `figure` names (an int, or its digits as given on the command line).
  Raises ValueError naming it and the valid figures."""
  number = int(figure) if isinstance(figure, str) and figure.isdecimal() else figure
  if number not in FIGURES:
    raise ValueError(f"unknown figure {figure!r}; valid: {', '.join(map(str, FIGURES))}")
  return number


def find_condition(name: str) -> Condition:
  """The registered Condition called `name` (first figure that has it). Raises ValueError."""
  for fig in FIGURES.values():
    for c in fig.conditions:
      if c.name == name:
        return c
  raise ValueError(f"unknown condition {name!r}; valid: "
                   f"{', '.join(c.name for f in FIGURES.values() for c in f.conditions)}")
