"""How often the training environment's FIRE substitution replaces a recorded action, measured.

  nice -n 10 .venv/bin/python scripts/measure_fire_share.py [--games BeamRider,...] [--steps 20000]
      [--seed 0] [--csv reports/protocol/fire_share.csv]

After a life loss that is not a game over, the training env (envs/atari.py `make_atari_env`,
life_loss_fire="recorded", the protocol's default and what tag campaign-1 computes) sends FIRE in
place of the agent's action on the first agent step of the new life, while the trajectory
records the agent's sampled action (envs/batched_env.py): the replay (DQN) and the policy
gradient (A2C) learn from an action that did not run. openai/baselines and SB3 press FIRE inside
the life-loss reset instead (`EpisodicLifeEnv` + `FireResetEnv`), hidden from the agent.

This plays each game's training env with uniformly random actions (the policy at the start of
training: epsilon = 1 for DQN, a near-uniform softmax for A2C) for `--steps` recorded transitions
(one transition = one agent step of one env), in the A2C framework's layout (16 envs) and in
DQN's (1 env), and counts the transitions whose action FIRE replaced. A game whose minimal
action set has no FIRE at index 1 (`envs.atari.has_fire_reset`) has no substitution: 0.

Columns of the CSV (one row per game and layout):
  game, layout ("a2c_16_envs" or "dqn_1_env"), fire_reset (the game gets the substitution),
  actions (|A|), transitions, life_losses (life lost, the game goes on), games_over,
  substituted (transitions whose action FIRE replaced), per_1000 (substituted per 1,000
  transitions), differing (of those, the sampled action was not FIRE: the recorded action did not
  run), differing_per_1000.

Standard output: the table as Markdown. Exit status 0; 2 for an unknown game or a bad number.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GAMES = ("BeamRider", "Breakout", "Pong", "Qbert", "Seaquest", "SpaceInvaders")
LAYOUTS = (("a2c_16_envs", 16), ("dqn_1_env", 1))
COLUMNS = ("game", "layout", "fire_reset", "actions", "transitions", "life_losses", "games_over",
           "substituted", "per_1000", "differing", "differing_per_1000")


def measure(game: str, num_envs: int, transitions: int, seed: int = 0) -> dict:
  """Plays `game`'s training env (`num_envs` envs, one emulation thread) with uniformly random
  actions for about `transitions` recorded transitions (whole vector steps: ceil(transitions /
  num_envs) of them) and counts the FIRE substitutions. Returns one CSV row (COLUMNS)."""
  from envs.atari import FIRE, has_fire_reset, make_atari_env
  env = make_atari_env(game, num_envs, seed, num_threads=1, reuse=False)
  rng = np.random.default_rng(seed)
  fire = has_fire_reset(game)
  n_actions = env.num_actions
  pending = np.zeros(num_envs, bool)       # FIRE replaces this env's next action
  steps = -(-transitions // num_envs)
  lives = over = subst = differing = 0
  try:
    env.reset()
    for _ in range(steps):
      action = rng.integers(0, n_actions, num_envs)
      subst += int(pending.sum())
      differing += int((pending & (action != FIRE)).sum())
      ts = env.step(action)
      ended = np.zeros(num_envs, bool)
      for g in env.pop_finished_games():
        ended[g.env_id] = True
      lost = (ts.discount == 0) & ~ended         # a terminal that is not a game over: a life lost
      lives += int(lost.sum())
      over += int(ended.sum())
      pending = lost & fire
  finally:
    env.close()
  n = steps * num_envs
  return dict(game=game, layout=f"{'a2c_16_envs' if num_envs == 16 else f'dqn_{num_envs}_env'}",
              fire_reset=fire, actions=n_actions, transitions=n, life_losses=lives, games_over=over,
              substituted=subst, per_1000=round(1000 * subst / n, 2), differing=differing,
              differing_per_1000=round(1000 * differing / n, 2))


def markdown(rows) -> str:
  """The rows as a Markdown table."""
  head = ("game", "layout", "FIRE reset", "|A|", "transitions", "life losses", "games over",
          "FIRE-substituted per 1,000", "of which the sampled action was not FIRE, per 1,000")
  out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for r in rows:
    out.append(f"| {r['game']} | {r['layout']} | {'yes' if r['fire_reset'] else 'no'} | "
               f"{r['actions']} | {r['transitions']:,} | {r['life_losses']:,} | "
               f"{r['games_over']:,} | {r['per_1000']:.2f} | {r['differing_per_1000']:.2f} |")
  return "\n".join(out)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--games", default=",".join(GAMES),
                 help="comma-separated games (default: the paper's six)")
  p.add_argument("--steps", type=int, default=20_000,
                 help="recorded transitions per game and layout")
  p.add_argument("--seed", type=int, default=0, help="env and action seed")
  p.add_argument("--layouts", default="a2c_16_envs,dqn_1_env",
                 help="comma-separated: a2c_16_envs (16 envs), dqn_1_env (1 env)")
  p.add_argument("--csv", default=str(ROOT / "reports" / "protocol" / "fire_share.csv"),
                 help="where to write the table (default: %(default)s; '' for none)")
  a = p.parse_args(argv)
  from envs.games import ATARI_GAMES as ALL_GAMES
  games = [g for g in a.games.split(",") if g]
  bad = [g for g in games if g not in ALL_GAMES]
  if not games or bad:
    print(f"error: --games {a.games!r}: unknown {bad}; allowed: ALE games such as "
          f"{', '.join(GAMES)}",
          file=sys.stderr)
    return 2
  layouts = dict(LAYOUTS)
  chosen = [x for x in a.layouts.split(",") if x]
  if not chosen or any(x not in layouts for x in chosen):
    print(f"error: --layouts {a.layouts!r}; allowed: {', '.join(layouts)}", file=sys.stderr)
    return 2
  if a.steps < 1 or a.seed < 0:
    print(f"error: --steps must be >= 1 and --seed >= 0, got {a.steps}, {a.seed}", file=sys.stderr)
    return 2
  rows = [measure(g, layouts[x], a.steps, a.seed) for g in games for x in chosen]
  print(markdown(rows))
  if a.csv:
    os.makedirs(os.path.dirname(os.path.abspath(a.csv)), exist_ok=True)
    with open(a.csv, "w", newline="") as f:
      w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
      w.writeheader()
      w.writerows(rows)
  return 0


if __name__ == "__main__":
  sys.exit(main())
