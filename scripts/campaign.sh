#!/usr/bin/env bash
# The reference campaign (reports/reference/RUN.md, CAMPAIGN.md): trains the reference runs from
# the frozen worktree ./campaign (a `git worktree` of the tag named in RUN.md, git-ignored), in the
# background at low priority. Start it first whenever work on a machine starts (it makes the
# worktree and the tag itself on a new checkout):
#
#   mkdir -p campaign/logs && nohup scripts/campaign.sh >> campaign/logs/campaign.log 2>&1 &
#
# CAMPAIGN_UNTIL=HH:MM (or any time `date -d` reads): when work stops (default: 2h55m from now).
# A unit of runs starts only if it can finish before then: a run cut off is lost, since a
# machine keeps only what is committed. CAMPAIGN_A2C_PAIR_S=SECONDS, CAMPAIGN_DQN_PAIR_S=SECONDS:
# what a pair of A2C runs to 3M, or of Breakout DQN runs to 2M, takes on this machine, where its
# finished pairs measured it (default: the figures below).
#
# Runs are trained whole, each straight to its step's final frames, and finished runs live in
# the committed store reports/campaign/runs (scripts/campaign_store.py): restored into
# campaign/out at the start (run_all.sh skips them as finished), saved into the store every 5
# minutes and at the end; commit the store after every finished unit. A run finished at F frames
# holds every shorter stage (reports cut it there).
#
# Steps, in order of information per core-hour (part 2 of the campaign; part 1 trained Figures
# 1/3 on Seaquest, Qbert, SpaceInvaders seeds 0-2 at 3M and Figure 2 on Breakout seeds 0-1 at 2M):
#   1. Figure 2, Breakout, 2M frames: dqn, soft_dqn_ent_0.1, soft_dqn_kl_0.1 seed 2; dqn_nstep 0-2.
#   2. Figures 1/3, Seaquest, Qbert, SpaceInvaders, seeds 3 and 4, 3M frames.
#   3. Figures 1/3, BeamRider, Breakout, Pong, seeds 0-2, 3M frames.
# Units are grouped by seed: the conditions of one (game, seed) always train in one unit, on one
# machine, so the compared conditions share a CPU kind (each run's machine.json). Inside a unit
# run_all.sh --jobs 2 trains two runs at a time in its grid's order: a seed's conditions side by
# side, or, in a unit of one game and two seeds, a condition's two seeds.
#
# Outputs: campaign/out/runs (runs), campaign/logs/*.log.
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
OUT=out
step() {       # step NAME ARGS...: one grid of the campaign into $OUT, logged, at nice 10, --jobs 2
  local name="$1"; shift
  echo "== $(date -u +%FT%TZ) step $name: ./run_all.sh --scale short --jobs 2 --no-theory --out $OUT $*"
  nice -n 10 ./run_all.sh --scale short --jobs 2 --no-theory --out "$OUT" --status-every 120 "$@" \
      > "logs/$name.log" 2>&1
  echo "== $(date -u +%FT%TZ) step $name: exit $?"
}
STORE=(python3 "$(pwd)/../scripts/campaign_store.py")
save_all() {   # finished runs into the store, and the log's step lines (RUN.md's stamps: the log is lost with the machine)
  "${STORE[@]}" save --out out --log logs/campaign.log | grep -v '^save: 0 '
}
( while sleep 300; do save_all; done ) &
SAVER=$!
trap 'kill $SAVER 2>/dev/null; save_all' EXIT
"${STORE[@]}" restore --out out

# Measured costs of a pair of runs side by side on 2 cores (RUN.md): a Breakout DQN pair to 2M
# took 5,950-6,800 s on the AVX-512 machines (Intel Xeon, AMD EPYC; 5,745-5,944 s on an Intel
# Xeon with AMX, ~30 min of it with a test suite beside it: CAMPAIGN_DQN_PAIR_S=6000 there); an
# A2C pair to 3M took 1,360-1,640 s there (~920 s on the Xeon with AMX) and 2,400-5,000 s on the
# AVX2-only AMD EPYCs (Qbert 3,850 s and Seaquest 4,950 s on the slower one: the estimate is the
# slower machine's, so a unit that starts finishes).
# DQN pairs would take ~3 h on the AVX2 machines (1M in ~5,500 s): they run only on AVX-512
# (CAMPAIGN_DQN=yes|no overrides).
DQN_PAIR_S=${CAMPAIGN_DQN_PAIR_S:-7200}
A2C_PAIR_S=${CAMPAIGN_A2C_PAIR_S:-$(grep -qw avx512f /proc/cpuinfo && echo 1700 || echo 4000)}
case "$A2C_PAIR_S" in ''|*[!0-9]*) echo "error: CAMPAIGN_A2C_PAIR_S=$A2C_PAIR_S; allowed: whole seconds" >&2; exit 2;; esac
case "$DQN_PAIR_S" in ''|*[!0-9]*) echo "error: CAMPAIGN_DQN_PAIR_S=$DQN_PAIR_S; allowed: whole seconds" >&2; exit 2;; esac
UNTIL=$(date -u -d "${CAMPAIGN_UNTIL:-now + 175 minutes}" +%s) || { echo "error: CAMPAIGN_UNTIL=${CAMPAIGN_UNTIL:-} is not a time date(1) reads (e.g. 03:20 or 2026-12-02T03:20Z)" >&2; exit 2; }
NOW=$(date +%s)
# a clock time already past today (CAMPAIGN_UNTIL=01:15 at 22:30) means tomorrow's
[ "$UNTIL" -le "$NOW" ] && [ $(( NOW - UNTIL )) -lt 86400 ] && UNTIL=$(( UNTIL + 86400 ))
DQN="${CAMPAIGN_DQN:-auto}"
case "$DQN" in auto|yes|no) ;; *) echo "error: CAMPAIGN_DQN=$DQN; allowed: auto, yes, no" >&2; exit 2;; esac
[ "$DQN" = auto ] && { grep -qw avx512f /proc/cpuinfo && DQN=yes || DQN=no; }
echo "-- $(date -u +%FT%TZ) DQN pairs (2M) here: $DQN; CPU$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); work stops at $(date -u -d @"$UNTIL" +%FT%TZ)"

left_runs() {  # left_runs FRAMES RUN...: how many of RUN (figureF/Game/cond/seedS) lack a done.json at FRAMES
  local frames="$1"; shift; local n=0 r f
  for r in "$@"; do
    f=$(sed -n 's/.*"frames": *\([0-9]*\).*/\1/p' "out/runs/$r/done.json" 2>/dev/null | head -1)
    [ "${f:-0}" -ge "$frames" ] || n=$((n + 1))
  done
  echo "$n"
}
fits() {       # fits N_RUNS PAIR_SECONDS: whether ceil(N/2) pairs finish before UNTIL
  local need=$(( ($1 + 1) / 2 * $2 ))
  [ $(( UNTIL - $(date +%s) )) -ge "$need" ]
}
STOPPED=no     # once a unit does not fit, later units wait too (the queue order is kept)
unit() {       # unit NAME PAIR_S FRAMES "RUN..." ARGS...: one unit, if its unfinished runs fit before UNTIL
  local name="$1" pair_s="$2" frames="$3" runs=($4); shift 4
  local n; n=$(left_runs "$frames" "${runs[@]}")
  [ "$n" -eq 0 ] && return 0
  [ "$STOPPED" = yes ] && return 0
  if ! fits "$n" "$pair_s"; then
    echo "-- $(date -u +%FT%TZ) $name: not started ($(( UNTIL - $(date +%s) ))s left, its $n run(s) need ~$(( (n + 1) / 2 * pair_s ))s)"
    STOPPED=yes; return 0
  fi
  step "$name" "$@" --frames "$frames"
}
runs_of() {    # runs_of FIG "GAMES" "CONDITIONS" "SEEDS": the run directories, figureF/Game/cond/seedS
  local g c s; for g in $2; do for c in $3; do for s in $4; do echo "figure$1/$g/$c/seed$s"; done; done; done
}
fig13() {      # fig13 "GAMES" "SEEDS": Figures 1 and 3's runs (pg is a2c_proper's run)
  runs_of 1 "$1" "a2c_1step a2c_proper" "$2"; runs_of 3 "$1" "soft_ql" "$2"
}

# Step 1: Figure 2 on Breakout to 2M, a seed's conditions side by side.
F2=(--figures 2 --games Breakout)
if [ "$DQN" = yes ]; then
  unit fig2-seed2-dqn-ent "$DQN_PAIR_S" 2000000 "$(runs_of 2 Breakout "dqn soft_dqn_ent_0.1" 2)" \
      "${F2[@]}" --conditions dqn,soft_dqn_ent_0.1 --seeds 2
  unit fig2-seed2-kl-nstep "$DQN_PAIR_S" 2000000 "$(runs_of 2 Breakout "soft_dqn_kl_0.1 dqn_nstep" 2)" \
      "${F2[@]}" --conditions soft_dqn_kl_0.1,dqn_nstep --seeds 2
  # seeds 0-1 of the other conditions are in the store already: dqn_nstep's two seeds pair up
  unit fig2-nstep-seeds01 "$DQN_PAIR_S" 2000000 "$(runs_of 2 Breakout dqn_nstep "0 1")" \
      "${F2[@]}" --conditions dqn_nstep --seeds 0,1
else
  STOPPED=yes   # the queue order is kept: A2C steps wait for step 1 unless CAMPAIGN_DQN=no is set
  [ "${CAMPAIGN_DQN:-auto}" = no ] && STOPPED=no
  echo "-- $(date -u +%FT%TZ) step 1 (DQN) not run on this CPU; later steps $( [ $STOPPED = yes ] && echo 'wait (CAMPAIGN_DQN=no runs them)' || echo 'run')"
fi

# Step 2: Figures 1/3 seeds 3 and 4 on part 1's games, 3M frames. A unit is one seed on two
# games (6 runs, 3 pairs) or one (game, seed) (3 runs) when only that fits.
F13=(--figures 1,3)
a2c_unit() {   # a2c_unit NAME "GAMES" "SEEDS": those runs as one unit; one (game, seed) at a time when short of time
  local name="$1" games=($2) seeds=($3) g s
  if fits "$(left_runs 3000000 $(fig13 "${games[*]}" "${seeds[*]}"))" "$A2C_PAIR_S" \
      || [ "$(( ${#games[@]} * ${#seeds[@]} ))" -eq 1 ]; then
    unit "$name" "$A2C_PAIR_S" 3000000 "$(fig13 "${games[*]}" "${seeds[*]}")" \
        "${F13[@]}" --games "$(IFS=,; echo "${games[*]}")" --seeds "$(IFS=,; echo "${seeds[*]}")"
  else
    for s in "${seeds[@]}"; do for g in "${games[@]}"; do
      unit "fig13-$g-seed$s" "$A2C_PAIR_S" 3000000 "$(fig13 "$g" "$s")" "${F13[@]}" --games "$g" --seeds "$s"
    done; done
  fi
}
a2c_unit fig13-seed3-Seaquest-Qbert "Seaquest Qbert" 3
a2c_unit fig13-seed4-Seaquest-Qbert "Seaquest Qbert" 4
a2c_unit fig13-SpaceInvaders-seeds34 SpaceInvaders "3 4"

# Step 3: Figures 1/3 on the paper's other games, seeds 0-2, 3M frames.
for s in 0 1 2; do a2c_unit "fig13-seed$s-BeamRider-Breakout" "BeamRider Breakout" "$s"; done
a2c_unit fig13-Pong-seeds01 Pong "0 1"
a2c_unit fig13-Pong-seed2 Pong 2
echo "-- $(date -u +%FT%TZ) campaign: nothing more starts here (STOPPED=$STOPPED)"
