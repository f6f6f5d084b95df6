"""pg-softq-play --panel (artifact/watch/panel.py): the paper's formulas against numpy, and the
panel on the shipped Seaquest policies (reports/reference/policies/, no training).

The published a2c_proper (policy gradient) and soft_ql runs (seed 3) play one game side by side
for 150 agent steps (600 frames). The probabilities the film drew at every step are checked
against an independent computation: the same game replayed with the recorded actions on a fresh
agent environment, the SavedModel's own `distribution` on each observation, softmax in numpy;
the values against a float64 numpy forward pass of the SavedModel's variables (named as saved,
not matched as the player matches them), read as each run's algorithm says (soft_ql: V = tau
logsumexp(Q / tau) of Q = V + tau log pi). The screens and captions of a panel video are the frames
of the plain video, frame for frame; a tampered recording is refused with the panel as without;
bad arguments exit 2 naming the flag, before anything is played or written.
"""
import copy
import io
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.special

from artifact.watch import film, panel, playing, policies

from helpers import run_play

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reports" / "reference" / "runs"
POLICIES = ROOT / "reports" / "reference" / "policies"
RUNS = (REFERENCE / "figure1/Seaquest/a2c_proper/seed3",
        REFERENCE / "figure3/Seaquest/soft_ql/seed3")
MAX_FRAMES = 600                                          # 150 agent steps
BAND = film.caption_height(film.caption_font())


# --- the formulas ---------------------------------------------------------------------------------

def test_the_soft_value_and_the_boltzmann_policy_are_the_papers():
  rng = np.random.default_rng(0)
  for tau in (1.0, 0.1, 0.01):
    for scale in (0.01, 1.0, 30.0):                   # Q / tau up to 3,000: a naive exp overflows
      q = rng.normal(0.0, scale, (7, 18))
      v = panel.soft_value(q, tau)
      assert v.shape == (7,) and v.dtype == np.float64
      np.testing.assert_allclose(v, tau * scipy.special.logsumexp(q / tau, axis=-1), rtol=1e-12,
                                 atol=1e-12)
      np.testing.assert_allclose(panel.soft_value(q, tau, "kl"),
                                 tau * scipy.special.logsumexp(q / tau, axis=-1, b=1 / 18),
                                 rtol=1e-12, atol=1e-12)
      pi = panel.boltzmann_probabilities(q, tau)
      np.testing.assert_allclose(pi, scipy.special.softmax(q / tau, axis=-1), rtol=1e-10,
                                 atol=1e-15)
      np.testing.assert_allclose(pi.sum(-1), 1.0, rtol=1e-12)
      # eq. 57: pi = pibar exp((Q - V) / tau), pibar uniform, V the KL form's soft value
      v_kl = panel.soft_value(q, tau, "kl")[:, None]
      np.testing.assert_allclose(pi, np.exp((q - v_kl) / tau) / 18, rtol=1e-9, atol=1e-300)
  q = np.array([[1.0, 2.0, 3.0]])
  assert panel.soft_value(q, 1.0)[0] == pytest.approx(math.log(math.e + math.e ** 2 + math.e ** 3))
  assert panel.soft_value(q, 1e-4)[0] == pytest.approx(3.0, abs=1e-9)          # tau -> 0: max
  assert panel.soft_value(q, 1e-4, "kl")[0] == pytest.approx(3.0 - 1e-4 * math.log(3), abs=1e-9)
  for bad in (0.0, -0.1, math.nan):
    with pytest.raises(ValueError, match="tau must be a positive number"):
      panel.soft_value(q, bad)
  with pytest.raises(ValueError, match="regularizer must be"):
    panel.soft_value(q, 0.1, "kl_entropy")


def test_the_soft_ql_parameterization_gives_back_the_heads():
  import tensorflow as tf

  from agents import losses
  rng = np.random.default_rng(1)
  logits = rng.normal(0, 3, (5, 18)).astype(np.float32)
  value = rng.normal(2, 1, 5).astype(np.float32)
  pi = panel.softmax_probabilities(logits)
  np.testing.assert_allclose(pi, scipy.special.softmax(logits.astype(np.float64), -1), rtol=1e-12)
  for reg, n in (("entropy", 0), ("kl", 18)):
    q = panel.soft_q_values(logits, value, 0.01, reg)
    # the training's own Q (agents.losses.soft_q_values) at every action
    log_pi = scipy.special.log_softmax(logits.astype(np.float64), -1)
    ours = losses.soft_q_values(tf.constant(np.repeat(value[:, None], 18, 1).astype(np.float64)),
                                tf.constant(log_pi), 0.01, n).numpy()
    np.testing.assert_allclose(q, ours, rtol=1e-12)
    np.testing.assert_allclose(panel.boltzmann_probabilities(q, 0.01), pi, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(panel.soft_value(q, 0.01, reg), value, rtol=1e-6)
    got_pi, got_v = panel.Reading("soft_ql", 0.01, reg).pi_and_value(logits, value)
    np.testing.assert_allclose(got_pi, pi, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(got_v, value, rtol=1e-6)


def test_each_run_is_read_by_its_algorithm():
  import json
  configs = {r.parts[-2]: json.loads((r / "config.json").read_text()) for r in RUNS}
  assert panel.reading_of(configs["a2c_proper"]) == panel.Reading("pg")
  assert panel.reading_of(configs["soft_ql"]) == panel.Reading("soft_ql", 0.01, "entropy")
  assert panel.reading_of(None) == panel.Reading("heads")
  dqn = json.loads((REFERENCE / "figure2/Breakout/dqn/seed2/config.json").read_text())
  with pytest.raises(ValueError, match="dqn family"):
    panel.reading_of(dqn)
  assert panel.action_names("Breakout") == ("NOOP", "FIRE", "RIGHT", "LEFT")
  assert len(panel.action_names("Seaquest")) == 18


# --- on the shipped policies ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def played():
  """[a2c_proper, soft_ql]: one Seaquest game each on a2c_proper's seeds, capped at MAX_FRAMES,
  filmed with the panel's readout."""
  sources = [policies.resolve_policy(str(r)) for r in RUNS]
  protocol = policies.protocol_for(sources[0], 1, None, MAX_FRAMES)
  return [playing.play(s, protocol, 0, io.StringIO(), panel=True) for s in sources]


def _numpy_actor_critic(saved, obs):
  """(logits [B, |A|], value [B]), float64, of the SavedModel's network on uint8 [B, 4, 84, 84]:
  the Nature CNN written out in numpy from its variables as saved (channels last, VALID
  convolutions, ReLU)."""
  from numpy.lib.stride_tricks import sliding_window_view
  w = {v.name[:-2]: v.numpy().astype(np.float64) for v in saved.model_variables}
  x = obs.astype(np.float64).transpose(0, 2, 3, 1) / 255.0
  for name, stride in (("conv2d", 4), ("conv2d_1", 2), ("conv2d_2", 1)):
    k = w[f"{name}/kernel"]                                    # [kh, kw, in, out]
    windows = sliding_window_view(x, k.shape[:2], axis=(1, 2))[:, ::stride, ::stride]
    x = np.maximum(np.tensordot(windows, k, axes=([3, 4, 5], [2, 0, 1])) + w[f"{name}/bias"], 0.0)
  h = np.maximum(x.reshape(len(x), -1) @ w["dense/kernel"] + w["dense/bias"], 0.0)
  head = "ActorCriticNetwork"
  logits = h @ w[f"{head}/pi_logits/kernel"] + w[f"{head}/pi_logits/bias"]
  return logits, (h @ w[f"{head}/value/kernel"] + w[f"{head}/value/bias"])[:, 0]


def test_the_panel_draws_the_saved_models_own_probabilities_and_values(played):
  import tensorflow as tf
  import tensorflow_probability  # noqa: F401  (the saved Categorical's type)
  from tf_agents.trajectories import time_step as ts

  from envs.atari import make_atari_env
  drawn = []
  frames = sum(1 for _ in film.film_frames(played, panel=True, drawn=drawn))
  steps = [len(p.recording.actions) for p in played]
  assert steps == [MAX_FRAMES // 4] * 2 and frames == len(drawn) == 150 + 1 + film.HOLD_FRAMES
  assert all(len(entries) == 2 for entries in drawn)
  tau = 0.01
  for j, p in enumerate(played):
    rec, saved = p.recording, tf.saved_model.load(str(p.source.saved_model))
    env = make_atari_env("Seaquest", 1, seed=None, life_loss_terminal=False,
                         max_frames_per_game=MAX_FRAMES, reuse=False)
    try:                                           # the scored game again, from its actions
      env.seed_games(p.protocol.env_seeds)
      t = env.reset()
      for i, action in enumerate(rec.actions):
        logits = saved.distribution(ts.TimeStep(*(tf.constant(x) for x in t)), ()).action.logits
        want = scipy.special.softmax(logits.numpy().astype(np.float64), axis=-1)[0]
        e = drawn[i][j]
        assert (e.label, e.action) == (p.source.condition, action)
        np.testing.assert_allclose(e.pi, want, rtol=1e-6, atol=1e-9, err_msg=f"{e.label} step {i}")
        np_logits, np_value = _numpy_actor_critic(saved, t.observation)
        np.testing.assert_allclose(np_logits[0], logits.numpy()[0], atol=1e-4)
        if p.source.condition == "soft_ql":      # V = tau logsumexp(Q / tau), Q = V + tau log pi
          q = np_value[0] + tau * scipy.special.log_softmax(np_logits[0])
          want_v = tau * scipy.special.logsumexp(q / tau)
        else:                                    # the value head
          want_v = np_value[0]
        assert e.value == pytest.approx(want_v, abs=1e-4), (e.label, i)
        t = env.step(np.array([action]))
        assert float(t.reward[0]) == rec.rewards[i]
      game = env.pop_finished_games()
      assert [g.score for g in game] == [p.games[0].score]
    finally:
      env.close()
    last = drawn[-1][j]                            # capped: no step left to draw
    assert (last.pi, last.value, last.end, last.score) == (None, None, "capped", p.games[0].score)
  # the two policies share the game and its sampling noise, not their probabilities
  assert np.abs(drawn[0][0].pi - drawn[0][1].pi).max() > 1e-3


def test_a_panel_video_is_the_scored_game_frame_for_frame(played, tmp_path):
  plain = list(film.film_frames(played))
  with_panel = list(film.film_frames(played, panel=True))
  assert len(plain) == len(with_panel) == 150 + 1 + film.HOLD_FRAMES
  height = panel.panel_height(2, 18)
  for i, (a, b) in enumerate(zip(plain, with_panel)):
    assert a.shape == (210 + BAND, 320, 3) and b.shape == (210 + BAND + height, 320, 3)
    assert np.array_equal(b[:210 + BAND], a), i                    # the same screens and captions
    assert b[210 + BAND:].max() > 0, i
  assert not np.array_equal(with_panel[1][210 + BAND:], with_panel[60][210 + BAND:])
  tampered = copy.deepcopy(played)
  tampered[1].recording.rewards[30] = 5.0
  video = tmp_path / "never.mp4"
  with pytest.raises(film.VideoMismatchError, match="soft_ql, game seed .* at agent step 31"):
    film.render_video(video, tampered, panel=True)
  assert list(tmp_path.iterdir()) == []


def test_the_command_writes_a_panel_video_of_the_scored_game(tmp_path, capsys):
  import imageio.v2 as iio
  video = tmp_path / "pg.mp4"
  status, out, err = run_play([RUNS[0], "--games", 1, "--max-frames", 400, "--video", video,
                               "--panel", "--out", tmp_path / "g.csv"], capsys)
  assert status == 0, err
  frames = iio.mimread(video, memtest=False)
  assert len(frames) == 100 + 1 + film.HOLD_FRAMES
  assert all(f.shape == (210 + BAND + panel.panel_height(1, 18), 160, 3) for f in frames)
  assert f"video: {video}" in out and "a2c_proper (a2c family)" in out


# --- bad arguments: exit status 2, naming the flag, nothing written -------------------------------

def test_bad_panel_arguments_exit_2_naming_the_flag(tmp_path, capsys):
  out = tmp_path / "outputs"
  gif, mp4 = out / "v.gif", out / "v.mp4"
  dqn = POLICIES / "Breakout" / "dqn"
  cases = [
      ([RUNS[0], "--panel"], "--panel draws under a video's screens: give --video"),
      ([RUNS[0], "--panel", "--out", out / "g.csv"], "--panel draws under a video's screens"),
      ([RUNS[0], "--panel", "--video", gif, "--gif-scale", 0.5],
       "--panel needs frames at least 140 pixels wide for the action names; --gif-scale 0.5 with 1 "
       "policy makes them 80"),
      ([RUNS[0], "--side-by-side", RUNS[1], "--panel", "--video", gif, "--gif-scale", 0.4],
       "--gif-scale 0.4 with 2 policies makes them 128"),
      ([dqn, "--game", "Breakout", "--panel", "--video", mp4],
       f"--panel: {dqn} is a DQN-family policy"),
      ([REFERENCE / "figure2/Breakout/dqn/seed2", "--panel", "--video", mp4],
       "is a DQN-family policy (greedy in Q, played epsilon-greedy)"),
  ]
  for argv, message in cases:
    status, stdout, err = run_play(argv, capsys)
    assert status == 2, (argv, stdout, err)
    assert err.startswith("pg-softq-play: error: ") and message in err, (argv, err)
    assert not out.exists(), argv
