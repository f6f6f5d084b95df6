#!/usr/bin/env bash
# The reference campaign (reports/reference/RUN.md, CAMPAIGN.md): trains the reference runs from
# the frozen worktree ./campaign (a `git worktree` of the tag named in RUN.md, git-ignored), in the
# background at low priority. Start it first whenever work on a machine starts (it makes the
# worktree and the tag itself on a new checkout):
#
#   mkdir -p campaign/logs && nohup scripts/campaign.sh >> campaign/logs/campaign.log 2>&1 &
#
# On a CPU with AVX-512 step 2 (Figure 2's DQN pairs, which run only there) goes first and step
# 1 fills the time a DQN pair would not fit in; on an AVX2-only CPU step 1 runs alone.
#
# CAMPAIGN_DRY=1: print the units it would start, in order, with their estimated times against
# CAMPAIGN_UNTIL (each unit's runs taking their estimate), and exit: no training, no worktree, no
# tag, nothing written (it reads the store and campaign/out where they exist).
# CAMPAIGN_UNTIL=HH:MM (or any time `date -d` reads): when work stops (default: 2h55m from now).
# A unit of runs starts only if it can finish before then: a run cut off is lost, since a
# machine keeps only what is committed. CAMPAIGN_A2C_PAIR_S=SECONDS, CAMPAIGN_DQN_PAIR_S=SECONDS:
# what a pair of A2C runs to 3M, or of Breakout DQN runs to 2M, takes on this machine, where its
# finished pairs measured it (default: the figures below).
# CAMPAIGN_A2C=yes|no|auto (default auto, which is yes on every CPU): whether step 1 runs here.
# CAMPAIGN_DQN=yes|no|auto (default auto: yes on a CPU with AVX-512, else no): whether step 2's
# DQN pairs run here (~3 h a pair on AVX2-only CPUs).
# Figure 2 grows from tag campaign-1 too: the DQN parity experiment (docs/protocol.md section 5,
# "DQN parity: the decision rule"; reports/parity/dqn/parity_dqn.md) adopted no factor.
#
# Runs are trained whole, each straight to its step's final frames, and finished runs live in
# the committed store reports/campaign/runs (scripts/campaign_store.py): restored into
# campaign/out at the start (run_all.sh skips them as finished), saved into the store every 5
# minutes and at the end; commit the store after every finished unit. A run finished at F frames
# holds every shorter stage (reports cut it there).
#
# Steps, in order (part 3 of the campaign; parts 1 and 2, in git history, trained Figures 1/3 on
# the six games, seeds 0-4 on Seaquest, Qbert, SpaceInvaders and 0-2 on BeamRider, Breakout,
# Pong, at 3M, and Figure 2 on Breakout seeds 0-2 of dqn, soft_dqn_ent_0.1, soft_dqn_kl_0.1,
# dqn_nstep at 2M):
#   1. Figures 1/3, Seaquest and SpaceInvaders, 3M frames: seeds 5-9 of a2c_1step, a2c_proper
#      (= pg), soft_ql (30 runs; seeds 5-7 first, then 8-9), tag campaign-1; any CPU.
#   2. Figure 2, Breakout, 2M frames, DQN pairs on AVX-512 only, tag campaign-1: seeds 3 and 4
#      of dqn, soft_dqn_ent_0.1, soft_dqn_kl_0.1, dqn_nstep, then soft_dqn_ent_0.01 and
#      soft_dqn_kl_0.01 seeds 0-4 (18 runs, 9 pairs).
# Units are grouped by seed: the conditions of one (game, seed) always train in one unit, on one
# machine, so the compared conditions share a CPU kind (each run's machine.json). A step-1 unit
# is one seed on both games (6 runs, 3 pairs) or one (game, seed) (3 runs) when only that fits; a
# step-2 unit is one pair of one seed. Inside a unit run_all.sh --jobs 2 trains two runs at a
# time in its grid's order: a seed's conditions side by side.
#
# Within a step the queue order is kept: once a unit does not fit before CAMPAIGN_UNTIL, that
# step's later units wait; the other step still runs what fits.
#
# Outputs: campaign/out/runs (runs), campaign/logs/*.log.
set -uo pipefail
FROZEN=03310edfee161a61358cb444a80949d78773c19c   # the frozen commit (RUN.md; tag campaign-1)
cd "$(dirname "$0")/.."
ROOT=$(pwd)

# --- the settings, checked before anything starts -----------------------------------------------
fail() { echo "error: $*" >&2; exit 2; }
DRY="${CAMPAIGN_DRY:-0}"
case "$DRY" in 0|1) ;; *) fail "CAMPAIGN_DRY=$DRY; allowed: 0, 1";; esac
# Measured costs of a pair of runs side by side on 2 cores (RUN.md): a Breakout DQN pair to 2M
# took 5,950-6,800 s on the AVX-512 machines (Intel Xeon, AMD EPYC; 5,745-5,944 s on an Intel
# Xeon with AMX, ~30 min of it with a test suite beside it: CAMPAIGN_DQN_PAIR_S=6000 there); an
# A2C pair to 3M took 1,360-1,640 s there (~920 s on the Xeon with AMX) and 2,400-5,000 s on the
# AVX2-only AMD EPYCs (Qbert 3,850 s and Seaquest 4,950 s on the slower one: the estimate is the
# slower machine's, so a unit that starts finishes).
# DQN pairs would take ~3 h on the AVX2 machines (1M in ~5,500 s): they run only on AVX-512
# (CAMPAIGN_DQN=yes|no overrides).
AVX512=$(grep -qw avx512f /proc/cpuinfo && echo yes || echo no)
DQN_PAIR_S=${CAMPAIGN_DQN_PAIR_S:-7200}
A2C_PAIR_S=${CAMPAIGN_A2C_PAIR_S:-$( [ "$AVX512" = yes ] && echo 1700 || echo 4000)}
case "$A2C_PAIR_S" in ''|*[!0-9]*) fail "CAMPAIGN_A2C_PAIR_S=$A2C_PAIR_S; allowed: whole seconds";; esac
case "$DQN_PAIR_S" in ''|*[!0-9]*) fail "CAMPAIGN_DQN_PAIR_S=$DQN_PAIR_S; allowed: whole seconds";; esac
UNTIL=$(date -u -d "${CAMPAIGN_UNTIL:-now + 175 minutes}" +%s) || fail "CAMPAIGN_UNTIL=${CAMPAIGN_UNTIL:-} is not a time date(1) reads (e.g. 03:20 or 2026-12-02T03:20Z)"
NOW=$(date +%s)
# a clock time already past today (CAMPAIGN_UNTIL=01:15 at 22:30) means tomorrow's
[ "$UNTIL" -le "$NOW" ] && [ $(( NOW - UNTIL )) -lt 86400 ] && UNTIL=$(( UNTIL + 86400 ))
DQN="${CAMPAIGN_DQN:-auto}"
case "$DQN" in auto|yes|no) ;; *) fail "CAMPAIGN_DQN=$DQN; allowed: auto, yes, no";; esac
[ "$DQN" = auto ] && DQN=$AVX512
A2C="${CAMPAIGN_A2C:-auto}"
case "$A2C" in auto|yes|no) ;; *) fail "CAMPAIGN_A2C=$A2C; allowed: auto, yes, no";; esac
[ "$A2C" = auto ] && A2C=yes
case "${CAMPAIGN_FIG2:-campaign-1}" in campaign-1) ;; *) fail "CAMPAIGN_FIG2=$CAMPAIGN_FIG2; allowed: campaign-1 (or unset): the DQN parity rule kept tag campaign-1 for Figure 2 (reports/parity/dqn/parity_dqn.md), so step 2 trains from it";; esac

# --- the worktrees, the store, the saver (not in a dry run) -------------------------------------
STORE=(python3 "$ROOT/scripts/campaign_store.py")
worktree() {   # worktree DIR COMMIT TAG: DIR a git worktree of COMMIT (made on a new checkout, keeping DIR/logs: the nohup log)
  local dir="$1" commit="$2" tag="$3"
  git rev-parse -q --verify "refs/tags/$tag" >/dev/null || git tag "$tag" "$commit" || exit 1
  if [ ! -e "$dir/.git" ]; then
    rm -rf "$dir.wt" && git worktree prune && git worktree add --detach "$dir.wt" "$commit" || exit 1
    if [ -d "$dir" ]; then mv "$dir"/* "$dir.wt"/ 2>/dev/null; rmdir "$dir" || exit 1; fi
    git worktree move "$dir.wt" "$dir" || exit 1
  fi
  [ "$(git -C "$dir" rev-parse HEAD)" = "$commit" ] || { echo "error: $dir/ is at $(git -C "$dir" rev-parse HEAD), not $commit (tag $tag)" >&2; exit 1; }
  mkdir -p "$dir/logs" "$dir/out/runs"
}
save_all() {   # finished runs into the stores, and the log's step lines (RUN.md's stamps: the log is lost with the machine)
  "${STORE[@]}" save --out campaign/out --store reports/campaign --log campaign/logs/campaign.log | grep -v '^save: 0 '
}
if [ "$DRY" = 0 ]; then
  worktree campaign "$FROZEN" campaign-1
  ( while sleep 300; do save_all; done ) &
  SAVER=$!
  trap 'kill $SAVER 2>/dev/null; save_all' EXIT
  "${STORE[@]}" restore --out campaign/out --store reports/campaign
fi

# --- planning -------------------------------------------------------------------------------------
CLOCK=$NOW     # a dry run's clock: each unit it would start advances it by the unit's estimate
now() { if [ "$DRY" = 1 ]; then echo "$CLOCK"; else date +%s; fi; }
stamp() { date -u -d @"$(now)" +%FT%TZ; }
note() {       # a note in the log ("-- <UTC time> ...", kept in the store's steps.log); a dry run's are marked "dry"
  if [ "$DRY" = 1 ]; then echo "dry [$(stamp)] $*"; else echo "-- $(stamp) $*"; fi
}
note "CPU$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) (AVX-512: $AVX512); step 1 (A2C) here: $A2C; DQN pairs (2M) here: $DQN; work stops at $(date -u -d @"$UNTIL" +%FT%TZ); pairs ~${A2C_PAIR_S}s (A2C), ~${DQN_PAIR_S}s (DQN)"

left_runs() {  # left_runs WT FRAMES RUN...: how many of RUN (figureF/Game/cond/seedS) lack a done.json at FRAMES in WT/out (a dry run: or in its store)
  local wt="$1" frames="$2"; shift 2; local n=0 r f g store=reports/campaign
  for r in "$@"; do
    f=$(sed -n 's/.*"frames": *\([0-9]*\).*/\1/p' "$wt/out/runs/$r/done.json" 2>/dev/null | head -1)
    if [ "$DRY" = 1 ]; then
      g=$(sed -n 's/.*"frames": *\([0-9]*\).*/\1/p' "$store/runs/$r/done.json" 2>/dev/null | head -1)
      [ "${g:-0}" -gt "${f:-0}" ] && f=$g
    fi
    [ "${f:-0}" -ge "$frames" ] || n=$((n + 1))
  done
  echo "$n"
}
fits() {       # fits N_RUNS PAIR_SECONDS: whether ceil(N/2) pairs finish before UNTIL
  local need=$(( ($1 + 1) / 2 * $2 ))
  [ $(( UNTIL - $(now) )) -ge "$need" ]
}
step() {       # step WT NAME EST_S ARGS...: one grid of the campaign into WT/out, logged, at nice 10, --jobs 2
  local wt="$1" name="$2" est="$3"; shift 3
  if [ "$DRY" = 1 ]; then
    echo "dry [$(stamp)] would start $name in $wt/ (~${est}s, to $(date -u -d @$(( CLOCK + est )) +%FT%TZ)): ./run_all.sh --scale short --jobs 2 --no-theory --out out $*"
    CLOCK=$(( CLOCK + est )); return 0
  fi
  echo "== $(stamp) step $name: ./run_all.sh --scale short --jobs 2 --no-theory --out out $*$( [ "$wt" = campaign ] || echo " (in $wt/)")"
  ( cd "$wt" && nice -n 10 ./run_all.sh --scale short --jobs 2 --no-theory --out out --status-every 120 "$@" \
      > "logs/$name.log" 2>&1 )
  echo "== $(stamp) step $name: exit $?"
}
STOPPED=no     # once a unit does not fit, the step's later units wait too (its queue order is kept); reset per step
unit() {       # unit WT NAME PAIR_S FRAMES "RUN..." ARGS...: one unit, if its unfinished runs fit before UNTIL
  local wt="$1" name="$2" pair_s="$3" frames="$4" runs=($5); shift 5
  local n; n=$(left_runs "$wt" "$frames" "${runs[@]}")
  if [ "$n" -eq 0 ]; then [ "$DRY" = 1 ] && note "$name: done (${#runs[@]} runs in the store)"; return 0; fi
  [ "$STOPPED" = yes ] && { [ "$DRY" = 1 ] && note "$name: waits ($n run(s) left)"; return 0; }
  if ! fits "$n" "$pair_s"; then
    note "$name: not started ($(( UNTIL - $(now) ))s left, its $n run(s) need ~$(( (n + 1) / 2 * pair_s ))s)"
    STOPPED=yes; return 0
  fi
  step "$wt" "$name" "$(( (n + 1) / 2 * pair_s ))" "$@" --frames "$frames"
}
runs_of() {    # runs_of FIG "GAMES" "CONDITIONS" "SEEDS": the run directories, figureF/Game/cond/seedS
  local g c s; for g in $2; do for c in $3; do for s in $4; do echo "figure$1/$g/$c/seed$s"; done; done; done
}
fig13() {      # fig13 "GAMES" "SEEDS": Figures 1 and 3's runs (pg is a2c_proper's run)
  runs_of 1 "$1" "a2c_1step a2c_proper" "$2"; runs_of 3 "$1" "soft_ql" "$2"
}

# Step 1: Figures 1/3 seeds 5-9 on Seaquest and SpaceInvaders, 3M frames, tag campaign-1. A unit
# is one seed on both games (6 runs, 3 pairs: a game's a2c_1step and a2c_proper, then the other
# game's, then the two soft_ql) or one (game, seed) (3 runs) when only that fits.
F13=(--figures 1,3)
a2c_unit() {   # a2c_unit NAME "GAMES" "SEEDS": those runs as one unit; one (game, seed) at a time when short of time
  local name="$1" games=($2) seeds=($3) g s
  if fits "$(left_runs campaign 3000000 $(fig13 "${games[*]}" "${seeds[*]}"))" "$A2C_PAIR_S" \
      || [ "$(( ${#games[@]} * ${#seeds[@]} ))" -eq 1 ]; then
    unit campaign "$name" "$A2C_PAIR_S" 3000000 "$(fig13 "${games[*]}" "${seeds[*]}")" \
        "${F13[@]}" --games "$(IFS=,; echo "${games[*]}")" --seeds "$(IFS=,; echo "${seeds[*]}")"
  else
    for s in "${seeds[@]}"; do for g in "${games[@]}"; do
      unit campaign "fig13-$g-seed$s" "$A2C_PAIR_S" 3000000 "$(fig13 "$g" "$s")" "${F13[@]}" --games "$g" --seeds "$s"
    done; done
  fi
}
step1() {
  STOPPED=no
  if [ "$A2C" != yes ]; then note "step 1 (Figures 1/3 seeds 5-9) not run here: CAMPAIGN_A2C=no"; return 0; fi
  for s in 5 6 7 8 9; do a2c_unit "fig13-seed$s-Seaquest-SpaceInvaders" "Seaquest SpaceInvaders" "$s"; done
}

# Step 2: Figure 2 on Breakout to 2M, one pair of a seed's conditions side by side a unit.
F2=(--figures 2 --games Breakout)
fig2_pair() {  # fig2_pair WT NAME "COND1 COND2" SEED: one pair, if it fits
  local wt="$1" name="$2" conds="$3" seed="$4"
  unit "$wt" "$name" "$DQN_PAIR_S" 2000000 "$(runs_of 2 Breakout "$conds" "$seed")" \
      "${F2[@]}" --conditions "$(echo $conds | tr ' ' ,)" --seeds "$seed"
}
step2() {      # the runs missing from seeds 0-4 of all six conditions
  STOPPED=no
  if [ "$DQN" != yes ]; then
    note "step 2 (Figure 2) not run here: CAMPAIGN_DQN=${CAMPAIGN_DQN:-auto}, DQN pairs here: no (auto runs them on AVX-512 CPUs only; yes overrides)"
    return 0
  fi
  for s in 3 4; do
    fig2_pair campaign "fig2-seed$s-dqn-ent" "dqn soft_dqn_ent_0.1" "$s"
    fig2_pair campaign "fig2-seed$s-kl-nstep" "soft_dqn_kl_0.1 dqn_nstep" "$s"
  done
  for s in 0 1 2 3 4; do fig2_pair campaign "fig2-seed$s-ent-kl-0.01" "soft_dqn_ent_0.01 soft_dqn_kl_0.01" "$s"; done
}

# On AVX-512 step 2 first (its DQN pairs run nowhere else), then step 1 in the time left.
step2; step1
note "campaign: nothing more starts here$( [ "$DRY" = 1 ] && echo '; dry run: nothing started')"
