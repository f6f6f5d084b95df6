"""Every public definition of the project's packages has a docstring: modules, classes, and the
functions and methods whose names do not start with an underscore (methods that override a
documented method of a base class in the project, or a Keras/tf-agents hook, excepted: their
contract is the base's).
The checker is tested on a planted file."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("envs", "agents", "artifact")
# hooks of third-party bases, documented by the library that declares them (Keras layers and
# models, tf-agents environments and policies)
LIBRARY_HOOKS = {"call", "get_config", "build", "observation_spec", "action_spec", "time_step_spec",
                 "batch_size", "batched", "close", "render", "seed"}


def _documented_methods(trees):
  """{class name: {method names with a docstring}} over the project's classes (and their bases
  within the project, resolved by name)."""
  classes = {}
  for tree in trees:
    for node in ast.walk(tree):
      if isinstance(node, ast.ClassDef):
        classes[node.name] = (node, [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")
                                     for b in node.bases])

  def documented(name, seen=()):
    if name not in classes or name in seen:
      return set()
    node, bases = classes[name]
    own = {c.name for c in node.body if isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef))
           and ast.get_docstring(c)}
    for b in bases:
      own |= documented(b, seen + (name,))
    return own
  return {name: documented(name) for name in classes}, classes


def undocumented(root: Path = ROOT):
  """'path:line name' of every public definition without a docstring."""
  out = []
  paths = [p for package in PACKAGES for p in sorted((root / package).rglob("*.py"))]
  trees = {p: ast.parse(p.read_text(), str(p)) for p in paths}
  documented, classes = _documented_methods(trees.values())

  def inherited(cls, name):          # documented in a base class of the project
    return any(name in documented.get(b, set()) for b in classes[cls][1])
  for path, tree in trees.items():
      rel = path.relative_to(root)
      if not ast.get_docstring(tree) and path.name != "__main__.py":
        out.append(f"{rel}:1 (module)")

      def visit(node, cls, rel=rel):
        for child in ast.iter_child_nodes(node):
          if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            public = not child.name.startswith("_")
            exempt = cls is not None and (child.name in LIBRARY_HOOKS or inherited(cls, child.name))
            if public and not exempt and not ast.get_docstring(child):
              out.append(f"{rel}:{child.lineno} {child.name}")
            if isinstance(child, ast.ClassDef) and public:
              visit(child, child.name)
      visit(tree, None)
  return out


def test_every_public_definition_has_a_docstring():
  missing = undocumented()
  assert not missing, f"{len(missing)} public definitions without a docstring: {missing}"


def test_the_checker_finds_a_planted_undocumented_definition(tmp_path):
  (tmp_path / "envs").mkdir()
  (tmp_path / "envs" / "x.py").write_text(
      '"""Doc."""\ndef f():\n  """Doc."""\n\n\nclass C:\n  """Doc."""\n  def g(self):\n    pass\n'
      "  def _h(self):\n    pass\n\n\ndef bare():\n  pass\n")
  assert undocumented(tmp_path) == ["envs/x.py:8 g", "envs/x.py:14 bare"]
