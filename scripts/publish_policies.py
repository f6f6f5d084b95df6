"""Publishes the reference campaign's kept final policies under reports/reference/policies/.

  .venv/bin/python scripts/publish_policies.py [--store reports/campaign/runs] [--dest reports/reference/policies]

For each run of `campaign_store.POLICY_RUNS` whose stored record has its final policy (policy/, a
tf-agents PolicySaver SavedModel), copies it to DEST/{Game}/{condition}/ with a run.json beside
its saved_model.pb (RUN_RECORD: which run it is the final policy of, so that `pg-softq-play` plays
reports/reference/runs/RUN with it) and writes DEST/README.md: per policy the run it comes from,
its frames, its final score (mean of its last 3 evaluations, docs/decision_rules.md), the CPU it
trained on, the frozen commit, and how to load it; runs not trained yet are listed as such. The previous DEST is replaced (written beside it, then renamed).
Raises SystemExit if the policies would exceed MAX_BYTES.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from campaign_store import POLICY, POLICY_RUNS  # noqa: E402

from artifact.files import atomic_dir  # noqa: E402

MAX_BYTES = 60 * 2 ** 20
RUN_RECORD = "run.json"   # in each published policy: {"run", "frames", "config_sha256", "commit"}
FROZEN = "03310edfee161a61358cb444a80949d78773c19c"   # tag campaign-1 (reports/reference/RUN.md)

LOADING = '''<!-- runs -->
```python
import tensorflow as tf
from tf_agents.trajectories import time_step as ts
policy = tf.saved_model.load("reports/reference/policies/Breakout/dqn")
obs = tf.zeros([1, 4, 84, 84], tf.uint8)          # [batch, 4 stacked frames, 84, 84], uint8
action = policy.action(ts.restart(obs, batch_size=1), ()).action   # int64 [batch]
print(action.numpy())
```

An observation is the last 4 preprocessed frames (grayscale, 84 x 84, max-pooled over 2 frames;
docs/protocol.md section 2) of a game in ale-py's minimal action set, as
`envs.atari.make_atari_env` gives them; an action indexes that action set. Policies need only
TensorFlow 2.15 and tf-agents 0.19 (requirements.txt), not this repository. The DQN-family policies are greedy in Q (the
evaluation adds epsilon 0.05, docs/protocol.md); the A2C-framework policies sample from pi.
They were trained on `make_atari_env`'s training environment (its defaults): rewards clipped to
sign(r) and every lost life the end of an episode; their scores are of the evaluation
environment (`life_loss_terminal=False`: whole games), raw. docs/outputs.md, "Loading a saved
policy", plays a whole game with one.

## Playing one

Each folder's `run.json` names the run it is the final policy of: `run` (under
reports/reference/runs/), its final `frames`, `config_sha256` (of the run's config.json) and the
`commit` that trained it. `pg-softq-play` plays a published run directory with it, e.g.
`pg-softq-play reports/reference/runs/figure3/Seaquest/soft_ql/seed3` (that run's final
evaluation again; `--games 1 --max-frames 4000` for a short look).'''


def _size(path: Path) -> int:
  return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def describe(run: Path, rel: str) -> dict:
  """What README.md says of one stored run: frames, final score, CPU."""
  from artifact.analysis.statistics import final_scores
  done = json.loads((run / "done.json").read_text())
  df = pd.read_csv(run / "progress.csv")
  final = final_scores(df)["final_score"].iloc[0]
  machine = json.loads((run / "machine.json").read_text()) if (run / "machine.json").exists() else {}
  cpu = f"{machine.get('cpu', 'not recorded')} ({machine.get('isa', 'instruction set not recorded')})"
  return dict(run=rel, frames=int(done["frames"]), final=float(final), cpu=cpu, wall_s=float(done.get("wall_s", 0)))


def run_record(run: Path, rel: str) -> dict:
  """RUN_RECORD of the policy of stored run `run` (`rel`: figureF/Game/condition/seedS): the run,
  its final frames (done.json, emulator frames), the SHA-256 of its config.json (hex; the player
  plays a run directory with this policy only if its config.json has this hash and its
  done.json these frames) and the frozen commit that trained it."""
  done = json.loads((run / "done.json").read_text())
  return dict(run=rel, frames=int(done["frames"]),
              config_sha256=hashlib.sha256((run / "config.json").read_bytes()).hexdigest(),
              commit=FROZEN)


def publish(store: Path, dest: Path) -> list:
  """Copies the stored policies into `dest` (replaced whole, `artifact.files.atomic_dir`) and
  writes its README.md; returns the published run paths. Raises SystemExit (nothing replaced)
  if they take more than MAX_BYTES."""
  with atomic_dir(dest) as tmp:
    rows, missing, published = [], [], []
    for rel in sorted(POLICY_RUNS):
      figure, game, cond, seed = rel.split("/")
      run = store / rel
      if not (run / POLICY / "saved_model.pb").exists() or not (run / "done.json").exists():
        missing.append(rel)
        continue
      shutil.copytree(run / POLICY, tmp / game / cond)
      d = describe(run, rel)
      (tmp / game / cond / RUN_RECORD).write_text(json.dumps(run_record(run, rel), indent=2) + "\n")
      rows.append(f"| `{game}/{cond}` | `{rel}` | {d['frames']:,} | {d['final']:.4g} | {d['cpu']} | "
                  f"{d['wall_s']:,.0f} s |")
      published.append(rel)
    size = _size(tmp)
    if size > MAX_BYTES:
      raise SystemExit(f"the policies take {size / 2**20:.1f} MB, more than {MAX_BYTES / 2**20:.0f} MB")
    (tmp / "README.md").write_text(_readme(rows, missing, size))
  return published


def _readme(rows: list, missing: list, size: int) -> str:
  """The README.md of the published policies: one table row per policy, how to load one."""
  lines = ["# Trained policies of the reference campaign", "",
           "The final policy of one seed per condition, each a tf-agents `PolicySaver` SavedModel "
           f"written by the run itself at its last frame, trained by the frozen commit `{FROZEN}` "
           "(tag `campaign-1`; reports/reference/RUN.md). Final score: the mean evaluation return "
           "of the run's last 3 evaluations (raw game score).", "",
           "| policy | run | frames | final score | CPU | wall time |", "|---|---|---|---|---|---|", *rows]
  if missing:
    lines += ["", "Not trained yet (reports/reference/CAMPAIGN.md): " + ", ".join(f"`{m}`" for m in missing) + "."]
  lines += ["", f"{size / 2**20:.1f} MB in all.", "", "## Loading one", "", LOADING, ""]
  return "\n".join(lines)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--store", default=str(ROOT / "reports" / "campaign" / "runs"))
  p.add_argument("--dest", default=str(ROOT / "reports" / "reference" / "policies"))
  a = p.parse_args(argv)
  done = publish(Path(a.store), Path(a.dest))
  print(f"published {len(done)} of {len(POLICY_RUNS)} policies under {a.dest}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
