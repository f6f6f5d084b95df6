#!/usr/bin/env bash
# The reference campaign (issue 19 / reports/reference/RUN.md): trains the reference runs from the
# frozen worktree ./campaign (a `git worktree` of the tag named in RUN.md, git-ignored), in the
# background at low priority. Start it first whenever a work session starts (it makes the
# worktree and the tag itself on a new checkout):
#
#   mkdir -p campaign/logs && nohup scripts/campaign.sh >> campaign/logs/campaign.log 2>&1 &
#
# A session's machine keeps only what is committed (since 2026-12-01 the checkpoints and the
# worktree are gone when the next session starts), so runs are trained whole, each straight to
# its stage's final frames, and finished runs live in the committed store reports/campaign/runs
# (scripts/campaign_store.py): restored into campaign/out at the start (run_all.sh skips them as
# finished), saved into the store every 5 minutes and at the end; commit the store before a
# session stops. A run finished at F frames holds every shorter stage (reports cut it there).
#
# Outputs: campaign/out/runs (runs; campaign/out-5M for stage 1's 5M step), campaign/logs/*.log.
set -uo pipefail
FROZEN=03310edfee161a61358cb444a80949d78773c19c   # the frozen commit (RUN.md; tag campaign-1)
cd "$(dirname "$0")/.."
git rev-parse -q --verify refs/tags/campaign-1 >/dev/null || git tag campaign-1 "$FROZEN"
if [ ! -e campaign/.git ]; then   # a new checkout: make the worktree, keeping campaign/logs (the nohup log)
  rm -rf campaign.wt && git worktree prune && git worktree add --detach campaign.wt "$FROZEN" || exit 1
  if [ -d campaign ]; then mv campaign/* campaign.wt/ 2>/dev/null; rmdir campaign || exit 1; fi
  git worktree move campaign.wt campaign || exit 1
fi
cd campaign
[ "$(git rev-parse HEAD)" = "$FROZEN" ] || { echo "error: campaign/ is at $(git rev-parse HEAD), not $FROZEN" >&2; exit 1; }
mkdir -p logs out
step() {       # step NAME ARGS...: one grid of the campaign into $OUT, logged, at nice 10, --jobs 2
  local name="$1"; shift
  echo "== $(date -u +%FT%TZ) step $name: ./run_all.sh --scale short --jobs 2 --no-theory --out $OUT $*"
  nice -n 10 ./run_all.sh --scale short --jobs 2 --no-theory --out "$OUT" --status-every 120 "$@" \
      > "logs/$name.log" 2>&1
  echo "== $(date -u +%FT%TZ) step $name: exit $?"
}
S1=(--figures 1,3 --games Seaquest,Qbert,SpaceInvaders)
S2=(--figures 2 --games Breakout --conditions dqn,soft_dqn_ent_0.1,soft_dqn_kl_0.1)
STORE=(python3 "$(pwd)/../scripts/campaign_store.py")
save_all() { for o in out out-5M; do [ -d "$o/runs" ] && "${STORE[@]}" save --out "$o" | grep -v '^save: 0 '; done; }
( while sleep 300; do save_all; done ) &
SAVER=$!
trap 'kill $SAVER 2>/dev/null; save_all' EXIT
OUT=out
"${STORE[@]}" restore --out out
# History (RUN.md's log stamps): parity-3M, stage2-1M, stage1-1M (twice: a shutdown lost the
# checkpoints), published at 1M. From here runs go straight to their final frames: Seaquest
# a2c_1step 0-2 finished at 3M in parity-3M (in the store). Long runs go first in a session,
# since the pair still training when it stops is lost. A Breakout DQN pair to 2M takes ~1h55m on
# the Intel Xeon (AVX-512) of 2026-12-01 10:34 but would take ~3 h on the AMD EPYC machines
# (1M in ~5,500 s), longer than a session: so stage 2's pairs run first where they fit, and are
# left out elsewhere (CAMPAIGN_STAGE2=yes|no overrides the guess from the CPU); A2C runs to 3M
# take ~25-45 min anywhere.
STAGE2="${CAMPAIGN_STAGE2:-auto}"
[ "$STAGE2" = auto ] && { grep -qw avx512f /proc/cpuinfo && STAGE2=yes || STAGE2=no; }
echo "-- $(date -u +%FT%TZ) stage 2 (DQN pairs to 2M) in this session: $STAGE2 ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2))"
if [ "$STAGE2" = yes ]; then
  step stage2-2M-dqn "${S2[@]}" --conditions dqn --frames 2000000
  step stage2-2M-ent "${S2[@]}" --conditions soft_dqn_ent_0.1 --frames 2000000
  step stage2-2M-kl "${S2[@]}" --conditions soft_dqn_kl_0.1 --frames 2000000
fi
step stage1-3M "${S1[@]}" --frames 3000000
# A run stored at 3M has no checkpoint to go on from: 5M runs train from zero in their own --out.
OUT=out-5M
"${STORE[@]}" restore --out out-5M --min-frames 5000000
step stage1-5M "${S1[@]}" --frames 5000000
