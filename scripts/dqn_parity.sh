#!/usr/bin/env bash
# Figure 2's DQN against stable-baselines3's on the same emulator (reports/parity/README.md,
# "DQN"): Breakout, 1.5M frames, replay 10k transitions, two runs side by side at nice 10.
#
#   scripts/dqn_parity.sh pair SEED             SB3's DQN seed SEED beside our `dqn` seed SEED
#   scripts/dqn_parity.sh factor NAME=VALUE S1 S2   our `dqn` with one factor option set, seeds S1, S2
#   scripts/dqn_parity.sh factors               the four factors below in turn, seeds 0 and 1 (finished runs are skipped)
#   scripts/dqn_parity.sh save                  copy the finished runs into reports/parity/dqn/, then report
#   scripts/dqn_parity.sh report                reports/parity/dqn/parity_dqn.{md,csv} from what is there
#
# Factors (DQNHparams fields, off by default; each run's config.json records it): torso_init=glorot
# (baselines deepq's initialiser), life_loss_fire=hidden (FIRE pressed inside the life-loss reset,
# not recorded), life_loss_stack=zero (the frame stack zeroed after a life loss, as SB3),
# grad_clip_mode=global (the gradient's global norm clipped, as SB3).
# Outputs: parity-dqn/ (git-ignored): sb3/ (SB3's curves, meta, monitors), ours/runs/...,
# FACTOR/runs/..., logs/; scripts/dqn_parity.sh save copies the finished ones into
# reports/parity/dqn/ and writes parity_dqn.md / .csv there (artifact/analysis/parity.py
# write_parity_dqn: the tables and the decision rule's outcome, docs/protocol.md "DQN parity:
# the decision rule"); commit after every finished pair.
set -uo pipefail
cd "$(dirname "$0")/.."
FRAMES=${DQN_PARITY_FRAMES:-1500000}
REPLAY=10000
ROOT=parity-dqn
FACTORS="torso_init=glorot life_loss_fire=hidden life_loss_stack=zero grad_clip_mode=global"
mkdir -p "$ROOT/logs"
ours() {       # ours OUTDIR SEEDS [--set K=V]...: our dqn at 1 TF thread (as --jobs 2 on 2 cores)
  local out="$1" seeds="$2"; shift 2
  nice -n 10 ./run_all.sh --scale short --figures 2 --games Breakout --conditions dqn --seeds "$seeds" \
    --frames "$FRAMES" --set replay_capacity=$REPLAY "$@" --no-theory --out "$out" \
    --status-every 300 --cpus-per-run 1 --jobs 2
}
case "${1:-}" in
  pair)
    s="${2:?seed}"
    echo "== $(date -u +%FT%TZ) pair seed $s: SB3 dqn and ours, $FRAMES frames"
    nice -n 10 scripts/sb3_parity.sh --algo dqn --game Breakout --seeds "$s" --frames "$FRAMES" \
      --replay $REPLAY --out "$ROOT/sb3" --monitor-dir "$ROOT/sb3/monitors" --device cpu \
      --torch-threads 1 > "$ROOT/logs/sb3-seed$s.log" 2>&1 &
    SB3=$!
    ours "$ROOT/ours" "$s" > "$ROOT/logs/ours-seed$s.log" 2>&1
    echo "ours exit $?"; wait $SB3; echo "sb3 exit $?"
    echo "== $(date -u +%FT%TZ) pair seed $s done";;
  factor)
    f="${2:?factor NAME=VALUE}"; name="${f%%=*}"
    echo "== $(date -u +%FT%TZ) factor $f seeds $3,$4"
    ours "$ROOT/$name" "$3,$4" --set "$f" > "$ROOT/logs/$name.log" 2>&1
    echo "== $(date -u +%FT%TZ) factor $f exit $?";;
  factors)
    for f in $FACTORS; do bash "$0" factor "$f" 0 1; done;;
  save)
    dest=reports/parity/dqn; mkdir -p "$dest/sb3_here"
    for f in "$ROOT"/sb3/sb3_here_*; do [ -f "$f" ] && cp "$f" "$dest/sb3_here/"; done
    [ -d "$ROOT/sb3/monitors" ] && tar czf "$dest/sb3_here/monitors.tgz" -C "$ROOT/sb3/monitors" .
    for d in "$ROOT"/*/runs/figure2/Breakout/dqn/seed*; do
      [ -f "$d/done.json" ] || continue
      rel=${d#"$ROOT"/}; mkdir -p "$dest/$rel"
      for f in config.json progress.csv done.json machine.json; do [ -f "$d/$f" ] && cp "$d/$f" "$dest/$rel/"; done
    done
    echo "saved into $dest"
    bash scripts/dqn_parity.sh report;;
  report)
    nice .venv/bin/python -c "
from artifact.analysis.parity import dqn_decision, write_parity_dqn
import pandas as pd
paths = write_parity_dqn('reports/parity/dqn')
print(paths['parity_dqn_md']); print(dqn_decision(pd.read_csv(paths['parity_dqn_csv']))['text'])";;
  *) sed -n 2,19p "$0"; exit 2;;
esac
