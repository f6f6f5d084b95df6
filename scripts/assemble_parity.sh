#!/usr/bin/env bash
# Assembles reports/parity/ from the campaign (scripts/campaign.sh): copies the finished parity runs' config.json,
# progress.csv, done.json and tb/ from campaign/out/runs into reports/parity/runs, then writes parity.csv/md.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf reports/parity/runs
for d in campaign/out/runs/figure1/Seaquest/a2c_1step/seed*; do
  [ -f "$d/done.json" ] || continue     # finished runs only
  dest=reports/parity/runs/${d#campaign/out/runs/}
  mkdir -p "$dest"
  for f in config.json progress.csv done.json; do [ -f "$d/$f" ] && cp "$d/$f" "$dest/"; done
  [ -d "$d/tb" ] && cp -r "$d/tb" "$dest/"
done
nice .venv/bin/python -c "
from artifact.analysis.parity import write_parity
print(write_parity('reports/parity/runs', 'reports/parity'))"
