#!/usr/bin/env bash
# The reference campaign (issue 19 / reports/reference/RUN.md): trains the reference runs from the
# frozen worktree ./campaign (a `git worktree` of the tag named in RUN.md, git-ignored), in the
# background at low priority. Start it first whenever a work session starts (it makes the
# worktree and the tag itself on a new checkout):
#
#   mkdir -p campaign/logs && nohup scripts/campaign.sh >> campaign/logs/campaign.log 2>&1 &
#
# (CAMPAIGN_UNTIL=HH:MM: when the session stops, if not 2h55m from now; see stage 2 below)
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
save_all() {   # finished runs into the store, and the log's step lines (RUN.md's stamps: the log is lost with the machine)
  for o in out out-5M; do [ -d "$o/runs" ] && "${STORE[@]}" save --out "$o" --log logs/campaign.log | grep -v '^save: 0 '; done
}
( while sleep 300; do save_all; done ) &
SAVER=$!
trap 'kill $SAVER 2>/dev/null; save_all' EXIT
OUT=out
"${STORE[@]}" restore --out out
# History (RUN.md's log stamps): parity-3M, stage2-1M, stage1-1M (twice: a shutdown lost the
# checkpoints), published at 1M. From here runs go straight to their final frames. Long runs go
# first in a session, since the pair still training when it stops is lost. A Breakout DQN pair
# to 2M took 6,730-6,800 s on the Intel Xeon (AVX-512) of 2026-12-01 and runs at ~320 frames/s
# per run on the AVX-512 AMD EPYC of 2026-12-02, but would take ~3 h on the older AMD EPYC
# machines (1M in ~5,500 s), longer than a session: so stage 2's pairs run first where they fit,
# and are left out elsewhere (CAMPAIGN_STAGE2=yes|no overrides the guess from the CPU). A pair
# starts only if it can finish before the session stops: CAMPAIGN_UNTIL (a time `date -d`
# reads, e.g. 03:20; default 2h55m after this script starts) less STAGE2_PAIR_S. A2C runs to 3M
# take ~25 min side by side on the AVX-512 machines, ~40 min on the older ones.
STAGE2_PAIR_S=7200
UNTIL=$(date -u -d "${CAMPAIGN_UNTIL:-now + 175 minutes}" +%s) || { echo "error: CAMPAIGN_UNTIL=${CAMPAIGN_UNTIL:-} is not a time date(1) reads (e.g. 03:20 or 2026-12-02T03:20Z)" >&2; exit 2; }
STAGE2="${CAMPAIGN_STAGE2:-auto}"
case "$STAGE2" in auto|yes|no) ;; *) echo "error: CAMPAIGN_STAGE2=$STAGE2; allowed: auto, yes, no" >&2; exit 2;; esac
[ "$STAGE2" = auto ] && { grep -qw avx512f /proc/cpuinfo && STAGE2=yes || STAGE2=no; }
echo "-- $(date -u +%FT%TZ) stage 2 (DQN pairs to 2M) in this session: $STAGE2 ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)); the session stops at $(date -u -d @"$UNTIL" +%FT%TZ)"
stage2_step() {   # stage2_step NAME CONDITION: its pair to 2M, if stage 2 runs here and the pair fits before UNTIL
  local left=$(( UNTIL - $(date +%s) ))
  [ "$STAGE2" = yes ] || return 0
  # both seeds finished at 2M (restored from the store): nothing to train
  [ "$(grep -l '"frames": [2-9][0-9]\{6\}' out/runs/figure2/Breakout/"$2"/seed*/done.json 2>/dev/null | wc -l)" -ge 2 ] && return 0
  if [ "$left" -lt "$STAGE2_PAIR_S" ]; then
    echo "-- $(date -u +%FT%TZ) stage2-2M-$1: not started (${left}s left in the session, a pair needs ~${STAGE2_PAIR_S}s)"
    return 0
  fi
  step "stage2-2M-$1" "${S2[@]}" --conditions "$2" --frames 2000000
}
stage2_step dqn dqn
stage2_step ent soft_dqn_ent_0.1
stage2_step kl soft_dqn_kl_0.1
step stage1-3M "${S1[@]}" --frames 3000000
# A run stored at 3M has no checkpoint to go on from: 5M runs train from zero in their own --out.
OUT=out-5M
"${STORE[@]}" restore --out out-5M --min-frames 5000000
step stage1-5M "${S1[@]}" --frames 5000000
