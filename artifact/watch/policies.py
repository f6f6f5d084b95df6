"""Where a policy to watch comes from and how its evaluation is rebuilt (`artifact.watch`).

`resolve_policy` turns POLICY_DIR into a `PolicySource`: a run directory (config.json, done.json,
policy/), its policy/ folder, a bare tf-agents PolicySaver SavedModel, or a published reference
run without policy/ whose policy lies in reports/reference/policies/ (its run.json names the
run, `published_policies`). `protocol_for` gives the evaluation to play (`Protocol`: games, cap,
the seeds of run seed S at frame point f). `load_saved_policy` and `make_policy` rebuild the
run's evaluation policy from the SavedModel:
- "dqn": the saved policy is the greedy Q policy; the evaluation is `EpsilonGreedyPyPolicy` over
  it with the run's `eval_epsilon` and the policy seed, as `DQNTrainer` builds it.
- "a2c": the saved policy is the agent's collect policy, whose noise rows are the 16 training
  envs; the evaluation samples differently (`CategoricalPolicy(..., num_envs=0)`), so the logits
  come from the SavedModel's `distribution` function and the action from
  `agents.policies.gumbel_max_sample(logits, seed, step, env_ids, num_envs=0)` (step counted from
  0 per agent step, env_ids = range(batch)): what the training's evaluation policy does. For
  `--panel` it also keeps the logits and the value head of each step: the value head from the
  network rebuilt from the SavedModel's variables (`artifact.watch.panel.saved_actor_critic`; the
  SavedModel has no function that evaluates it).
Every refusal is a `UsageError` (exit status 2) naming the bad value.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from artifact.experiment.hparams import DQNHparams
from artifact.experiment.registry import FIGURES
from artifact.experiment.scales import SCALES
from artifact.experiment.seeding import run_seeds
from artifact.usage import UsageError
from envs.games import validate_game

PROG = "pg-softq-play"
BARE_DEFAULTS = SCALES["short"]              # games and cap for a bare SavedModel (no config.json)
REPO = Path(__file__).resolve().parents[2]
PUBLISHED_POLICIES = REPO / "reports" / "reference" / "policies"
RUN_RECORD = "run.json"      # in a published policy: the run it is the final policy of


def fail(msg: str):
  """Raises the UsageError of `msg`, prefixed as argparse prefixes its own errors."""
  raise UsageError(f"{PROG}: error: {msg}")


@dataclasses.dataclass(frozen=True)
class PolicySource:
  """A policy to play and what its directory says about it.

  `path`: as given; `saved_model`: the SavedModel folder; `run_dir`, `config`, `done`: the run
  directory and its config.json / done.json (None for a bare SavedModel); `game`: the Atari game;
  `condition`: the run's condition (a bare SavedModel: its folder's name); `family`: "a2c" or
  "dqn" from the config (None for a bare SavedModel: told by its `distribution` at load);
  `num_actions`: the size of its action set (policy_specs.pbtxt)."""
  path: str
  saved_model: Path
  run_dir: Path | None
  config: dict | None
  done: dict | None
  game: str
  condition: str
  family: str | None
  num_actions: int

  @property
  def label(self) -> str:
    """The name a video tile and the printout give the policy: its condition."""
    return self.condition


def is_saved_model(d: Path) -> bool:
  """True iff the folder `d` holds a SavedModel (saved_model.pb or saved_model.pbtxt)."""
  return (d / "saved_model.pb").is_file() or (d / "saved_model.pbtxt").is_file()


def _read_json(path: Path) -> dict:
  try:
    return json.loads(path.read_text())
  except (OSError, ValueError) as e:
    fail(f"{path}: cannot be read as JSON ({e})")


def _policy_action_count(saved_model: Path, shown: str) -> int:
  """|A| of a PolicySaver SavedModel, from its policy_specs.pbtxt (no graph loaded)."""
  specs_file = saved_model / "policy_specs.pbtxt"
  if not specs_file.is_file():
    fail(f"{shown}: a SavedModel without policy_specs.pbtxt, not a tf-agents PolicySaver policy")
  from tf_agents.specs import tensor_spec
  try:
    data_spec = tensor_spec.from_pbtxt_file(str(specs_file))["collect_data_spec"]
    action, observation = data_spec.action, data_spec.observation
  except Exception as e:  # noqa: BLE001  (a damaged or foreign specs file, said as such)
    fail(f"{shown}: policy_specs.pbtxt does not hold a tf-agents policy's specs ({e})")
  if tuple(observation.shape) != (4, 84, 84) or observation.dtype.name != "uint8":
    fail(f"{shown}: the policy observes {observation.dtype.name} {tuple(observation.shape)}, "
          f"not the Atari agents' uint8 (4, 84, 84) frame stack")
  return int(np.max(action.maximum)) + 1


@dataclasses.dataclass(frozen=True)
class PublishedPolicy:
  """A published final policy (scripts/publish_policies.py): its SavedModel folder and its
  RUN_RECORD: `run` (figureF/Game/condition/seedS), the run's final `frames` (emulator frames)
  and `config_sha256` (of the run's config.json)."""
  saved_model: Path
  run: str
  frames: int
  config_sha256: str


def published_policies(folders: Sequence[Path]) -> list[PublishedPolicy]:
  """Every published policy under `folders` ({Game}/{condition}/ SavedModels, each with a
  RUN_RECORD), in folder then path order; a folder that does not exist, or a record that does
  not read as one, is skipped."""
  out, seen = [], set()
  for folder in folders:
    for record in sorted(Path(folder).glob(f"*/*/{RUN_RECORD}")):
      if record.resolve() in seen or not is_saved_model(record.parent):
        continue
      seen.add(record.resolve())
      try:
        r = json.loads(record.read_text())
        out.append(PublishedPolicy(record.parent, str(r["run"]), int(r["frames"]),
                                   str(r["config_sha256"])))
      except (OSError, ValueError, KeyError, TypeError):
        continue
  return out


def _policy_folders(run_dir: Path) -> list[Path]:
  """Where a run directory's published policy may lie: policies/ beside the runs/ the run is
  in (OUT/runs/figureF/Game/condition/seedS -> OUT/policies), then PUBLISHED_POLICIES."""
  parents = run_dir.resolve().parents
  beside = [parents[4] / "policies"] if len(parents) > 4 and parents[3].name == "runs" else []
  return beside + [PUBLISHED_POLICIES]


def shown(path: Path) -> str:
  """`path` relative to the working directory where it lies below it, else absolute."""
  try:
    return str(path.resolve().relative_to(Path.cwd().resolve()))
  except ValueError:
    return str(path.resolve())


def _published_policy_of(d: Path, path: str) -> Path:
  """The SavedModel of run directory `d` (given as `path`), which has no policy/: the published
  policy whose RUN_RECORD names this run (config.json's figure, game, condition and seed) at its
  frames (done.json) with its config.json (SHA-256). Raises UsageError naming the runs that have
  one when none is this run's, or saying what differs when one names the run but not its state."""
  config = _read_json(d / "config.json")
  folders = _policy_folders(d)
  found = published_policies(folders)
  try:
    rel = (f"figure{int(config['figure'])}/{config['game']}/{config['condition']}/"
           f"seed{int(config['seed'])}")
  except (KeyError, ValueError, TypeError):
    rel = None
  mine = [p for p in found if p.run == rel]
  if not mine:
    runs = ", ".join(sorted(p.run for p in found)) or "none"
    fail(f"{path}: a run directory without policy/ (a run writes it when it finishes) and no "
          f"published policy is this run's. Runs with a published policy (in "
          f"{' and '.join(dict.fromkeys(shown(f) for f in folders if f.is_dir())) or 'no folder'}"
          f"): {runs}")
  p = mine[0]
  sha = hashlib.sha256((d / "config.json").read_bytes()).hexdigest()
  frames = _read_json(d / "done.json").get("frames") if (d / "done.json").is_file() else None
  if sha != p.config_sha256 or frames != p.frames:
    what = ("its config.json differs from the published run's" if sha != p.config_sha256 else
            f"it is at {frames if frames is None else format(frames, ',')} frames, the published "
            f"policy at {p.frames:,}")
    fail(f"{path}: a run directory without policy/; the published policy of {p.run} "
          f"({shown(p.saved_model)}) is not this run's final policy: {what}")
  return p.saved_model


def resolve_policy(path: str, game: str | None = None) -> PolicySource:
  """The `PolicySource` of POLICY_DIR `path`: a run directory (config.json, done.json, policy/),
  its policy/ folder, or a bare PolicySaver SavedModel (then `game` is required). A run
  directory without policy/ (a published reference run: reports/reference/runs/...) plays the
  published policy whose RUN_RECORD is this run at its final frames (`_published_policy_of`).
  `game` (--game) given for a run must be the run's game. Raises UsageError for a path that is
  none of these, a run without policy/ and no published policy of it (the message lists the runs
  that have one), an unfinished run (no done.json), a SavedModel that is not a tf-agents Atari
  policy, a missing or unknown --game, or a --game other than the run's."""
  d = Path(path)
  if not d.is_dir():
    fail(f"{path}: no such directory (want a run directory, its policy/ folder or a SavedModel)")
  run_dir = d if (d / "config.json").is_file() else (
      d.parent if d.name == "policy" and (d.parent / "config.json").is_file() else None)
  if run_dir == d and not (d / "policy").is_dir() and not is_saved_model(d):
    saved_model = _published_policy_of(d, path)
  else:
    saved_model = d / "policy" if run_dir == d else d
  if not is_saved_model(saved_model):
    fail(f"{path}: not a SavedModel (no saved_model.pb in {saved_model}) nor a run directory "
          f"(config.json, done.json, policy/)")
  num_actions = _policy_action_count(saved_model, path)
  if run_dir is None:
    if game is None:
      fail(f"{path}: a bare SavedModel says nothing of its game; name it with --game "
            f"(e.g. --game Pong)")
    try:
      validate_game(game)
    except ValueError as e:
      fail(f"--game {game!r}: {e}")
    return PolicySource(path, saved_model, None, None, None, game, saved_model.name, None,
                        num_actions)
  config = _read_json(run_dir / "config.json")
  if not (run_dir / "done.json").is_file():
    fail(f"{path}: the run has no done.json (unfinished, or being extended): its final frame "
          f"point is unknown")
  done = _read_json(run_dir / "done.json")
  missing = [k for k in ("figure", "game", "condition", "seed", "eval_games", "eval_max_frames",
                          "hparams") if k not in config] + [k for k in ("frames",) if k not in done]
  if missing:
    fail(f"{path}: config.json / done.json lack {', '.join(missing)}: not a run's")
  try:
    family = FIGURES[int(config["figure"])].condition(config["condition"]).family
  except (KeyError, ValueError, TypeError) as e:
    fail(f"{path}: config.json names no known figure and condition ({e})")
  run_game = str(config["game"])
  if game is not None and game != run_game:
    fail(f"--game {game}: {path} is a run of {run_game}")
  return PolicySource(path, saved_model, run_dir, config, done, run_game, str(config["condition"]),
                      family, num_actions)


# --- the protocol of the evaluation played --------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Protocol:
  """The evaluation played: `games` whole games of `game`, capped at `max_frames` emulator frames
  each, seeded as the evaluation at frame point `point` (emulator frames trained) of run seed
  `run_seed` (`artifact.experiment.seeding`)."""
  game: str
  games: int
  max_frames: int
  run_seed: int
  point: int

  @property
  def env_seeds(self) -> np.ndarray:
    """The games' env seeds, int64 [games]: `run_seeds(S, 1).eval_env(games, point)`."""
    return run_seeds(self.run_seed, 1).eval_env(self.games, self.point)

  @property
  def policy_seed(self) -> int:
    """The evaluation policy's sampling seed: `run_seeds(S, 1).eval_policy_seed(point)`."""
    return run_seeds(self.run_seed, 1).eval_policy_seed(self.point)


def protocol_for(source: PolicySource, games: int | None, seed: int | None,
                 max_frames: int | None) -> Protocol:
  """The `Protocol` of `source` with the command line's overrides (None: the run's own value;
  a bare SavedModel: run seed 0, frame point 0, the short scale's eval_games and cap)."""
  if source.config is None:
    return Protocol(source.game, BARE_DEFAULTS.eval_games if games is None else games,
                    BARE_DEFAULTS.eval_max_frames if max_frames is None else max_frames,
                    0 if seed is None else seed, 0)
  c = source.config
  return Protocol(source.game, int(c["eval_games"]) if games is None else games,
                  int(c["eval_max_frames"]) if max_frames is None else max_frames,
                  int(c["seed"]) if seed is None else seed, int(source.done["frames"]))


# --- the evaluation policy rebuilt from the SavedModel --------------------------------------------

class SavedGreedyPyPolicy:
  """The `action` of a saved greedy policy (a DQN run's policy/) on batches of `batch_size` envs,
  through one traced concrete function. Acts as a tf-agents PyPolicy where `evaluate` and
  `EpsilonGreedyPyPolicy` use one: `time_step_spec`, `action_spec` (the env's array specs) and
  `action(time_step)` -> PolicyStep with int64 actions [batch]."""

  def __init__(self, saved, time_step_spec, action_spec, batch_size: int):
    from agents.policies import compile_on_time_steps
    self.time_step_spec, self.action_spec = time_step_spec, action_spec
    self._fn = compile_on_time_steps(lambda time_step: saved.action(time_step, ()).action,
                                     time_step_spec, batch_size)

  def action(self, time_step, policy_state=()):
    """The greedy actions of a batched numpy time step (PolicyStep, actions int64 [batch])."""
    from tf_agents.trajectories import policy_step
    action = self._fn(time_step).numpy().astype(self.action_spec.dtype)
    return policy_step.PolicyStep(action, policy_state, ())


class SavedSamplingPyPolicy:
  """The evaluation policy of an A2C-framework run from its saved collect policy: logits from the
  SavedModel's `distribution`, actions from `gumbel_max_sample(logits, seed, step, env_ids,
  num_envs=0)` with step 0, 1, ... per agent step (per `action` call) and env_ids =
  range(batch), as `CategoricalPolicy(..., seed, num_envs=0)` samples. On batches of
  `batch_size` envs; acts as a tf-agents PyPolicy where `evaluate` uses one (`time_step_spec`,
  `action_spec`, `action`).

  `value_network` (for `--panel`): None, or the network rebuilt from the SavedModel's variables
  (`artifact.watch.panel.saved_actor_critic`); then each `action` also keeps `readout`: (the
  logits the actions were sampled from, float32 [batch, |A|], the value head, float32 [batch]),
  and checks that the rebuilt network's logits are the SavedModel's (`LOGIT_TOLERANCE`). The
  actions are the same either way: they are sampled from the SavedModel's logits alone."""

  def __init__(self, saved, time_step_spec, action_spec, batch_size: int, seed: int,
               value_network=None):
    import tensorflow as tf

    from agents.policies import compile_on_time_steps, gumbel_max_sample
    self.time_step_spec, self.action_spec = time_step_spec, action_spec
    env_ids = tf.range(batch_size, dtype=tf.int32)

    def act(time_step, seed, step):
      logits = tf.cast(saved.distribution(time_step, ()).action.logits, tf.float32)
      action = gumbel_max_sample(logits, seed, step, env_ids, 0)
      if value_network is None:
        return action
      (rebuilt, value), _ = value_network(time_step.observation)
      gap = tf.reduce_max(tf.abs(tf.cast(rebuilt, tf.float32) - logits))
      return action, logits, tf.cast(value, tf.float32), gap
    scalar = tf.TensorSpec([], tf.int64)
    self._fn = compile_on_time_steps(act, time_step_spec, batch_size, scalar, scalar)
    self._seed, self._step = int(seed), 0
    self._panel = value_network is not None
    self.readout: tuple[np.ndarray, np.ndarray] | None = None

  def seed_sampling(self, seed: int):
    """Restarts the sampling stream from `seed` (agent step 0)."""
    self._seed, self._step = int(seed), 0

  def action(self, time_step, policy_state=()):
    """One agent step of every env: the sampled actions (PolicyStep, int64 [batch]). With a
    value network, `readout` becomes this step's (logits, value). Raises RuntimeError if the
    rebuilt network's logits are more than LOGIT_TOLERANCE from the SavedModel's."""
    import tensorflow as tf
    from tf_agents.trajectories import policy_step

    from artifact.watch.panel import LOGIT_TOLERANCE
    out = self._fn(time_step, tf.constant(self._seed, tf.int64),
                   tf.constant(self._step, tf.int64))
    self._step += 1
    if self._panel:
      action, logits, value, gap = out
      if not float(gap) <= LOGIT_TOLERANCE:
        raise RuntimeError(f"the network rebuilt from the SavedModel's variables gives logits "
                           f"{float(gap):.3g} away from the SavedModel's own (at most "
                           f"{LOGIT_TOLERANCE:g}): its value head would not be this policy's")
      self.readout = (logits.numpy(), value.numpy())
    else:
      action = out
    return policy_step.PolicyStep(action.numpy().astype(self.action_spec.dtype), policy_state, ())


def load_saved_policy(source: PolicySource):
  """(the loaded SavedModel, its family "a2c" or "dqn"). A bare SavedModel's family is told by
  its `distribution`: a Categorical over actions (an A2C-framework collect policy) or a
  Deterministic one (a greedy Q policy). Raises UsageError if it does not load or is neither."""
  import tensorflow as tf
  import tensorflow_probability as tfp  # noqa: F401  (registers the saved distributions' types)
  from tf_agents.trajectories import time_step as ts
  try:
    saved = tf.saved_model.load(str(source.saved_model))
    step = saved.distribution(ts.restart(tf.zeros([1, 4, 84, 84], tf.uint8), batch_size=1), ())
  except Exception as e:  # noqa: BLE001  (any load failure is the directory's, said as such)
    fail(f"{source.path}: the SavedModel does not load as a tf-agents policy ({type(e).__name__}: "
          f"{str(e).splitlines()[0] if str(e) else ''})")
  dist = step.action
  kind = ("a2c" if isinstance(dist, tfp.distributions.Categorical) else
          "dqn" if isinstance(dist, tfp.distributions.Deterministic) else None)
  family = source.family or kind
  if family is None:
    fail(f"{source.path}: its distribution is a {type(dist).__name__}, neither an A2C-framework "
          f"policy's Categorical nor a greedy Q policy's Deterministic")
  return saved, family


def make_policy(saved, family: str, source: PolicySource, env, protocol: Protocol,
                panel: bool = False):
  """The evaluation PyPolicy of `source` on the batched `env` (batch = protocol.games), seeded
  with the protocol's policy seed: for "dqn" `EpsilonGreedyPyPolicy(SavedGreedyPyPolicy, the
  run's eval_epsilon (a bare SavedModel: DQNHparams' 0.05))`, for "a2c" `SavedSamplingPyPolicy`
  (module docstring). `panel`: the A2C policy also reads its value head, from the network rebuilt
  from the SavedModel's variables at the run's precision (`artifact.watch.panel.
  saved_actor_critic`). Raises UsageError for `panel` with "dqn" or a SavedModel without an
  ActorCriticNetwork's variables."""
  spec, action_spec, batch = env.time_step_spec(), env.action_spec(), protocol.games
  if family == "a2c":
    network = None
    if panel:
      from artifact.watch.panel import saved_actor_critic
      precision = (source.config["hparams"].get("precision", "float32") if source.config
                   else "float32")
      try:
        network = saved_actor_critic(saved, source.num_actions, precision)
      except ValueError as e:
        fail(f"--panel: {source.path}: {e}")
    return SavedSamplingPyPolicy(saved, spec, action_spec, batch, protocol.policy_seed, network)
  if panel:
    fail(f"--panel: {source.path} is a DQN-family policy (greedy in Q, played epsilon-greedy): "
          f"the panel draws an A2C-framework policy's pi and V")
  from agents.policies import EpsilonGreedyPyPolicy
  eps = float(source.config["hparams"].get("eval_epsilon", DQNHparams().eval_epsilon)
              if source.config else DQNHparams().eval_epsilon)
  return EpsilonGreedyPyPolicy(SavedGreedyPyPolicy(saved, spec, action_spec, batch), lambda: eps,
                               env.num_actions, protocol.policy_seed)
