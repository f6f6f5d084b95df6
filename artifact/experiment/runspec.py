"""The RunSpec that determines one run, how it is built at a scale (`make_run_spec`), and how a
run directory's config.json is compared with it.

Units: "frames" are emulator frames = 4 x agent steps (docs/protocol.md section 2). Budgets are per
run, i.e. per (figure, game, condition, seed), summed over the run's parallel envs.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np

from artifact.experiment import schedule
from artifact.experiment.hparams import AGENT_ARGUMENTS, HPARAMS
from artifact.experiment.registry import FIGURES, Condition, check_figure
from artifact.experiment.scales import LOG_POINTS_SMOKE, check_scale
from envs.games import FRAMESKIP


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """Everything that determines one run; a run is a pure function of its RunSpec and out dir.

  `frames` is how far along its schedules the run trains; two specs that differ only in `frames`
  and `keep_extension_state` are the same run taken to different budgets (a finished run is
  extended to a larger one, `artifact.training.runner`). Equality of the rest: `same_run`."""
  figure: int
  game: str
  condition: str
  seed: int
  frames: int                      # emulator frames to train for
  scale: str
  hparams: object                  # A2CHparams or DQNHparams
  agent_kwargs: dict[str, object]  # the condition's agent arguments, --set applied (soft DQN's tau)
  eval_games: int                  # games per evaluation (played in parallel)
  eval_max_frames: int             # cap per evaluation game, emulator frames
  # "fixed" (points fixed in frames) or "spread:K" (artifact.experiment.schedule)
  eval_schedule: str
  log_every_frames: int            # a progress row each time the frames cross a multiple of this
  keep_extension_state: bool = True  # a finished run keeps what an extension needs (DQN: replay)

  @property
  def family(self) -> str:
    """"a2c" or "dqn": the family of the run's condition."""
    return FIGURES[self.figure].condition(self.condition).family

  @property
  def condition_spec(self) -> Condition:
    """The registry entry of the run's condition."""
    return FIGURES[self.figure].condition(self.condition)

  def same_run(self, other: RunSpec) -> bool:
    """True if the two specs are one run taken to (possibly) different budgets."""
    return run_identity(json.loads(self.to_json())) == run_identity(json.loads(other.to_json()))

  @property
  def replay_transitions(self) -> int:
    """Transitions a DQN-family run's replay holds at its end: its capacity, or the agent steps
    of the budget (frames / FRAMESKIP) if fewer."""
    return min(self.hparams.replay_capacity, self.frames // FRAMESKIP)

  def relpath(self) -> str:
    """The run's directory under runs/: figure{F}/{Game}/{condition}/seed{S}."""
    return f"figure{self.figure}/{self.game}/{self.condition}/seed{self.seed}"

  def to_json(self) -> str:
    """The spec as config.json holds it (sorted keys, hyperparameters nested)."""
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


# RunSpec fields that may change between a run and its extension (config.json keeps the latest),
# and what config.json records beside the spec, which is not part of the run's identity:
# "machine", the CPU facts of the machine it last trained on
# (`artifact.training.machine.cpu_facts`), and "onednn", the kernel path it trains on
# (`artifact.training.machine.recorded_onednn`: checked on its own, with its own message, when the
# run resumes or extends).
EXTENSION_FIELDS = ("frames", "keep_extension_state")
NOT_IDENTITY = EXTENSION_FIELDS + ("machine", "onednn", "tf_threads")


def run_identity(config: dict) -> dict:
  """A config.json dict without the fields an extension may change (`EXTENSION_FIELDS`) and
  without its "machine", "onednn" and "tf_threads" records (checked on their own where a run
  resumes: `artifact.training.runner.Run.prepare`)."""
  return {k: v for k, v in config.items() if k not in NOT_IDENTITY}


def config_differences(config: dict, spec: RunSpec) -> tuple[list, list]:
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


def config_matches(config: dict, spec: RunSpec) -> bool:
  """True if a run directory's config.json dict is `spec`'s run (`config_differences`)."""
  return config_differences(config, spec) == ([], [])


def check_frames(frames) -> int:
  """A budget given as a number: a positive integer (not a bool). Raises ValueError."""
  if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or int(frames) <= 0:
    raise ValueError(f"frames must be a positive integer, got {frames!r}")
  return int(frames)


def make_run_spec(figure: int, game: str, condition: str, seed: int, scale: str,
                  frames: int | None = None, overrides: dict[str, object] | None = None,
                  keep_extension_state: bool | None = None) -> RunSpec:
  """Builds the RunSpec of one run at a scale; `frames` overrides the scale's budget.

  A condition with `same_run_as` returns the spec of that run (Figure 3's `pg` is Figure 1's
  `a2c_proper`). At short and paper scale the run is the first `frames` frames of the paper's
  run: `horizon_frames` = the figure's paper budget (learning rate and epsilon schedules),
  evaluations and progress rows at points fixed in frames, the DQN replay at its 1M transitions.
  At smoke scale every schedule shrinks into the budget: `horizon_frames` = `frames`, learning
  starts after max(batch + 8, 10% of the agent steps), the target syncs every min(1,000, 5% of
  the agent steps) agent steps (at least `train_period`), 5 evaluations spread over the run.
  `overrides` ({key: value}, from `--set`) replace hyperparameters of the run's family or the
  condition's agent arguments, after the scale's rules; keys that belong to neither are ignored
  here (`parse_overrides` rejects keys that belong to no selected run).
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
  hp = dataclasses.replace(hp, horizon_frames=fig.paper_frames if sc.paper_schedules
                           else int(frames))
  if cond.family == "dqn":
    steps = int(frames) // FRAMESKIP
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
  for k, v in kwargs.items():                   # e.g. the tau of a soft DQN target
    AGENT_ARGUMENTS[k].check(k, v)
  return RunSpec(figure=figure, game=game, condition=condition, seed=int(seed), frames=int(frames),
                 scale=scale, hparams=hp, agent_kwargs=kwargs, eval_games=sc.eval_games,
                 eval_max_frames=sc.eval_max_frames,
                 eval_schedule=schedule.FIXED if sc.paper_schedules
                 else f"{schedule.SPREAD}:{sc.evals_per_run}",
                 log_every_frames=(schedule.LOG_EVERY_FRAMES if sc.paper_schedules
                                   else max(1, int(frames) // LOG_POINTS_SMOKE)),
                 keep_extension_state=sc.paper_schedules if keep_extension_state is None
                 else bool(keep_extension_state))
