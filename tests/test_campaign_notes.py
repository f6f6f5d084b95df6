"""reports/campaign/README.md names every run of the campaign store (reports/campaign/runs/) that
was trained past its published copy (reports/reference/runs/), with both frame counts from the
runs' done.json, and no other: a reader who opens the store meets the note. Fast: JSON only."""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "reports" / "campaign"
REFERENCE = ROOT / "reports" / "reference" / "runs"
BEGIN = "<!-- extended-runs: checked by tests/test_campaign_notes.py against done.json -->"
END = "<!-- /extended-runs -->"


def _frames(run: Path) -> int:
  return int(json.loads((run / "done.json").read_text())["frames"])


def extended_runs():
  """{run: (store frames, published frames)} of the store runs past their published frames."""
  out = {}
  for done in sorted((STORE / "runs").glob("figure*/*/*/seed*/done.json")):
    rel = done.parent.relative_to(STORE / "runs").as_posix()
    published = REFERENCE / rel
    if (published / "done.json").is_file() and _frames(done.parent) > _frames(published):
      out[rel] = (_frames(done.parent), _frames(published))
  return out


def noted_runs():
  """{run: (frames here, published frames)} of the README's table."""
  text = (STORE / "README.md").read_text()
  assert text.count(BEGIN) == 1 and text.count(END) == 1
  block = text[text.index(BEGIN):text.index(END)]
  rows = re.findall(r"^\| `([^`]+)` \| ([\d,]+) frames \| ([\d,]+) frames \|$", block, flags=re.M)
  return {r: (int(a.replace(",", "")), int(b.replace(",", ""))) for r, a, b in rows}


def test_the_store_readme_names_every_extended_run_and_only_those():
  found = extended_runs()
  assert found, "the store has no run past its published frames: drop the README's table"
  assert noted_runs() == found


def test_every_published_run_is_in_the_store_at_its_frames_or_past_them():
  for done in sorted(REFERENCE.glob("figure*/*/*/seed*/done.json")):
    rel = done.parent.relative_to(REFERENCE).as_posix()
    kept = STORE / "runs" / rel
    assert (kept / "done.json").is_file(), rel
    assert _frames(kept) >= _frames(done.parent), rel
