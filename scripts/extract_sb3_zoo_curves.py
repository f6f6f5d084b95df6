"""Rebuilds reports/published/sb3_zoo_curves.csv from a checkout of DLR-RM/rl-trained-agents.

  git clone https://github.com/DLR-RM/rl-trained-agents && git -C rl-trained-agents checkout
  cd35bde610f4045bf2e0731c8f4c88d22df8fc85
  .venv/bin/python scripts/extract_sb3_zoo_curves.py --zoo rl-trained-agents [--out \
      reports/published/sb3_zoo_curves.csv]

(Only the `{a2c,dqn}/<Game>NoFrameskip-v4_1/*.monitor.csv` files are read; git-lfs is not needed.)

Each monitor.csv row is one whole game (SB3's Monitor sits below its AtariWrapper): `r` = raw
score, `l` = length in emulator frames, `t` = wall-clock seconds at which it finished. The games of
all envs of a run are sorted by `t`; at each frame point X (emulator frames), `games_so_far` = the
fewest games, in that order, whose lengths add up to at least X, and `train_return_last100` = the
mean score of the last 100 of those games (rounded to 2 decimals). See reports/published/README.md.
"""
from __future__ import annotations

import argparse
import io
from pathlib import Path

import pandas as pd

SOURCE = "sb3-zoo rl-trained-agents"
ALGOS = ("a2c", "dqn")
GAMES = ("SpaceInvaders", "Breakout", "BeamRider", "Pong", "Qbert", "Seaquest", "Enduro")
FRAME_POINTS = [250_000 * i for i in range(1, 13)] + [4_000_000, 5_000_000, 6_000_000, 8_000_000,
                                                      10_000_000]


def load_games(run_dir: Path) -> pd.DataFrame:
  """All finished games of one zoo run (every env's monitor.csv), sorted by finishing time."""
  parts = []
  for f in sorted(run_dir.glob("*.monitor.csv")):
    text = f.read_text()
    parts.append(pd.read_csv(io.StringIO(text), skiprows=1 if text.startswith("#") else 0))
  games = pd.concat(parts, ignore_index=True).sort_values("t", kind="stable").reset_index(drop=True)
  games["cum_frames"] = games["l"].cumsum()
  return games


def curve(games: pd.DataFrame, points=FRAME_POINTS):
  rows = []
  for x in points:
    if games["cum_frames"].iloc[-1] < x:
      break
    n = int((games["cum_frames"] < x).sum()) + 1
    rows.append((x, round(float(games["r"].iloc[:n].tail(100).mean()), 2), n))
  return rows


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--zoo", required=True, type=Path, help="checkout of DLR-RM/rl-trained-agents")
  ap.add_argument("--out", type=Path, default=Path("reports/published/sb3_zoo_curves.csv"))
  args = ap.parse_args(argv)
  rows = []
  for algo in ALGOS:
    for game in GAMES:
      run_dir = args.zoo / algo / f"{game}NoFrameskip-v4_1"
      for frames, ret, n in curve(load_games(run_dir)):
        rows.append(dict(source=SOURCE, algo=algo, game=game, frames=frames,
                         train_return_last100=ret, games_so_far=n))
  args.out.parent.mkdir(parents=True, exist_ok=True)
  pd.DataFrame(rows).to_csv(args.out, index=False, lineterminator="\n")
  print(f"wrote {args.out} ({len(rows)} rows)")


if __name__ == "__main__":
  main()
