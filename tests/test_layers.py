"""Layers import one way: envs -> agents -> artifact. Nothing in `envs/` imports `agents` or
`artifact`, nothing in `agents/` imports `artifact`, and the modules of `artifact/` form no import
cycle (imports inside functions included: a lazy import is still a dependency)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("envs", "agents", "artifact")


def _imports(path: Path):
  """Every project module a file imports (module-level or inside functions), as dotted names."""
  tree = ast.parse(path.read_text(), str(path))
  package = path.parent.name
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      out |= {a.name for a in node.names}
    elif isinstance(node, ast.ImportFrom):
      if node.level:                                   # relative: from . import x
        base = package
        out |= {f"{base}.{a.name}" for a in node.names} if not node.module else {f"{base}.{node.module}"}
      elif node.module in PACKAGES:                    # from artifact import runner
        out |= {f"{node.module}.{a.name}" for a in node.names}
      elif node.module:
        out.add(node.module)
  return {m for m in out if m.split(".")[0] in PACKAGES}


def _modules(package: str):
  return {f"{package}.{p.stem}": p for p in sorted((ROOT / package).glob("*.py"))}


def test_envs_and_agents_do_not_import_upper_layers():
  allowed = {"envs": {"envs"}, "agents": {"envs", "agents"}}
  bad = []
  for package, ok in allowed.items():
    for name, path in _modules(package).items():
      bad += [f"{name} imports {m}" for m in _imports(path) if m.split(".")[0] not in ok]
  assert not bad, bad


def test_artifact_modules_form_no_import_cycle():
  modules = _modules("artifact")
  graph = {}
  for name, path in modules.items():
    deps = set()
    for m in _imports(path):
      parts = m.split(".")
      if parts[0] == "artifact" and len(parts) > 1 and f"artifact.{parts[1]}" in modules:
        deps.add(f"artifact.{parts[1]}")
    graph[name] = deps - {name, "artifact.__init__"}
  cycles, state = [], {}

  def visit(node, stack):
    state[node] = "open"
    for dep in sorted(graph[node]):
      if state.get(dep) == "open":
        cycles.append(stack[stack.index(dep):] + [dep])
      elif dep not in state:
        visit(dep, stack + [dep])
    state[node] = "done"
  for node in sorted(graph):
    if node not in state:
      visit(node, [node])
  assert not cycles, [" -> ".join(c) for c in cycles]


def test_the_checker_sees_a_planted_cycle_and_an_upward_import(tmp_path):
  (tmp_path / "envs").mkdir()
  bad = tmp_path / "envs" / "x.py"
  bad.write_text("def f():\n  from artifact import runner\n")
  assert _imports(bad) == {"artifact.runner"}
