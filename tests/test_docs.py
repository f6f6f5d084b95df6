"""The documentation's tables that restate code are kept equal to the code, README.md stays a front
page, and every relative link in README.md and docs/*.md points to a file that exists. Fast: no
training, no TensorFlow work.

- docs/outputs.md's progress.csv table is `artifact.training.progress.SCHEMA`, row for row;
- the scales tables (README.md and docs/protocol.md section 7) state each scale's budgets,
  evaluations, games and game cap as `artifact.experiment.scales.SCALES` / `FIGURES` /
  `artifact.experiment.schedule` do;
- README.md's conditions table lists every condition of `artifact.experiment.registry.FIGURES`, and
  no other, with its agent class (`artifact.training.trainer.AGENT_CLASSES`);
- README.md is under 12,000 bytes.
"""
import re
from pathlib import Path

import pytest

from artifact.experiment import schedule
from artifact.experiment.registry import FIGURES
from artifact.experiment.scales import SCALES
from artifact.training.progress import COLUMNS, SCHEMA
from artifact.training.trainer import agent_class

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PROTOCOL = ROOT / "docs" / "protocol.md"
OUTPUTS = ROOT / "docs" / "outputs.md"
DOC_FILES = [README] + sorted((ROOT / "docs").glob("*.md"))
README_MAX_BYTES = 12_000

SCHEMA_BEGIN = ("<!-- progress-schema: generated from artifact/training/progress.py SCHEMA, "
                "checked by tests/test_docs.py -->")
SCHEMA_END = "<!-- /progress-schema -->"


# --- markdown helpers -----------------------------------------------------------------------------
def _without_code_blocks(text: str) -> str:
  return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def _section(text: str, heading: str) -> str:
  """The text under the first heading that starts with `heading` (e.g. "## 7. Scales"), up to the
  next heading of the same or a higher level."""
  level = len(heading) - len(heading.lstrip("#"))
  m = re.search(r"^" + re.escape(heading) + r".*$", text, flags=re.M)
  assert m, f"no heading starting with {heading!r}"
  rest = text[m.end():]
  end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.M)
  return rest[:end.start()] if end else rest


def _cells(line: str):
  """The cells of a markdown table row (`\\|` inside a cell is not a separator)."""
  return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _tables(text: str):
  """Every table in `text` as (header cells, [row cells]), separator line dropped."""
  tables, block = [], []
  for line in _without_code_blocks(text).splitlines() + [""]:
    if line.lstrip().startswith("|"):
      block.append(line)
      continue
    if len(block) >= 2:
      tables.append((_cells(block[0]), [_cells(row) for row in block[2:]]))
    block = []
  return tables


def _table(text: str, first_header: str):
  found = [t for t in _tables(text) if t[0] and t[0][0] == first_header]
  assert len(found) == 1, (f"expected one table whose first column is {first_header!r}, "
                           f"found {len(found)}")
  return found[0]


def _column(header, starts_with: str) -> int:
  idx = [i for i, h in enumerate(header) if h.startswith(starts_with)]
  assert len(idx) == 1, f"expected one column starting with {starts_with!r} in {header}"
  return idx[0]


# --- (a) progress.csv schema ----------------------------------------------------------------------
def schema_table() -> str:
  """docs/outputs.md's progress.csv table from SCHEMA (paste it there if this test fails)."""
  lines = [SCHEMA_BEGIN, "| column | meaning |", "|---|---|"]
  lines += [f"| `{column}` | {meaning} |" for column, meaning in SCHEMA]
  return "\n".join(lines + [SCHEMA_END])


def test_outputs_doc_states_the_progress_schema():
  text = OUTPUTS.read_text()
  assert text.count(SCHEMA_BEGIN) == 1 and text.count(SCHEMA_END) == 1, \
      (f"docs/outputs.md must hold the progress.csv table once, between {SCHEMA_BEGIN} and "
       f"{SCHEMA_END}")
  start = text.index(SCHEMA_BEGIN)
  block = text[start:text.index(SCHEMA_END, start) + len(SCHEMA_END)]
  header, rows = _table(block, "column")
  assert [r[0].strip("`") for r in rows] == COLUMNS, \
      "docs/outputs.md's progress.csv columns != artifact.training.progress.COLUMNS"
  assert block == schema_table(), (
      "docs/outputs.md's progress.csv table != artifact.training.progress.SCHEMA; "
                                   "generated table:\n" + schema_table())


def test_outputs_doc_describes_the_figure_csv_as_the_schema_without_loss_and_entropy():
  from artifact.analysis import curves
  assert curves.LONG_COLUMNS == [c for c in COLUMNS if c not in ("loss", "entropy")]
  assert "the progress schema without loss/entropy" in OUTPUTS.read_text()


# --- (b) scales -----------------------------------------------------------------------------------
def _frames(n: int) -> str:
  """How the docs write a budget: 6,400; 10M; 320M."""
  return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n:,}"


def _budget(scale, family: str) -> int:
  budgets = {scale.frames_for(fig, family) for fig in FIGURES.values()
             if any(c.family == family for c in fig.conditions)}
  assert len(budgets) == 1, f"{scale.name}: the {family} figures have different budgets {budgets}"
  return budgets.pop()


def _evaluations(scale) -> str:
  if scale.paper_schedules:
    return " / ".join(str(len(schedule.fixed_eval_points(_budget(scale, fam))))
                      for fam in ("a2c", "dqn"))
  return str(scale.evals_per_run)


def _check_scales_table(text: str, where: str):
  header, rows = _table(text, "scale")
  assert "(A2C framework / DQN)" in header[_column(header, "frames per run")], where
  budget_col, eval_col = _column(header, "frames per run"), _column(header, "evaluations")
  names = [re.match(r"`(\w+)`", r[0]).group(1) for r in rows]
  assert names == list(SCALES), \
      f"{where}: scales {names} != artifact.experiment.scales.SCALES {list(SCALES)}"
  for name, row in zip(names, rows):
    sc = SCALES[name]
    budgets = f"{_frames(_budget(sc, 'a2c'))} / {_frames(_budget(sc, 'dqn'))}"
    assert row[budget_col] == budgets, \
        f"{where}, {name}: budgets {row[budget_col]!r} != {budgets!r} (artifact.experiment.scales)"
    evals = _evaluations(sc)
    assert re.search(r"(?<![\d,.])" + re.escape(evals) + r"(?!\d|[,.]\d)", row[eval_col]), \
        f"{where}, {name}: evaluations {row[eval_col]!r} do not say {evals!r}"
    line = " | ".join(row)
    for part in (f"{sc.eval_games} games", f"{sc.eval_max_frames:,} frames"):
      assert part in line, \
          f"{where}, {name}: the row does not say {part!r} (artifact.experiment.scales.SCALES)"


def _distinct_runs() -> int:
  return sum(len(f.games) * len(f.seeds) * sum(c.same_run_as is None for c in f.conditions)
             for f in FIGURES.values())


def test_readme_scales_table_matches_the_specs():
  text = README.read_text()
  _check_scales_table(_section(text, "## Scales"), "README.md")
  runs, listed = _distinct_runs(), sum(len(f.games) * len(f.seeds) * len(f.conditions)
                                       for f in FIGURES.values())
  assert f"{runs} runs" in text and f"not {listed}" in text, \
      (f"README.md should say the grid is {runs} runs, not {listed} "
       "(artifact.experiment.registry.FIGURES)")


def test_protocol_scales_table_matches_the_specs():
  _check_scales_table(_section(PROTOCOL.read_text(), "## 7. Scales"), "docs/protocol.md section 7")


# --- (c) conditions -------------------------------------------------------------------------------
def _expand(name: str):
  """`soft_dqn_kl_{0.1,0.01}` -> soft_dqn_kl_0.1, soft_dqn_kl_0.01."""
  m = re.fullmatch(r"(.*)\{([^}]*)\}(.*)", name)
  return [name] if not m else [m.group(1) + v.strip() + m.group(3) for v in m.group(2).split(",")]


def test_readme_conditions_table_lists_every_condition_once():
  header, rows = _table(_section(README.read_text(), "## Conditions"), "figure")
  cond_col, class_col = _column(header, "condition"), _column(header, "class")
  listed = [(int(r[0]), name, r[class_col].strip("`")) for r in rows
            for name in _expand(r[cond_col].strip("`"))]
  classes = {c.name: agent_class(c) for f in FIGURES.values() for c in f.conditions}
  expected = [(f.number, c.name, f"{classes[c.name].__module__}.{classes[c.name].__name__}")
              for f in FIGURES.values() for c in f.conditions]
  assert len(listed) == len(set(listed)), f"README.md lists a condition twice: {listed}"
  assert sorted((f, n) for f, n, _ in listed) == sorted((f, n) for f, n, _ in expected), \
      "README.md's conditions table != artifact.experiment.registry.FIGURES"
  assert sorted(listed) == sorted(expected), \
      "README.md's conditions table names other agent classes than the registry"


# --- (d) size -------------------------------------------------------------------------------------
def test_readme_is_a_front_page():
  size = len(README.read_bytes())
  assert size < README_MAX_BYTES, \
      f"README.md is {size:,} bytes; keep it under {README_MAX_BYTES:,} (detail goes to docs/)"


# --- (e) links ------------------------------------------------------------------------------------
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(doc):
  broken = []
  for target in LINK.findall(_without_code_blocks(doc.read_text())):
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("#"):
      continue                                  # a URL (https:, mailto:) or an anchor in the file
    path = target.split("#", 1)[0].split("?", 1)[0]
    if not (doc.parent / path).exists():
      broken.append(target)
  assert not broken, f"{doc.relative_to(ROOT)}: relative links to missing files: {broken}"


# --- (f) the reference's verdicts and summary -----------------------------------------------------
REFERENCE = ROOT / "reports" / "reference"


def _g(x: float) -> str:
  return f"{x:.3g}"


def test_readme_verdicts_table_states_the_reference_claims():
  """README.md's verdicts table says what reports/reference/reports/claims.csv does: each claim's
  verdict (with the rule's own where they differ), point [CI] and wrong-verdict rates, formatted
  as claims.md formats them."""
  import pandas as pd
  claims = pd.read_csv(REFERENCE / "reports" / "claims.csv")
  header, rows = _table(_section(README.read_text(), "## Verdicts"), "claim (paper Sec. 6)")
  verdict_col, stat_col = _column(header, "verdict"), _column(header, "statistic")
  rate_col = _column(header, "worst-case wrong-verdict rate")
  listed = {r[0].split(":")[0]: r for r in rows}
  assert list(listed) == list(claims.claim), f"README.md's verdicts table: {list(listed)}"
  for _, c in claims.iterrows():
    row = listed[c.claim]
    alone = "" if c.rule_verdict == c.verdict else f" (the rule alone: {c.rule_verdict})"
    said = c.verdict + alone
    assert row[verdict_col] == said, f"{c.claim}: {row[verdict_col]!r} != {said!r} (claims.csv)"
    interval = f"{_g(c.point)} [{_g(c.ci_low)}, {_g(c.ci_high)}]"
    assert interval in row[stat_col], f"{c.claim}: the statistic does not say {interval!r}"
    if c.ci_low == c.ci_high:
      assert "complete separation" in row[stat_col], f"{c.claim}: a zero-width CI without why"
    if c.rule_verdict in ("supported", "contradicted"):
      rates = [f"{_g(c.error_rate)} (of '{c.rule_verdict}')"]
    elif pd.isna(c.rate_supported):
      rates = ["not measured"]
    else:
      rates = [f"supported {_g(c.rate_supported)}", f"contradicted {_g(c.rate_contradicted)}"]
    for r in rates:
      assert r in row[rate_col], f"{c.claim}: the rate cell does not say {r!r} (claims.csv)"


def test_the_reference_summary_is_what_its_generator_writes():
  """reports/reference/SUMMARY.md is scripts/assemble_reference.py's `summary` of the reference
  reports as they are (`--summary-only` rewrites it)."""
  import importlib.util
  spec = importlib.util.spec_from_file_location("assemble_reference",
                                                ROOT / "scripts" / "assemble_reference.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  assert (REFERENCE / "SUMMARY.md").read_text() == module.summary(REFERENCE), \
      ("reports/reference/SUMMARY.md is stale: rewrite it with "
       ".venv/bin/python scripts/assemble_reference.py --summary-only")
