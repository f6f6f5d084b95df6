"""A batched tf-agents `PyEnvironment` over a gymnasium vector env in SAME_STEP autoreset mode.

tf-agents 0.19 ships no gymnasium wrapper, so this is the adapter (docs/protocol.md section 1).

Semantics (one convention for every agent in this repo):
- Every `step(action)` advances every sub-environment once: there is no tf-agents "reset step"
  that throws an action away, exactly like openai/baselines' `SubprocVecEnv` feeding A2C.
- A terminal for bootstrapping (life loss when `life_loss_terminal`, game over, or the episode
  cap) shows as `discount == 0` on the time step that received the terminal reward. Its
  observation is already the next life's / next game's first observation (SAME_STEP autoreset),
  which is harmless because nothing bootstraps through discount 0.
- `step_type` is FIRST on the time step returned by `reset()` and MID afterwards. Terminals are
  carried by the discount alone so that tf-agents' `DqnAgent` (which masks transitions that
  *start* on a LAST step) keeps every real transition.
- `reward` is what the agent learns from (sign-clipped for Atari, docs/protocol.md section 2); the
  raw game score of every finished *game* is collected separately (`pop_finished_games`).
- Every action since the last `reset()` is logged (`action_log`), and `replay(actions)` puts a
  freshly seeded env back into the exact state that playing those actions left it in: ALE
  without sticky actions is deterministic, and ale-py's vector env cannot save an emulator's
  state, so replaying the actions is how a resumed or extended run continues its training games
  exactly where they were (`artifact.training.runner`). Replay costs the emulation of the frames
  played (no network), e.g. ~4 minutes for 3M frames of 16 Atari envs on 2 cores.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
from tf_agents.environments import py_environment
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts


@dataclasses.dataclass(frozen=True)
class FinishedGame:
  """One finished game: `score` is the raw (unclipped) game score, `agent_steps` its length."""
  env_id: int
  score: float
  agent_steps: int


# game_over_fn(terminated, truncated, info, prev_info) -> bool[num_envs]
GameOverFn = Callable[[np.ndarray, np.ndarray, dict, dict | None], np.ndarray]


def _every_terminal_is_game_over(terminated, truncated, info, prev_info):
  del info, prev_info
  return np.logical_or(terminated, truncated)


class ActionLog:
  """Growable log of the actions sent to a batched env: int [steps, num_envs], stored as uint8
  (Atari's action sets have at most 18 actions), amortized O(1) append."""

  def __init__(self, num_envs: int):
    self._num_envs = int(num_envs)
    self.clear()

  def clear(self):
    """Forgets every logged action (a seeded reset starts a new log)."""
    self._data = np.zeros((1024, self._num_envs), np.uint8)
    self._n = 0

  def append(self, action: np.ndarray):
    """Logs one agent step's actions (int [num_envs], each in [0, 255]). Raises ValueError
    for an action outside that range."""
    if self._n == len(self._data):
      self._data = np.concatenate([self._data, np.zeros_like(self._data)])
    if action.min() < 0 or action.max() > 255:
      raise ValueError(f"actions must be in [0, 255] to be logged, got {action}")
    self._data[self._n] = action
    self._n += 1

  def array(self) -> np.ndarray:
    """A copy of the log: uint8 [steps, num_envs]."""
    return self._data[:self._n].copy()

  def __len__(self) -> int:
    return self._n


class _BatchedEnv(py_environment.PyEnvironment):
  """What every batched env here shares: `batch_size` = `self._num_envs`, no tf-agents reset."""

  def __init__(self, num_envs: int):
    super().__init__(handle_auto_reset=False)
    self._num_envs = int(num_envs)

  @property
  def batched(self) -> bool:
    return True

  @property
  def batch_size(self) -> int:
    return self._num_envs


class BatchedGymnasiumEnv(_BatchedEnv):
  """tf-agents batched `PyEnvironment` (batch_size = num_envs) over a gymnasium `VectorEnv`.

  Args:
    vector_env: a gymnasium vector env constructed with SAME_STEP autoreset; discrete actions.
    observation_spec: `array_spec` of one observation (e.g. uint8 (4, 84, 84)).
    clip_rewards: learn from sign(r) (docs/protocol.md section 2, baselines `ClipRewardEnv`).
    game_over_fn: tells a game over from a life loss; default: every terminal is a game over.
    frames_per_step: emulator frames per agent step (4 for Atari's frameskip, 1 otherwise).
    seed: seeds the first reset: an int (gymnasium/ale-py: sub-env i gets seed + i), a sequence
      of one int per sub-env (what the runner passes, see `artifact.experiment.seeding`), or None.
    fire_action: if set, the action executed on the first agent step of every new life after a
      life loss that is not a game over (baselines `FireResetEnv` under `EpisodicLifeEnv`; in
      Breakout the ball is not served until FIRE). The agent's own action on that step is
      ignored by the game (the trajectory still records it).
    life_reset_actions: instead of `fire_action`, a hidden life-loss reset: after a life loss
      that is not a game over, these actions (e.g. (0, 1, 2): NOOP, FIRE, action 2, baselines'
      `EpisodicLifeEnv.reset` no-op then `FireResetEnv.reset`) are played at once, one agent step
      each, inside the step that lost the life: that step's observation is the one after them;
      the agent never sees, chooses or records them and learns nothing from their rewards (their
      raw score still counts for the game, as in baselines' Monitor). A step of the sequence that
      loses another life starts it again; one that ends the game ends it. These steps are
      emulator frames (the game's length counts them) but not agent steps (`agent_steps` and
      `frames` do not). One sub-environment only (a vector env steps all its envs at once).
    zero_stack_on_life_loss: after a life loss (and on a new game, where ale-py's reset already
      does it), the frames of the observation's stack (axis 1 of the batch, oldest first) from
      before the new life are zeros, as SB3's `VecFrameStack` on every done: [0, 0, 0, f0],
      then [0, 0, f0, f1], ...

  Time steps: observation [num_envs, *obs_shape], reward float32 [num_envs] (clipped when
  `clip_rewards`), discount float32 [num_envs] in {0, 1}, step_type int32 [num_envs].
  Raises ValueError for both `fire_action` and `life_reset_actions`, or `life_reset_actions`
  with more than one sub-environment.
  """

  def __init__(self, vector_env, observation_spec: array_spec.ArraySpec, *,
               clip_rewards: bool, game_over_fn: GameOverFn = _every_terminal_is_game_over,
               frames_per_step: int = 1, seed=None, fire_action: int | None = None,
               life_reset_actions: Sequence[int] | None = None,
               zero_stack_on_life_loss: bool = False):
    if fire_action is not None and life_reset_actions is not None:
      raise ValueError(
          "fire_action and life_reset_actions are two ways to serve a new life: give one")
    if life_reset_actions is not None and int(vector_env.num_envs) != 1:
      raise ValueError(f"life_reset_actions needs one sub-environment (its hidden steps step them "
                       f"all), got {int(vector_env.num_envs)}")
    super().__init__(int(vector_env.num_envs))
    self._env = vector_env
    self._observation_spec = observation_spec
    n_actions = int(vector_env.single_action_space.n)
    self._action_spec = array_spec.BoundedArraySpec((), np.int64, 0, n_actions - 1, name="action")
    self._clip = clip_rewards
    self._game_over_fn = game_over_fn
    self.frames_per_step = int(frames_per_step)
    self._seed = seed
    self._fire_action = fire_action
    self._fire_pending = np.zeros(self._num_envs, bool)
    self._life_reset_actions = (None if life_reset_actions is None
                                else tuple(int(a) for a in life_reset_actions))
    self._zero_stack = bool(zero_stack_on_life_loss)
    self._stack = int(observation_spec.shape[0]) if self._zero_stack else 0
    self._life_frames = np.full(self._num_envs, self._stack, np.int64)  # newest frames of this life
    self._prev_info: dict | None = None
    self._score = np.zeros(self._num_envs, np.float64)
    self._length = np.zeros(self._num_envs, np.int64)
    self._finished: list[FinishedGame] = []
    self._pending_action = None
    self._actions = ActionLog(self._num_envs)
    self.agent_steps = 0   # total agent steps over all sub-envs since construction

  # --- tf-agents PyEnvironment API -------------------------------------------------------
  @property
  def num_actions(self) -> int:
    """Size of the discrete action set (the game's minimal action set)."""
    return int(self._action_spec.maximum) + 1

  def observation_spec(self):
    return self._observation_spec

  def action_spec(self):
    return self._action_spec

  def _reset(self):
    obs, info = self._env.reset(seed=_as_reset_seed(self._seed, self._num_envs))
    self._seed = None  # seed only the first reset; later games follow from the RNG state
    self._actions.clear()
    self._prev_info = info
    self._fire_pending[:] = False
    self._life_frames[:] = self._stack
    self._score[:] = 0.0
    self._length[:] = 0
    n = self._num_envs
    return ts.TimeStep(
        step_type=np.full(n, ts.StepType.FIRST, np.int32),
        reward=np.zeros(n, np.float32),
        discount=np.ones(n, np.float32),
        observation=self._cast(obs))

  def _step(self, action):
    self.send(action)
    return self.recv()

  def send(self, action):
    """Starts one agent step of every sub-env with `action` (int [num_envs]) and returns at once
    where the vector env steps asynchronously (ale-py's `AtariVectorEnv.send`); `recv()` returns
    the time step. `step(action)` is `send(action)` then `recv()`."""
    action = np.asarray(action).reshape(self._num_envs)
    self._actions.append(action)
    if self._fire_pending.any():
      action = np.where(self._fire_pending, self._fire_action, action).astype(action.dtype)
    if hasattr(self._env, "send"):
      self._env.send(action)
    else:                                  # a synchronous gymnasium vector env: step in recv()
      self._pending_action = action

  def recv(self):
    """Waits for the step started by `send` and returns its TimeStep (see the class docstring)."""
    if hasattr(self._env, "recv"):
      obs, reward, terminated, truncated, info = self._env.recv()
    else:
      obs, reward, terminated, truncated, info = self._env.step(self._pending_action)
    reward = np.asarray(reward, np.float64)
    terminated = np.asarray(terminated, bool)
    truncated = np.asarray(truncated, bool)
    self.agent_steps += self._num_envs
    game_over = self._book(reward, terminated, truncated, info)
    life_lost = terminated & ~game_over                    # a life lost, the game goes on
    if self._life_reset_actions is not None and life_lost.any():
      obs, hidden_game_over = self._hidden_life_reset()
      game_over = game_over | hidden_game_over
    if self._fire_action is not None:
      self._fire_pending = life_lost
    obs = self._cast(obs)
    if self._zero_stack:
      obs = self._zero_frames_before_life(obs, life_lost | game_over)

    learn_reward = np.sign(reward) if self._clip else reward
    done = np.logical_or(terminated, truncated)
    return ts.TimeStep(
        step_type=np.full(self._num_envs, ts.StepType.MID, np.int32),
        reward=learn_reward.astype(np.float32),
        discount=(1.0 - done).astype(np.float32),
        observation=obs)

  def _book(self, reward, terminated, truncated, info) -> np.ndarray:
    """Raw score bookkeeping of one emulator step (reward float64 [num_envs]): the reward
    belongs to the game that just played it; a game over files that game. Returns game_over
    bool [num_envs]."""
    self._score += reward
    self._length += 1
    game_over = self._game_over_fn(terminated, truncated, info, self._prev_info)
    for i in np.flatnonzero(game_over):
      self._finished.append(FinishedGame(int(i), float(self._score[i]), int(self._length[i])))
      self._score[i] = 0.0
      self._length[i] = 0
    self._prev_info = info
    return game_over

  def _hidden_life_reset(self):
    """Plays `life_reset_actions` after a life loss (one sub-env; class docstring), each step
    booked for the game's raw score. Returns (the observation after them, whether they ended
    the game: bool [1])."""
    ended, i = np.zeros(1, bool), 0
    while i < len(self._life_reset_actions):
      action = np.full(1, self._life_reset_actions[i], np.int64)
      if hasattr(self._env, "send"):
        self._env.send(action)
        obs, reward, terminated, truncated, info = self._env.recv()
      else:
        obs, reward, terminated, truncated, info = self._env.step(action)
      terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
      ended = self._book(np.asarray(reward, np.float64), terminated, truncated, info)
      if ended.any():
        break                              # a new game began (the emulator's own reset)
      i = 0 if terminated.any() else i + 1  # another life lost: the reset starts again
    return obs, ended

  def _zero_frames_before_life(self, obs: np.ndarray, life_start: np.ndarray) -> np.ndarray:
    """`obs` (uint8 [num_envs, stack, ...]) with the stack's frames from before the current
    life zeroed; `life_start` (bool [num_envs]): this step's observation begins a life."""
    self._life_frames = np.where(life_start, 1, np.minimum(self._life_frames + 1, self._stack))
    old = self._stack - self._life_frames            # frames before the life, oldest first
    if not old.any():
      return obs
    obs = obs.copy()
    for i in np.flatnonzero(old):
      obs[i, :old[i]] = 0
    return obs

  def seed_games(self, seed):
    """The next `reset()` reseeds every sub-environment with `seed` (int, one int per sub-env,
    or None), as a new env would."""
    self._seed = seed

  def action_log(self) -> np.ndarray:
    """The actions sent since the last `reset()`: uint8 [steps, num_envs]."""
    return self._actions.array()

  def replay(self, actions: np.ndarray):
    """Resets (with the seed set by `seed_games` or at construction) and plays `actions`
    (int [steps, num_envs], an `action_log()`), discarding the games it finishes. Returns the
    last TimeStep: the env, its raw-score bookkeeping and its action log are then as they were
    when the log was taken. Raises ValueError for actions of the wrong width."""
    actions = np.asarray(actions)
    if actions.ndim != 2 or actions.shape[1] != self._num_envs:
      raise ValueError(f"actions must be [steps, {self._num_envs}], got shape {actions.shape}")
    time_step = self.reset()
    for a in actions.astype(np.int64):
      time_step = self.step(a)
    self._finished.clear()
    return time_step

  def close(self):
    self._env.close()

  # --- bookkeeping ------------------------------------------------------------------------
  def pop_finished_games(self) -> list[FinishedGame]:
    """Returns and forgets the games finished since the last call (raw scores)."""
    out, self._finished = self._finished, []
    return out

  @property
  def frames(self) -> int:
    """Emulator frames stepped so far over all sub-envs (= frames_per_step x agent steps)."""
    return self.agent_steps * self.frames_per_step

  def _cast(self, obs):
    return np.asarray(obs, dtype=self._observation_spec.dtype)


def _as_reset_seed(seed, num_envs: int):
  """int -> int (sub-env i gets seed + i); a sequence -> list of `num_envs` Python ints (the
  gymnasium vector-env convention); None -> None.

  Raises ValueError if a sequence does not have one seed per sub-environment."""
  if seed is None or isinstance(seed, (int, np.integer)):
    return None if seed is None else int(seed)
  seeds = [int(x) for x in np.asarray(seed).reshape(-1)]
  if len(seeds) != num_envs:
    raise ValueError(f"need one seed per sub-environment ({num_envs}), got {len(seeds)}")
  return seeds


class GroupedBatchedEnv(_BatchedEnv):
  """Several `BatchedGymnasiumEnv` groups seen as one batched env of their concatenated envs.

  Env i of group g is env `offset_g + i` of the whole batch. `step` starts every group's step
  before waiting for any, so the groups' emulators step together; `groups` gives the overlapped
  A2C collection (`artifact.training.a2c`) the groups themselves, to act on one group while the
  others step. Per-env seeds are split among the groups in order, so a grouped env and one
  vector env over all the envs, seeded alike, play the same games (a test checks it for ale-py).
  """

  def __init__(self, groups):
    groups = list(groups)
    if not groups:
      raise ValueError("need at least one group")
    super().__init__(sum(g.batch_size for g in groups))
    self.groups = groups
    self.offsets = list(np.cumsum([0] + [g.batch_size for g in self.groups])[:-1])
    self.frames_per_step = self.groups[0].frames_per_step

  @property
  def num_actions(self) -> int:
    """Size of the discrete action set (the same in every group)."""
    return self.groups[0].num_actions

  def observation_spec(self):
    return self.groups[0].observation_spec()

  def action_spec(self):
    return self.groups[0].action_spec()

  def _reset(self):
    return _concat_time_steps([g.reset() for g in self.groups])

  def _step(self, action):
    action = np.asarray(action).reshape(self._num_envs)
    for g, off in zip(self.groups, self.offsets):
      g.send(action[off:off + g.batch_size])
    return _concat_time_steps([g.recv() for g in self.groups])

  def seed_games(self, seed):
    """As `BatchedGymnasiumEnv.seed_games`; an int gives env i the seed `seed + i` of the batch."""
    for g, off in zip(self.groups, self.offsets):
      if seed is None:
        g.seed_games(None)
      elif isinstance(seed, (int, np.integer)):
        g.seed_games(int(seed) + int(off))
      else:
        seeds = _as_reset_seed(seed, self._num_envs)
        g.seed_games(seeds[off:off + g.batch_size])

  def close(self):
    for g in self.groups:
      g.close()

  def action_log(self) -> np.ndarray:
    """The groups' action logs side by side: uint8 [steps, num_envs] (env ids of the batch)."""
    return np.concatenate([g.action_log() for g in self.groups], axis=1)

  def replay_groups(self, actions: np.ndarray):
    """`BatchedGymnasiumEnv.replay` of each group with its columns of `actions`; returns the
    groups' last TimeSteps."""
    actions = np.asarray(actions)
    if actions.ndim != 2 or actions.shape[1] != self._num_envs:
      raise ValueError(f"actions must be [steps, {self._num_envs}], got shape {actions.shape}")
    return [g.replay(actions[:, off:off + g.batch_size])
            for g, off in zip(self.groups, self.offsets)]

  def replay(self, actions: np.ndarray):
    """As `BatchedGymnasiumEnv.replay`, group by group; returns the batch's last TimeStep."""
    return _concat_time_steps(self.replay_groups(actions))

  def pop_finished_games(self) -> list[FinishedGame]:
    """The groups' finished games, env ids of the whole batch."""
    out = []
    for g, off in zip(self.groups, self.offsets):
      out += [dataclasses.replace(f, env_id=f.env_id + int(off)) for f in g.pop_finished_games()]
    return out

  @property
  def agent_steps(self) -> int:
    """Agent steps taken by all groups' envs together."""
    return sum(g.agent_steps for g in self.groups)

  @property
  def frames(self) -> int:
    """Emulator frames played by all groups' envs together."""
    return sum(g.frames for g in self.groups)


def _concat_time_steps(steps):
  return ts.TimeStep(*[np.concatenate(parts) for parts in zip(*steps)])
