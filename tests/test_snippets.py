"""The documentation's runnable Python snippets run as written, from the repository root.

A ```python block of README.md, docs/*.md or reports/reference/policies/README.md is runnable
when the line before its opening fence is a marker: `<!-- runs -->` (it must exit 0) or
`<!-- runs quiet -->` (exit 0 with nothing on stderr: no TensorFlow log line, no gym notice).
Unmarked blocks are illustrations (paths of runs a reader trains first). Each runnable block runs
in its own interpreter (this venv's), so it sees exactly what a reader's fresh `python` sees;
those are slow (TensorFlow's start-up and a game: 5-30 s each), the extractor's tests are not.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "reports" / "reference" / "policies" / "README.md"]
MARKER = re.compile(r"^<!-- runs( quiet)? -->\n```python\n(.*?)^```", re.M | re.S)
TIMEOUT_S = 600


def snippets(text: str):
  """[(line number of the fence, quiet, code)] of every marked ```python block of `text`."""
  return [(text.count("\n", 0, m.start()) + 2, bool(m.group(1)), m.group(2))
          for m in MARKER.finditer(text)]


def _all():
  out = []
  for doc in DOCS:
    for line, quiet, code in snippets(doc.read_text()):
      out.append(pytest.param(doc, line, quiet, code, id=f"{doc.relative_to(ROOT)}:{line}"))
  return out


SNIPPETS = _all()


def test_the_extractor_takes_marked_python_blocks_only():
  text = ("# t\n<!-- runs -->\n```python\nprint(1)\n```\n\n```python\nprint(2)\n```\n"
          "<!-- runs quiet -->\n```python\nx = 3\nprint(x)\n```\n<!-- runs -->\n```bash\nls\n```\n")
  assert snippets(text) == [(3, False, "print(1)\n"), (11, True, "x = 3\nprint(x)\n")]


def test_the_loading_snippets_are_marked_to_run():
  marked = {p.values[0].relative_to(ROOT).as_posix() for p in SNIPPETS}
  assert {"docs/outputs.md", "reports/reference/policies/README.md"} <= marked, marked


@pytest.mark.slow
@pytest.mark.parametrize("doc, line, quiet, code", SNIPPETS)
def test_a_marked_snippet_runs_from_the_repository_root(doc, line, quiet, code):
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}   # as a fresh shell
  done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=TIMEOUT_S)
  where = f"{doc.relative_to(ROOT)}, the block at line {line}"
  assert done.returncode == 0, f"{where} exited {done.returncode}:\n{done.stderr[-3000:]}"
  assert done.stdout.strip(), f"{where} printed nothing"
  if quiet:
    assert done.stderr == "", f"{where} is marked quiet but wrote to stderr:\n{done.stderr[-3000:]}"
