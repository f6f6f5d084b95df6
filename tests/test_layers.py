"""Layers import one way: envs -> agents -> artifact, and inside artifact its five subpackages
experiment -> training -> analysis -> watch -> grid (docs/code.md; `watch`, pg-softq-play, needs
no grid). Nothing
in `envs/` imports `agents` or `artifact`, nothing in `agents/` imports `artifact`; a module of
an artifact subpackage imports only its own subpackage, lower ones and the three shared modules
(`artifact.files`, `artifact.quiet`, `artifact.usage`); no module sits in `artifact/` outside the
subpackages but those three and `__main__`; the modules form no import cycle (imports inside
functions included: a lazy import is still a dependency); and `experiment` loads no TensorFlow."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("envs", "agents", "artifact")
LAYERS = ("experiment", "training", "analysis", "watch", "grid")      # lowest first
SHARED = {"artifact.files", "artifact.quiet", "artifact.usage"}
TOP_LEVEL = {"__init__", "__main__", "files", "quiet", "usage"}


def _package_of(path: Path, root: Path = ROOT) -> str:
  return ".".join(path.parent.relative_to(root).parts)


def _imports(path: Path, root: Path = ROOT):
  """Every project module a file imports (module-level or inside functions), as dotted names."""
  tree = ast.parse(path.read_text(), str(path))
  package = _package_of(path, root)
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      out |= {a.name for a in node.names}
    elif isinstance(node, ast.ImportFrom):
      if node.level:                                   # relative: from . import x
        base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
        out |= ({f"{base}.{node.module}"} if node.module
                else {f"{base}.{a.name}" for a in node.names})
      elif node.module and node.module.split(".")[0] in PACKAGES:
        # `from artifact.training import runner` names a module; `from artifact.x import f` a name
        out |= {f"{node.module}.{a.name}" if _is_module(f"{node.module}.{a.name}", root)
                else node.module for a in node.names}
      elif node.module:
        out.add(node.module)
  return {m for m in out if m.split(".")[0] in PACKAGES}


def _is_module(dotted: str, root: Path = ROOT) -> bool:
  path = root.joinpath(*dotted.split("."))
  return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _modules(root: Path = ROOT):
  """{dotted module name: path} of every project module."""
  out = {}
  for package in PACKAGES:
    for p in sorted((root / package).rglob("*.py")):
      out[".".join(p.relative_to(root).with_suffix("").parts)] = p
  return out


def _layer(module: str) -> int:
  parts = module.split(".")
  return LAYERS.index(parts[1]) if len(parts) > 2 and parts[1] in LAYERS else -1


def layer_violations(root: Path = ROOT):
  """Every import that goes against the layers, as 'module imports module' lines."""
  bad = []
  allowed = {"envs": {"envs"}, "agents": {"envs", "agents"}}
  for name, path in _modules(root).items():
    top = name.split(".")[0]
    deps = _imports(path, root)
    if top in allowed:
      bad += [f"{name} imports {m}" for m in deps if m.split(".")[0] not in allowed[top]]
      continue
    if len(name.split(".")) == 2 and name.split(".")[1] not in TOP_LEVEL:
      bad.append(f"{name} lies outside the subpackages")
    mine = _layer(name)
    for m in deps:
      if m.split(".")[0] != "artifact" or m in SHARED or m == "artifact":
        continue
      if name in SHARED and m not in SHARED:
        bad.append(f"{name} (shared) imports {m}")
      elif _layer(m) > mine and not name.endswith("__main__"):
        bad.append(f"{name} imports {m}, a higher layer")
  return bad


def import_cycles(root: Path = ROOT):
  """Every import cycle among the project's modules, as 'a -> b -> a' lines."""
  modules = _modules(root)
  graph = {}
  for name, path in modules.items():
    deps = set()
    for m in _imports(path, root):
      while m and m not in modules and f"{m}.__init__" not in modules:
        m = m.rpartition(".")[0]
      if m in modules:
        deps.add(m)
    graph[name] = deps - {name} - {n for n in modules if n.endswith("__init__")}
  cycles, state = [], {}

  def visit(node, stack):
    state[node] = "open"
    for dep in sorted(graph[node]):
      if state.get(dep) == "open":
        cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
      elif dep not in state:
        visit(dep, stack + [dep])
    state[node] = "done"
  for node in sorted(graph):
    if node not in state:
      visit(node, [node])
  return cycles


def test_imports_follow_the_layers():
  assert not layer_violations(), layer_violations()


def test_modules_form_no_import_cycle():
  assert not import_cycles(), import_cycles()


def test_every_artifact_subpackage_says_what_lives_there():
  for layer in LAYERS:
    doc = ast.get_docstring(ast.parse((ROOT / "artifact" / layer / "__init__.py").read_text()))
    assert doc and len(doc) > 200, f"artifact/{layer}/__init__.py: no paragraph docstring"


def test_watch_is_a_layer_below_the_grid_and_the_grid_keeps_its_command():
  modules = _modules()
  watch = sorted(m for m in modules if m.startswith("artifact.watch."))
  assert {"artifact.watch.cli", "artifact.watch.policies", "artifact.watch.playing",
          "artifact.watch.film"} <= set(watch), watch
  for m in watch:                                   # it needs no grid
    assert not any(d.startswith("artifact.grid") for d in _imports(modules[m])), m
  assert "artifact.grid.play" not in modules                # play lives in artifact.watch only
  # the shared usage errors: one class for both commands
  from artifact.grid import planning
  from artifact.usage import UsageError
  from artifact.watch import policies
  assert planning.UsageError is UsageError
  with pytest.raises(UsageError):
    policies.fail("x")


def test_the_experiment_layer_loads_no_tensorflow():
  code = ("import sys\nimport artifact.experiment.runspec, artifact.experiment.scales\n"
          "print(sorted(m for m in ('tensorflow', 'tf_agents') if m in sys.modules))")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       check=True).stdout.strip()
  assert out == "[]", f"importing artifact.experiment loaded {out}"


def test_the_analysis_layer_loads_tensorflow_only_for_the_theory_report():
  modules = sorted(p.stem for p in (ROOT / "artifact" / "analysis").glob("*.py")
                   if p.stem not in ("__init__", "theory"))
  code = ("import sys\n" + "".join(f"import artifact.analysis.{m}\n" for m in modules)
          + "print(sorted(m for m in ('tensorflow', 'tf_agents') if m in sys.modules))")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       check=True).stdout.strip()
  assert out == "[]", f"importing artifact.analysis ({', '.join(modules)}) loaded {out}"


def test_the_checker_sees_an_upward_import_a_stray_module_and_a_cycle(tmp_path):
  for d in ("envs", "agents", "artifact/experiment", "artifact/grid"):
    (tmp_path / d).mkdir(parents=True)
    (tmp_path / d / "__init__.py").write_text("")
  (tmp_path / "envs" / "x.py").write_text("def f():\n  from artifact.grid import cli\n")
  (tmp_path / "artifact" / "grid" / "cli.py").write_text("from artifact.experiment.a import b\n")
  (tmp_path / "artifact" / "experiment" / "a.py").write_text(
      "from artifact.grid import cli\nb = 1\n")
  (tmp_path / "artifact" / "stray.py").write_text("")
  assert _imports(tmp_path / "envs" / "x.py", tmp_path) == {"artifact.grid.cli"}
  bad = layer_violations(tmp_path)
  assert "envs.x imports artifact.grid.cli" in bad
  assert "artifact.experiment.a imports artifact.grid.cli, a higher layer" in bad
  assert "artifact.stray lies outside the subpackages" in bad
  assert import_cycles(tmp_path) == [
      "artifact.experiment.a -> artifact.grid.cli -> artifact.experiment.a"]


# The classes whose state a reader should see in one place: every attribute they (or their
# subclasses) ever set is set, or declared, in `__init__` (theirs or a base class's).
STATEFUL = ("artifact/training/runner.py", "artifact/training/trainer.py",
            "artifact/training/a2c.py",
            "artifact/training/dqn.py", "artifact/training/checkpoints.py")


def attributes_set_outside_init(paths):
  """'Class.attr (method)' for every `self.attr = ...` outside `__init__` of an attribute that no
  `__init__` of the class or its bases (by name, within `paths`) sets and no class annotation
  declares."""
  classes = {}
  for path in paths:
    for c in (n for n in ast.parse(Path(path).read_text()).body if isinstance(n, ast.ClassDef)):
      init, other = {s.target.id for s in c.body if isinstance(s, ast.AnnAssign)}, {}
      for m in (m for m in c.body if isinstance(m, ast.FunctionDef)):
        for node in ast.walk(m):
          targets = (node.targets if isinstance(node, ast.Assign) else
                     [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
          for e in (e for t in targets for e in ast.walk(t)):
            if isinstance(e, ast.Attribute) and isinstance(e.value,
                                                           ast.Name) and e.value.id == "self":
              (init.add(e.attr) if m.name == "__init__" else other.setdefault(e.attr, m.name))
      classes[c.name] = (init, other, [b.id for b in c.bases if isinstance(b, ast.Name)])
  bad = []
  for name, (init, other, bases) in classes.items():
    declared = init.union(*(classes[b][0] for b in bases if b in classes))
    bad += [f"{name}.{a} ({m})" for a, m in sorted(other.items()) if a not in declared]
  return bad


def test_run_trainer_and_loop_state_is_set_in_init():
  bad = attributes_set_outside_init(ROOT / p for p in STATEFUL)
  assert not bad, bad


def test_the_state_checker_sees_an_attribute_born_outside_init(tmp_path):
  f = tmp_path / "m.py"
  f.write_text("class A:\n  x: int\n  def __init__(self):\n    self.y = 0\n  def go(self):\n"
               "    self.x = self.y = 1\n    self.z = 2\n\n\nclass B(A):\n  def more(self):\n    "
               "self.y = 3\n    self.w = 4\n")
  assert attributes_set_outside_init([f]) == ["A.z (go)", "B.w (more)"]
