#!/usr/bin/env bash
# The reference campaign (issue 19 / reports/reference/RUN.md): trains the reference runs from the
# frozen worktree ./campaign (a `git worktree` of the tag named in RUN.md, git-ignored), in the
# background at low priority, breadth first in steps of frames. Rerunning it resumes every run
# from its checkpoint (finished runs are skipped or extended), so start it again whenever work
# on the repository starts:
#
#   git worktree add campaign campaign-1      # once
#   nohup scripts/campaign.sh >> campaign/logs/campaign.log 2>&1 &
#
# Outputs: campaign/out/runs (runs), campaign/out/reports, campaign/logs/*.log.
set -uo pipefail
cd "$(dirname "$0")/../campaign"
mkdir -p logs out
step() {       # step NAME ARGS...: one grid of the campaign, logged, at nice 10, --jobs 2
  local name="$1"; shift
  echo "== $(date -u +%FT%TZ) step $name: ./run_all.sh --scale short --jobs 2 --no-theory --out out $*"
  nice -n 10 ./run_all.sh --scale short --jobs 2 --no-theory --out out --status-every 120 "$@" \
      > "logs/$name.log" 2>&1
  echo "== $(date -u +%FT%TZ) step $name: exit $?"
}
S1=(--figures 1,3 --games Seaquest,Qbert,SpaceInvaders)
S2=(--figures 2 --games Breakout --conditions dqn,soft_dqn_ent_0.1,soft_dqn_kl_0.1)
# parity first (issue 18): a2c_1step on Seaquest, 3 seeds, 3M frames (runs of stage 1)
step parity-3M --figures 1 --games Seaquest --conditions a2c_1step --frames 3000000
# Figure 2 (stage 2) before stage 1's first step: stage 1 at 1M was published on 2026-12-01, and
# then a machine shutdown lost every checkpoint's variables (reports/reference/CAMPAIGN.md), so
# stage 1 retrains from zero; its first 1M frames must reproduce the published ones bit for bit.
step stage2-1M "${S2[@]}" --frames 1000000
step stage1-1M "${S1[@]}" --frames 1000000
step stage1-2M "${S1[@]}" --frames 2000000
step stage2-2M "${S2[@]}" --frames 2000000
step stage1-3M "${S1[@]}" --frames 3000000
step stage1-5M "${S1[@]}" --frames 5000000
