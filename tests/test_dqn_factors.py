"""The DQN parity experiment's four factor options (artifact/experiment/hparams.py DQNHparams:
torso_init, life_loss_fire, life_loss_stack, grad_clip_mode): each changes what it names and
nothing else, on real networks and real Breakout; the defaults compute what the protocol
computed before the options existed; a bad value is refused before any work.

(That the defaults leave a whole run unchanged is checked on runs: a smoke `dqn` and
`soft_dqn_kl_0.1` run's progress.csv, compared with scripts/compare_runs.py against the same
command run before the options existed, are identical at every frame point.)
"""
import dataclasses
import json
import math

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import array_spec, tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory

from agents.networks import QNetwork
from artifact.experiment.hparams import DQN_FACTORS, DQNHparams
from artifact.experiment.runspec import make_run_spec
from artifact.grid import cli, planning
from artifact.training.dqn import build_dqn_agent, optimizer_and_clipping
from envs.atari import make_atari_env

from helpers import run_spec

ATARI_OBS = array_spec.BoundedArraySpec((4, 84, 84), np.uint8, 0, 255, name="observation")
NOOP, FIRE, RIGHT = 0, 1, 2      # Breakout's minimal action set: NOOP, FIRE, RIGHT, LEFT


# --- the options themselves ------------------------------------------------------------------
def test_the_defaults_are_the_protocols_computation():
  hp = DQNHparams()
  assert (hp.torso_init, hp.life_loss_fire, hp.life_loss_stack, hp.grad_clip_mode) == (
      "orthogonal", "recorded", "keep", "per_variable")
  assert {k: v[0] for k, v in DQN_FACTORS.items()} == {
      "torso_init": "orthogonal", "life_loss_fire": "recorded", "life_loss_stack": "keep",
      "grad_clip_mode": "per_variable"}


@pytest.mark.parametrize("field,bad,allowed", [
    ("torso_init", "xavier", "orthogonal, glorot"),
    ("life_loss_fire", "skip", "recorded, hidden"),
    ("life_loss_stack", "zeros", "keep, zero"),
    ("grad_clip_mode", "norm", "per_variable, global"),
])
def test_a_bad_value_is_refused_naming_it_and_the_allowed_ones(field, bad, allowed):
  with pytest.raises(ValueError) as e:
    dataclasses.replace(DQNHparams(), **{field: bad}).validate()
  assert str(e.value) == f"{field} must be one of {allowed}; got {bad!r}"


def test_a_bad_value_on_the_command_line_exits_2_before_anything_is_written(tmp_path, capsys):
  out = tmp_path / "out"
  with pytest.raises(SystemExit) as e:
    cli.main(["--figures", "2", "--games", "Breakout", "--conditions", "dqn", "--seeds", "0",
              "--set", "life_loss_fire=later", "--out", str(out)])
  assert e.value.code == 2
  assert "life_loss_fire must be one of recorded, hidden; got 'later'" in capsys.readouterr().err
  assert not out.exists()


def test_set_reaches_the_specs_and_their_config_json_records_it(tmp_path):
  args = cli.build_parser().parse_args(
      ["--scale", "short", "--figures", "2", "--games", "Breakout", "--conditions", "dqn",
       "--seeds", "0,1", "--frames", "1500000", "--set", "replay_capacity=10000",
       "--set", "torso_init=glorot", "--set", "life_loss_fire=hidden",
       "--set", "life_loss_stack=zero", "--set", "grad_clip_mode=global", "--out",
       str(tmp_path / "o")])
  specs = planning.plan_from_args(args).specs
  assert len(specs) == 2
  for s in specs:
    hp = json.loads(s.to_json())["hparams"]          # what config.json holds
    assert (hp["torso_init"], hp["life_loss_fire"], hp["life_loss_stack"], hp["grad_clip_mode"],
            hp["replay_capacity"]) == ("glorot", "hidden", "zero", "global", 10_000)
  default = json.loads(make_run_spec(2, "Breakout", "dqn", 0, "short").to_json())["hparams"]
  assert (default["torso_init"], default["life_loss_fire"], default["life_loss_stack"],
          default["grad_clip_mode"]) == ("orthogonal", "recorded", "keep", "per_variable")


def test_an_a2c_run_takes_no_dqn_factor_option(tmp_path):
  with pytest.raises(SystemExit) as e:
    cli.main(["--figures", "1", "--games", "Pong", "--set", "torso_init=glorot", "--out",
              str(tmp_path / "o")])
  assert e.value.code == 2 and "unknown key 'torso_init'" in str(e.value)
  assert not (tmp_path / "o").exists()


# --- torso_init -------------------------------------------------------------------------------
LAYERS = ("conv1", "conv2", "conv3", "fc512", "q_head")
# fan_in, fan_out per kernel: conv 8x8x4->32, 4x4x32->64, 3x3x64->64, fc 3136->512, Q 512->4
FANS = {"conv1": (256, 2048), "conv2": (512, 1024), "conv3": (576, 576), "fc512": (3136, 512),
        "q_head": (512, 4)}
ORTHO_GAINS = {"conv1": math.sqrt(2), "conv2": math.sqrt(2), "conv3": math.sqrt(2),
               "fc512": math.sqrt(2), "q_head": 1.0}


def _kernels(net):
  """({layer: kernel as numpy}, biases concatenated) of a built QNetwork, layers in LAYERS order."""
  kernels = [v.numpy() for v in net.trainable_variables if "kernel" in v.name]
  biases = np.concatenate([v.numpy().ravel() for v in net.trainable_variables if "bias" in v.name])
  return dict(zip(LAYERS, kernels, strict=True)), biases


def _built(torso_init=None, seed=7):
  kw = {} if torso_init is None else dict(torso_init=torso_init)
  net = QNetwork(tensor_spec.from_spec(ATARI_OBS), 4, seed=seed, **kw)
  net.create_variables()
  return net


def test_glorot_kernels_have_glorots_limit_and_scale_and_orthogonal_ones_theirs():
  glorot, g_bias = _kernels(_built("glorot"))
  ortho, o_bias = _kernels(_built("orthogonal"))
  assert not g_bias.any() and not o_bias.any()                 # biases zero either way
  for name, (fan_in, fan_out) in FANS.items():
    w, o = glorot[name], ortho[name]
    assert int(np.prod(w.shape[:-1])) == fan_in
    assert int(np.prod(w.shape[:-2])) * w.shape[-1] in (fan_out, w.shape[-1])
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(w).max() <= limit
    assert w.std() == pytest.approx(limit / math.sqrt(3.0), rel=0.05)     # uniform(-limit, limit)
    # orthogonal: the kernel as a [fan_in, units] matrix has orthogonal columns of norm `gain`
    m = o.reshape(-1, o.shape[-1])
    assert np.allclose(m.T @ m, ORTHO_GAINS[name] ** 2 * np.eye(m.shape[1]), atol=1e-4)
  # the scales that differ: conv1 0.0295 (Glorot) vs 0.0884 (orthogonal gain sqrt 2)
  assert glorot["conv1"].std() == pytest.approx(0.02946, rel=0.03)
  assert ortho["conv1"].std() == pytest.approx(math.sqrt(2) / 16, rel=0.03)


def test_the_default_network_is_the_orthogonal_one_bit_for_bit():
  default, explicit = _built(None), _built("orthogonal")
  for a, b in zip(default.get_weights(), explicit.get_weights()):
    assert np.array_equal(a, b)
  # and it is what the initializer computed before torso_init existed: Orthogonal(gain, seed*101+k)
  k1 = tf.keras.initializers.Orthogonal(gain=math.sqrt(2.0),
                                        seed=7 * 101 + 1)((8, 8, 4, 32)).numpy()
  assert np.array_equal(_kernels(default)[0]["conv1"], k1)


def test_a_bad_torso_init_is_refused_by_the_network():
  with pytest.raises(ValueError, match="torso_init must be one of orthogonal, glorot; got 'he'"):
    _built("he")


# --- grad_clip_mode ---------------------------------------------------------------------------
def _vector_agent(hp):
  """A `dqn` agent on 4-d observations with 2 actions (MLP torso), its experience batch."""
  obs = array_spec.ArraySpec((4,), np.float32, name="observation")
  act = array_spec.BoundedArraySpec((), np.int64, 0, 1, name="action")
  tss = tensor_spec.from_spec(ts.time_step_spec(obs))
  agent = build_dqn_agent(run_spec("dqn", hp), tss, tensor_spec.from_spec(act),
                          tensor_spec.from_spec(obs), 2, 1000, 3, tf.Variable(0, dtype=tf.int64))
  rng = np.random.default_rng(0)
  b, t = 8, 2
  exp = trajectory.Trajectory(
      step_type=tf.ones([b, t], tf.int32),
      observation=tf.constant(rng.normal(size=(b, t, 4)) * 3, tf.float32),
      action=tf.constant(rng.integers(0, 2, (b, t)), tf.int64), policy_info=(),
      next_step_type=tf.ones([b, t], tf.int32),
      reward=tf.constant(rng.normal(size=(b, t)) * 5, tf.float32),
      discount=tf.ones([b, t], tf.float32))
  return agent, exp


def _adam_first_step(g, lr, eps, b2=0.999):
  """Keras Adam's first update of a variable with gradient g (numpy float64)."""
  s = math.sqrt(1 - b2)
  return -lr * s * g / (s * np.abs(g) + eps)


@pytest.mark.parametrize("mode", ["per_variable", "global"])
def test_the_update_clips_the_gradient_as_the_mode_says_numpy_reference(mode):
  # a clip of 0.1 acts here (the raw gradient's global norm is 2.6); Adam's eps 1.0 makes its
  # first step proportional to the gradient (|g| << eps) so that the clip shows in the update,
  # and lr 10 makes that step large enough against float32 rounding of the weights; gamma 1, the
  # discount tf-agents' public `loss()` uses (train() passes the agent's own)
  hp = DQNHparams(lr=10.0, adam_eps=1.0, grad_clip=0.1, gamma=1.0, grad_clip_mode=mode)
  agent, exp = _vector_agent(hp)
  net = agent.q_network
  with tf.GradientTape() as tape:
    loss = agent.loss(exp, training=True).loss
  grads = [g.numpy().astype(np.float64) for g in tape.gradient(loss, net.trainable_variables)]
  before = [v.numpy().astype(np.float64) for v in net.trainable_variables]
  agent.train(exp)
  delta = [v.numpy().astype(np.float64) - b for v, b in zip(net.trainable_variables, before)]

  global_norm = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
  assert global_norm == pytest.approx(2.557, abs=1e-3)
  assert global_norm > 10 * hp.grad_clip                        # the clip acts
  per_variable = [g * min(1.0, hp.grad_clip / np.linalg.norm(g)) for g in grads]   # tf.clip_by_norm
  global_ = [g * min(1.0, hp.grad_clip / global_norm) for g in grads]  # tf.clip_by_global_norm
  sb3 = [g * min(1.0, hp.grad_clip / (global_norm + 1e-6)) for g in grads]  # torch clip_grad_norm_
  want = per_variable if mode == "per_variable" else global_
  other = global_ if mode == "per_variable" else per_variable
  for d, w, _, s in zip(delta, want, other, sb3):
    # float32 weights ~1: rounding 6e-8
    assert np.allclose(d, _adam_first_step(w, hp.lr, hp.adam_eps), rtol=1e-4, atol=2e-7)
    if mode == "global":
      # float32 weights ~1: rounding 6e-8
      assert np.allclose(d, _adam_first_step(s, hp.lr, hp.adam_eps), rtol=1e-4, atol=2e-7)
  assert not all(np.allclose(d, _adam_first_step(o, hp.lr, hp.adam_eps), rtol=1e-3, atol=1e-9)
                 for d, o in zip(delta, other))                 # the two modes differ here


def test_optimizer_and_clipping_per_mode():
  opt, clip = optimizer_and_clipping(DQNHparams())
  assert clip == 10.0 and opt.global_clipnorm is None and opt.clipnorm is None
  opt, clip = optimizer_and_clipping(DQNHparams(grad_clip_mode="global"))
  assert clip is None and opt.global_clipnorm == 10.0
  with pytest.raises(ValueError,
                     match="grad_clip_mode must be one of per_variable, global; got 'x'"):
    optimizer_and_clipping(DQNHparams(grad_clip_mode="x"))


# --- life_loss_fire, life_loss_stack on real Breakout -----------------------------------------
def _to_first_life_loss(env, reference, limit=2000):
  """Steps `env` and `reference` (same seed) with NOOP until `env` loses a life (discount 0, the
  game going on); returns (env's time step, reference's, the agent steps taken)."""
  env.reset()
  reference.reset()
  for t in range(limit):
    step, ref = env.step(np.array([NOOP])), reference.step(np.array([NOOP]))
    if step.discount[0] == 0:
      assert not env.pop_finished_games()
      return step, ref, t + 1
  raise AssertionError("no life lost")


def test_hidden_fire_plays_noop_fire_right_inside_the_life_loss_step_unrecorded():
  hidden = make_atari_env("Breakout", 1, seed=[11], life_loss_fire="hidden", reuse=False)
  # the same emulator without life-loss terminals: nothing substituted, nothing hidden
  plain = make_atari_env("Breakout", 1, seed=[11], life_loss_terminal=False, reuse=False)
  step, before, n = _to_first_life_loss(hidden, plain)
  assert step.reward[0] == 0 and step.discount[0] == 0
  for a in (NOOP, FIRE, RIGHT):                  # baselines' EpisodicLifeEnv + FireResetEnv reset
    ref = plain.step(np.array([a]))
  # the life-loss step's observation is the one after the hidden reset, not the emulator's then
  assert np.array_equal(step.observation, ref.observation)
  assert not np.array_equal(step.observation, before.observation)
  # the next recorded transition starts there, and the agent's own action acts (LEFT, not FIRE)
  nxt, ref = hidden.step(np.array([3])), plain.step(np.array([3]))
  assert np.array_equal(nxt.observation, ref.observation) and nxt.discount[0] == 1
  # the hidden steps are neither agent steps nor logged; the game's length counts them
  assert hidden.agent_steps == n + 1 and hidden.frames == 4 * (n + 1)
  assert np.array_equal(hidden.action_log(), np.array([[NOOP]] * n + [[3]], np.uint8))
  assert hidden._length[0] == n + 1 + 3
  # replaying the log (a resumed run) plays the hidden steps again: the same state
  hidden.seed_games([11])
  again = hidden.replay(hidden.action_log())
  assert np.array_equal(again.observation, nxt.observation)
  hidden.close()
  plain.close()


def test_recorded_fire_replaces_the_first_action_of_the_new_life_and_records_the_agents():
  recorded = make_atari_env("Breakout", 1, seed=[11], reuse=False)          # the default
  plain = make_atari_env("Breakout", 1, seed=[11], life_loss_terminal=False, reuse=False)
  step, ref, n = _to_first_life_loss(recorded, plain)
  assert np.array_equal(step.observation, ref.observation)   # no hidden step
  # the agent's NOOP on the new life's first step is played as FIRE, and logged as NOOP
  nxt, ref = recorded.step(np.array([NOOP])), plain.step(np.array([FIRE]))
  assert np.array_equal(nxt.observation, ref.observation)
  assert recorded.action_log()[-1, 0] == NOOP and recorded.agent_steps == n + 1
  recorded.close()
  plain.close()


def test_zero_stack_zeroes_the_frames_before_the_new_life_then_fills_in():
  zero = make_atari_env("Breakout", 1, seed=[5], life_loss_stack="zero", reuse=False)
  keep = make_atari_env("Breakout", 1, seed=[5], reuse=False)               # the default
  zero.reset()
  keep.reset()
  for _ in range(2000):
    z, k = zero.step(np.array([NOOP])), keep.step(np.array([NOOP]))
    if k.discount[0] == 0:
      break
    assert np.array_equal(z.observation, k.observation)     # identical until the life loss
  assert not keep.pop_finished_games() and k.observation[0, :3].any()
  # after the loss: [0, 0, 0, f0], [0, 0, f0, f1], [0, f0, f1, f2], then the stack as kept
  for zeroed in (3, 2, 1, 0):
    assert not z.observation[0, :zeroed].any()
    assert np.array_equal(z.observation[0, zeroed:], k.observation[0, zeroed:])
    assert zeroed == 0 or k.observation[0, :zeroed].any()   # the kept stack had frames there
    z, k = zero.step(np.array([FIRE])), keep.step(np.array([FIRE]))
  assert np.array_equal(z.observation, k.observation)
  zero.close()
  keep.close()


def test_hidden_fire_and_zero_stack_together_give_sb3s_first_observation_of_a_life():
  both = make_atari_env("Breakout", 1, seed=[11], life_loss_fire="hidden", life_loss_stack="zero",
                        reuse=False)
  hidden = make_atari_env("Breakout", 1, seed=[11], life_loss_fire="hidden", reuse=False)
  step, ref, _ = _to_first_life_loss(both, hidden)
  # [0, 0, 0, the frame after NOOP, FIRE, RIGHT]: SB3's VecFrameStack after its AtariWrapper reset
  assert not step.observation[0, :3].any() and ref.observation[0, :3].any()
  assert np.array_equal(step.observation[0, 3], ref.observation[0, 3])
  both.close()
  hidden.close()


def test_bad_env_options_are_refused():
  with pytest.raises(ValueError, match="life_loss_fire must be one of recorded, hidden; got 'x'"):
    make_atari_env("Breakout", 1, life_loss_fire="x")
  with pytest.raises(ValueError, match="life_loss_stack must be one of keep, zero; got 'x'"):
    make_atari_env("Breakout", 1, life_loss_stack="x")
  with pytest.raises(ValueError, match="life_loss_fire='hidden' needs one env per vector env"):
    make_atari_env("Breakout", 2, life_loss_fire="hidden")


# --- the options reach a real trainer (and its restart) ----------------------------------------
def test_a_dqn_trainer_with_every_factor_option_and_its_restart():
  from artifact.experiment.seeding import run_seeds
  from artifact.training.dqn import DQNTrainer
  from artifact.training.trainer import build_network
  spec = make_run_spec(2, "Breakout", "dqn", 0, "smoke", overrides=dict(
      torso_init="glorot", life_loss_fire="hidden", life_loss_stack="zero",
      grad_clip_mode="global"))
  trainer = DQNTrainer(spec, run_seeds(0, 1))
  try:
    env = trainer.env
    assert env._life_reset_actions == (NOOP, FIRE,
                                       RIGHT) and env._fire_action is None and env._zero_stack
    assert not trainer.eval_env._zero_stack and trainer.eval_env._life_reset_actions is None
    assert trainer.optimizer.global_clipnorm == 10.0 and trainer.agent._gradient_clipping is None
    limit = math.sqrt(6.0 / (256 + 2048))
    conv1 = trainer.network.trainable_variables[0].numpy()
    assert conv1.shape == (8, 8, 4, 32) and np.abs(conv1).max() <= limit
    seeds1 = run_seeds(1, 1)
    trainer.restart(seeds1)
    fresh = build_network("dqn", env.observation_spec(), env.num_actions, seeds1.network,
                          torso_init="glorot")
    for a, b in zip(trainer.network.get_weights(), fresh.get_weights()):
      assert np.array_equal(a, b)                            # restarted with Glorot weights
    trainer.update()                                         # the loop runs with the options
  finally:
    trainer.close()
