"""requirements.txt installs where the stack has wheels: pip resolves it for Linux x86_64, Linux
aarch64 and macOS arm64 (Python 3.11, CPython) with `--dry-run --platform --only-binary=:all:`,
and a failure names the package without a wheel.

pip evaluates environment markers for the interpreter it runs on, not for `--platform`, so each
target's requirement lines are selected here with `packaging.markers` first. The two pure-Python
packages that PyPI has only as source (gym 0.23.0, which tf-agents needs, and rliable 1.2.0) are
built into wheels once and offered through `--find-links`; the test checks that they are pure
(py3-none-any), i.e. need no compiler on any platform. Needs the package index (PyPI)."""
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PY = dict(python_version="3.11", python_full_version="3.11.7", implementation_name="cpython",
          platform_python_implementation="CPython")
TARGETS = {
    "linux-x86_64": (["manylinux2014_x86_64", "manylinux_2_28_x86_64"],
                     dict(sys_platform="linux", platform_system="Linux", platform_machine="x86_64",
                          os_name="posix")),
    "linux-aarch64": (["manylinux2014_aarch64", "manylinux_2_28_aarch64"],
                      dict(sys_platform="linux", platform_system="Linux",
                           platform_machine="aarch64", os_name="posix")),
    "macos-arm64": (["macosx_14_0_arm64"],          # pip also accepts the older macOS tags (11-13)
                    dict(sys_platform="darwin", platform_system="Darwin", platform_machine="arm64",
                         os_name="posix")),
}
PURE_SOURCE_ONLY = ("gym", "rliable")


def target_requirements(target_env) -> list:
  """requirements.txt's requirement lines whose markers hold on the target, markers dropped."""
  env = dict(default_environment(), **PY, **target_env)
  out = []
  for line in (ROOT / "requirements.txt").read_text().splitlines():
    line = line.split("#")[0].strip()
    if line:
      req = Requirement(line)
      if req.marker is None or req.marker.evaluate(env):
        out.append(f"{req.name}{req.specifier}")
  return out


def test_markers_pick_one_tensorflow_build_per_platform():
  tf = {name: [r for r in target_requirements(env) if re.match(r"tensorflow(-cpu)?==", r)]
        for name, (_, env) in TARGETS.items()}
  assert tf == {"linux-x86_64": ["tensorflow-cpu==2.15.1"], "linux-aarch64": ["tensorflow==2.15.1"],
                "macos-arm64": ["tensorflow==2.15.1"]}
  win = dict(sys_platform="win32", platform_system="Windows", platform_machine="AMD64",
             os_name="nt")
  assert [r for r in target_requirements(win)
          if r.startswith("tensorflow")][0] == "tensorflow-cpu==2.15.1"


@pytest.fixture(scope="module")
def pure_wheels(tmp_path_factory):
  wheels = tmp_path_factory.mktemp("wheels")
  pins = [f"{p}=={importlib.metadata.version(p)}" for p in PURE_SOURCE_ONLY]
  done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
                         str(wheels), *pins],
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  built = sorted(p.name for p in wheels.glob("*.whl"))
  assert len(built) == len(pins) and all(n.endswith("-py3-none-any.whl") for n in built), built
  return wheels


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_requirements_resolve_with_binary_wheels(target, pure_wheels, tmp_path):
  platforms, env = TARGETS[target]
  reqs = tmp_path / "requirements.txt"
  reqs.write_text("\n".join(target_requirements(env)) + "\n")
  cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
         "--find-links", str(pure_wheels), "-r", str(reqs)]
  for p in platforms:
    cmd += ["--platform", p]
  done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
  missing = re.findall(r"No matching distribution found for (\S+)", done.stderr)
  assert done.returncode == 0, (f"{target}: no wheel for {', '.join(missing) or '?'}:\n"
                                + "\n".join(line for line in done.stderr.splitlines()
                                            if "is ignored" not in line)[-3000:])


def test_without_python_311_the_setup_says_what_to_install(tmp_path):
  # a PATH whose python3 is not 3.11 and no py launcher or uv: exit 2 before anything is created
  import os
  import shutil
  bin_dir, repo = tmp_path / "bin", tmp_path / "repo"
  bin_dir.mkdir()
  (repo / "scripts").mkdir(parents=True)
  for tool in ("cat", "rm"):
    (bin_dir / tool).symlink_to(shutil.which(tool))
  fake = bin_dir / "python3"
  fake.write_text("#!/bin/sh\nexit 1\n")         # answers "no" to the 3.11 check, like a 3.10
  fake.chmod(0o755)
  for f in ("requirements.txt", "pyproject.toml", "scripts/ensure_venv.sh"):
    shutil.copy(ROOT / f, repo / f)
  done = subprocess.run(["/bin/bash", "-c", "source scripts/ensure_venv.sh"], cwd=repo,
                        env={"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/")},
                        capture_output=True, text=True, timeout=60)
  assert done.returncode == 2, done.stderr
  assert "Python 3.11 is required" in done.stderr and "uv python install 3.11" in done.stderr
  assert not (repo / ".venv").exists()
