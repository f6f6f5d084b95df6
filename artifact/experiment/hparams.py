"""Typed hyperparameters of the two families (A2C framework, DQN), with their sources and units,
and the value checks they validate with.

Units: "frames" are emulator frames = 4 x agent steps (docs/protocol.md section 2). Budgets are per
run, i.e. per (figure, game, condition, seed), summed over the run's parallel envs.
"""
from __future__ import annotations

import dataclasses
import math

from agents.precision import PRECISIONS


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
    """Raises ValueError naming the first field of a wrong kind or out of range."""
    _check_kinds(self)
    if self.regularizer not in ("entropy", "kl"):
      raise ValueError(f"regularizer must be one of entropy, kl; got {self.regularizer!r}")
    _check_precision(self)
    _positive(self, "num_envs", "n_steps", "lr", "horizon_frames", "rmsprop_rho", "rmsprop_eps",
              "max_grad_norm")
    _in_unit(self, "gamma")
    _non_negative(self, "tau", "value_coef")


@dataclasses.dataclass(frozen=True)
class DQNHparams:
  """DQN family (Fig. 2): Mnih et al. (2015)'s Nature DQN algorithm with openai/baselines `deepq`'s
  Atari optimizer and schedules; each field's source below (docs/protocol.md section 5 has the
  table). "run_atari.py" is baselines `deepq/experiments/run_atari.py` (2017-10 to 2018-09; from
  2018-08 also `deepq/defaults.py` atari(), the same values); "deepq.learn" is `learn()`
  (simple.py, later deepq.py); "train.py" is baselines' first public Atari DQN script,
  `deepq/experiments/atari/train.py` (2017-05); "Nature" is Mnih et al. (2015), checked against
  secondary sources only.

  Attributes:
    num_envs: environments; the DQN loop runs exactly one (run_atari.py: one env; Nature).
    lr: Adam learning rate, 1e-4 (run_atari.py lr=1e-4; train.py --lr 1e-4; Nature: RMSProp
      2.5e-4).
    adam_eps: Adam epsilon, 1e-8 (deepq.learn's `tf.train.AdamOptimizer(learning_rate=lr)`, TF1's
      default epsilon; train.py used 1e-4).
    batch_size: transitions per gradient step, 32 (deepq.learn's default, not set by run_atari.py;
      Nature 32).
    replay_capacity: transitions kept, 1M (Nature; train.py --replay-buffer-size 1e6;
      run_atari.py: buffer_size=10000, prioritized); frame-deduplicated storage; 20k at smoke
      scale.
    learning_starts: agent steps of pure collection before the first update, 10k (run_atari.py
      learning_starts=10000; train.py: 50k, buffer size / 20; Nature's replay start size 50k:
      not verified).
    train_period: agent steps per gradient step, 4 (run_atari.py train_freq=4; train.py
      --learning-freq 4; Nature 4).
    target_update_period: agent steps between target-network syncs, 1,000 (run_atari.py
      target_network_update_freq=1000, counted in agent steps; Nature 10,000; train.py 40,000).
    epsilon_start, epsilon_end: exploration rate, linearly 1.0 -> 0.01 ...
    epsilon_fraction: ... over this fraction of `horizon_frames`, 0.1: the first 4M frames = 1M
      agent steps (run_atari.py exploration_fraction=0.1, exploration_final_eps=0.01 of its
      default 10M agent steps = 40M frames, deepq.learn's LinearSchedule from 1.0; Nature: 1.0 ->
      0.1 over 1M agent steps; train.py: 1.0 -> 0.1 -> 0.01, piecewise).
    horizon_frames: the paper run's budget in emulator frames (40M, paper Sec. 6.2; also
      run_atari.py's default 10M agent steps) at short and paper scale, so that a shorter run is
      the first N frames of the paper's run; the run's own budget at smoke.
    gamma: discount per agent step, 0.99 (run_atari.py gamma=0.99; Nature 0.99).
    grad_clip: gradient-norm clip threshold, 10 (deepq.learn passes grad_norm_clipping=10 to
      `build_train`, which clips each variable's gradient with tf.clip_by_norm; train.py the
      same), applied as `grad_clip_mode` says. The loss is the Huber loss (`build_train`).
    eval_epsilon: epsilon of the evaluation policy, 0.05 (Nature; baselines `deepq` has no
      evaluation protocol).
    precision: "float32" (default) or "bfloat16" for the torso, as in A2CHparams.

  The network is the Nature CNN with fc512 and a plain Q head (Nature; train.py's `model`);
  run_atari.py's is the same convolutions with a dueling head over 256 hidden units. Its
  initialiser (`torso_init`, default orthogonal: gain sqrt(2) in the torso, 1.0 in the Q head)
  is baselines' A2C one (`a2c/utils.py` ortho_init, `common/models.py` nature_cnn's
  init_scale=sqrt(2), the value head's fc init_scale 1.0), not `deepq`'s: tf.contrib.layers'
  default Glorot uniform kernels (xavier_initializer) with zero biases.

  Factor options of the DQN parity experiment (docs/protocol.md, "DQN parity: the decision
  rule"); each default is the protocol's computation, the other value another code base's:
    torso_init: "orthogonal" (default: orthogonal, gain sqrt(2) in the torso and 1.0 in the Q
      head, baselines' A2C `ortho_init`) or "glorot" (Glorot uniform kernels in the torso and the
      Q head, zero biases: tf.contrib.layers' default in baselines `deepq`, Keras' default).
    life_loss_fire: after a life loss in training, "recorded" (default: FIRE replaces the agent's
      action on the first agent step of the new life, the trajectory records the sampled action)
      or "hidden" (baselines `EpisodicLifeEnv` + `FireResetEnv` reset: NOOP, FIRE, action 2 played
      inside the life-loss step, never seen or recorded; envs/batched_env.py).
    life_loss_stack: after a life loss in training, "keep" (default: the 4-frame stack goes on
      with the frames before the loss) or "zero" (the frames before the new life zeroed, as SB3's
      `VecFrameStack` on a done).
    grad_clip_mode: "per_variable" (default: each variable's gradient clipped to norm
      `grad_clip`, baselines `minimize_and_clip`) or "global" (the gradients of all variables
      scaled together to global norm <= `grad_clip`, tf.clip_by_global_norm, as SB3's
      `clip_grad_norm_` over all parameters).
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
  torso_init: str = "orthogonal"
  life_loss_fire: str = "recorded"
  life_loss_stack: str = "keep"
  grad_clip_mode: str = "per_variable"

  def validate(self):
    """Raises ValueError naming the first field of a wrong kind or out of range (a factor
    option: its value and the allowed ones, DQN_FACTORS)."""
    _check_kinds(self)
    _check_precision(self)
    for name, allowed in DQN_FACTORS.items():
      _check_choice(self, name, allowed)
    if self.num_envs != 1:
      raise ValueError(
          f"num_envs must be 1 for the DQN family (baselines deepq), got {self.num_envs}")
    _positive(self, "lr", "adam_eps", "batch_size", "replay_capacity", "train_period",
              "target_update_period", "grad_clip", "horizon_frames")
    if self.learning_starts < 0:
      raise ValueError(f"learning_starts must be >= 0, got {self.learning_starts}")
    _in_unit(self, "gamma", "epsilon_start", "epsilon_end", "epsilon_fraction", "eval_epsilon")


HPARAMS = {"a2c": A2CHparams, "dqn": DQNHparams}


@dataclasses.dataclass(frozen=True)
class AgentArgument:
  """An agent argument that a condition declares beside its family's hyperparameters
  (`artifact.experiment.registry.Condition.agent_kwargs`, passed to its agent class as a
  keyword): what it means, with its unit, the kind of its value, and its range, a lower bound
  (`minimum`, excluded if `exclusive`) and why."""
  meaning: str
  kind: type
  minimum: float
  exclusive: bool
  why: str = ""

  def check(self, name: str, value):
    """Raises ValueError naming `value` and the range if it is not of `kind` (`check_value`) or
    below the bound."""
    check_value(name, value, self.kind)
    if not (value > self.minimum if self.exclusive else value >= self.minimum):
      raise ValueError(f"{name} must be {'>' if self.exclusive else '>='} {self.minimum:g}"
                       f"{self.why}, got {value!r}")


# Every agent argument a condition may declare: its one declaration and range check (applied by
# `make_run_spec` to the condition's value and to a --set override alike).
AGENT_ARGUMENTS = {
    "tau": AgentArgument("temperature of a soft DQN target, nats per agent step (paper Sec. 6.2: "
                         "0.1 and 0.01)", float, 0.0, exclusive=True,
                         why=" for soft Q-learning (its target divides by tau)"),
}

# The DQN parity experiment's factor options: {field: allowed values, the default first}.
DQN_FACTORS = {
    "torso_init": ("orthogonal", "glorot"),
    "life_loss_fire": ("recorded", "hidden"),
    "life_loss_stack": ("keep", "zero"),
    "grad_clip_mode": ("per_variable", "global"),
}


MAX_SET_INT = 10 ** 10  # an integer given with --set (steps, transitions, envs): beyond any budget
MAX_FRAMES = 2 ** 53    # any integer (frames, steps; --frames): exact as a float


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


def _check_choice(hp, name: str, allowed):
  if getattr(hp, name) not in allowed:
    raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {getattr(hp, name)!r}")


def _positive(hp, *names):
  for n in names:
    if not getattr(hp, n) > 0:
      raise ValueError(f"{n} must be > 0, got {getattr(hp, n)!r}")


def _non_negative(hp, *names):
  for n in names:
    if not getattr(hp, n) >= 0:
      raise ValueError(f"{n} must be >= 0, got {getattr(hp, n)!r}")


def _in_unit(hp, *names):
  for n in names:
    if not 0 <= getattr(hp, n) <= 1:
      raise ValueError(f"{n} must be in [0, 1], got {getattr(hp, n)!r}")
