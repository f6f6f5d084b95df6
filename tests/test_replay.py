"""The frame-deduplicating replay returns exactly the stacked observations that were inserted,
across life losses and game overs, and stores each frame about once."""
import numpy as np
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import policy_step, trajectory

from agents.replay import FrameStackReplayBuffer
from envs.atari import make_atari_env


def _fill(capacity, steps, seed=0):
  env = make_atari_env("Breakout", num_envs=1, seed=seed, num_threads=1, max_frames_per_game=1200)
  spec = trajectory.Trajectory(
      step_type=tensor_spec.TensorSpec((), np.int32), observation=env.observation_spec(),
      action=env.action_spec(), policy_info=(), next_step_type=tensor_spec.TensorSpec((), np.int32),
      reward=tensor_spec.TensorSpec((), np.float32),
      discount=tensor_spec.TensorSpec((), np.float32))
  spec = tensor_spec.to_nest_array_spec(spec)
  rb = FrameStackReplayBuffer(spec, capacity)
  rng = np.random.default_rng(seed)
  t = env.reset()
  inserted, terminals = [], 0
  for _ in range(steps):
    a = rng.integers(0, env.num_actions, 1)
    nt = env.step(a)
    terminals += int(nt.discount[0] == 0)
    traj = trajectory.from_transition(t, policy_step.PolicyStep(a, (), ()), nt)
    rb.add_batch(traj)
    inserted.append(traj)
    t = nt
  games = len(env.pop_finished_games())
  return rb, inserted, terminals, games


def test_replay_returns_the_inserted_stacks_across_episode_boundaries():
  rb, inserted, terminals, games = _fill(capacity=5000, steps=1500)
  assert terminals > 5 and games >= 1               # life losses and game overs were crossed
  # every window of 6 consecutive items (5-step DQN) equals what was inserted
  rb.seed(0)
  batch = rb.sample(64, 6)
  assert batch.observation.shape == (64, 6, 4, 84, 84) and batch.observation.dtype == np.uint8
  obs_all = np.stack([x.observation[0] for x in inserted])
  rew_all = np.array([x.reward[0] for x in inserted])
  for b in range(64):
    # locate the window by its rewards+observations: compare against every start position
    start = [s for s in range(len(inserted) - 5)
             if np.array_equal(obs_all[s], batch.observation[b, 0])
             and np.array_equal(rew_all[s:s + 6], batch.reward[b])]
    assert any(np.array_equal(obs_all[s:s + 6], batch.observation[b]) for s in start), \
        "sampled window is not a window of inserted items"
  # tf-agents' own item-by-item path decodes the same way
  item = rb._decode(rb._storage.get(10))
  assert np.array_equal(item.observation, inserted[10].observation[0])


def test_replay_wraps_and_stores_each_frame_about_once():
  rb, inserted, _, _ = _fill(capacity=400, steps=1000, seed=1)
  assert int(rb.size) == 400
  # the ring buffer keeps the last 400 items: items 800..999 overwrote slots 0..199
  for k, j in ((0, 800), (123, 923), (199, 999), (200, 600), (399, 799)):
    item = rb._decode(rb._storage.get(k))
    assert np.array_equal(item.observation, inserted[j].observation[0])
  # about one unique 84x84 frame per stored transition (plus a few at game starts), not four
  assert len(rb._frame_buffer._frames) <= 400 + 40
  frames = rb._frame_buffer._frames
  assert sum(f.nbytes for f, _ in frames.values()) == len(frames) * 84 * 84
  # all-in memory per transition: well under a stacked replay's 4 frames (28,224 bytes)
  assert 84 * 84 * 0.5 < rb.nbytes() / 400 < 8_000
  windows = rb.sample(32, 2)
  assert windows.observation.shape == (32, 2, 4, 84, 84)
