"""The CPU facts recorded with runs and benchmarks (`artifact.training.machine`), read from faked
/proc/cpuinfo files; the refusal of bfloat16 on a CPU without native bfloat16 (exit 2 before
any work, unless --force-bfloat16); the kernel path (oneDNN on or off) a run records, keeps when
it continues, and that the grid reapplies before TensorFlow loads; the TensorFlow thread counts a
run records and keeps when it continues."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from artifact.experiment.runspec import config_matches, make_run_spec
from artifact.grid import cli
from artifact.grid.planning import UsageError
from artifact.training import machine

ZEN2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu vme sse sse2 avx avx2 fma bmi2

processor\t: 1
model name\t: AMD EPYC 7B12
flags\t\t: fpu vme sse sse2 avx avx2 fma bmi2
"""
SAPPHIRE_RAPIDS = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8481C
flags\t\t: fpu avx avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8
"""
ICE_LAKE = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz
flags\t\t: fpu avx avx2 avx512f avx512bw avx512vl
"""
GRAVITON = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm bf16
"""

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cpu(tmp_path, monkeypatch):
  def fake(text):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    monkeypatch.setattr(machine, "CPUINFO", path)
  return fake


@pytest.mark.parametrize("text,isa,bf16", [
    (ZEN2, dict(avx2=True, avx512f=False, avx512_bf16=False, amx=False), False),
    (ICE_LAKE, dict(avx2=True, avx512f=True, avx512_bf16=False, amx=False), False),
    (SAPPHIRE_RAPIDS, dict(avx2=True, avx512f=True, avx512_bf16=True, amx=True), True),
    (GRAVITON, dict(avx2=False, avx512f=False, avx512_bf16=False, amx=False), False)])
def test_instruction_sets_from_cpuinfo(cpu, text, isa, bf16):
  cpu(text)
  facts = machine.cpu_facts()
  assert {k: facts["isa"][k] for k in isa} == isa
  assert machine.native_bfloat16(facts) is bf16
  assert facts["cpu"] == (text.split("model name\t: ")[1].split("\n")[0] if "model name" in text
                          else facts["cpu"])


def test_kind_names_the_best_instruction_set_and_onednn(cpu, monkeypatch):
  # the variable, not TF's answer
  monkeypatch.delitem(machine.sys.modules, "tensorflow", raising=False)
  cpu(ZEN2)
  monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
  assert machine.kind(machine.cpu_facts()) == "AMD EPYC 7B12 (avx2; oneDNN off)"
  cpu(SAPPHIRE_RAPIDS)
  monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
  assert (machine.kind(machine.cpu_facts())
          == "Intel(R) Xeon(R) Platinum 8481C (avx512+bf16; oneDNN on)")


def test_onednn_default_follows_the_cpu_features(cpu, monkeypatch):
  monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
  monkeypatch.setattr(machine.platform, "machine", lambda: "x86_64")
  monkeypatch.delitem(machine.sys.modules, "tensorflow", raising=False)   # before TF is imported
  cpu(ZEN2)
  assert machine.cpu_facts()["onednn"] is False
  cpu(SAPPHIRE_RAPIDS)
  assert machine.cpu_facts()["onednn"] is True


@pytest.mark.parametrize("setting", [None, "0", "1"])
def test_onednn_fact_is_what_tensorflow_reports(setting):
  env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
  if setting is not None:
    env["TF_ENABLE_ONEDNN_OPTS"] = setting
  code = ("import sys, tensorflow\nfrom tensorflow.python.util import _pywrap_util_port\n"
          "from artifact.training import machine\n"
          "tf_says = bool(_pywrap_util_port.IsMklEnabled())\n"
          "sys.modules.pop('tensorflow')\n"                   # the rule, not TensorFlow's answer
          "print(tf_says, machine.cpu_facts()['onednn'])")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                       text=True, check=True).stdout.split()
  assert out[0] == out[1], (f"TF_ENABLE_ONEDNN_OPTS={setting}: TensorFlow says {out[0]}, "
                            f"cpu_facts {out[1]}")


BF16 = ["--scale", "smoke", "--figures", "1", "--games", "Pong", "--seeds", "0", "--conditions",
        "a2c_1step", "--set", "precision=bfloat16", "--list"]


def test_bfloat16_is_refused_on_a_cpu_without_it_before_any_work(cpu, tmp_path, capsys):
  cpu(ZEN2)
  out = tmp_path / "out"
  with pytest.raises(UsageError) as e:
    cli.main(BF16 + ["--out", str(out)])
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert "precision=bfloat16" in err and "AMD EPYC 7B12" in err
  assert "3.9x" in err and "--force-bfloat16" in err
  assert not out.exists()                                   # nothing written
  assert cli.main(BF16 + ["--out", str(out), "--force-bfloat16"]) == 0


def test_bfloat16_runs_where_the_cpu_has_it_and_float32_everywhere(cpu, tmp_path):
  cpu(SAPPHIRE_RAPIDS)
  assert cli.main(BF16 + ["--out", str(tmp_path / "a")]) == 0
  cpu(ZEN2)
  assert cli.main([a for a in BF16 if a not in ("--set", "precision=bfloat16")]
                  + ["--out", str(tmp_path / "b")]) == 0


def test_the_machine_record_is_not_part_of_a_runs_identity(cpu, tmp_path):
  # a run resumed or extended on another CPU kind is the same run; config.json names the CPU
  cpu(ZEN2)
  from artifact.training.runner import Run
  spec = make_run_spec(1, "Pong", "a2c_1step", 0, "smoke")
  Run(spec, tmp_path / "run").prepare()
  cfg = json.loads((tmp_path / "run" / "config.json").read_text())
  assert cfg["machine"]["cpu"] == "AMD EPYC 7B12" and cfg["machine"]["isa"]["avx2"] is True
  cfg["machine"] = {"cpu": "another", "isa": {}}
  assert config_matches(cfg, spec)


@pytest.mark.parametrize("text,arch,chosen", [
    (ZEN2, "x86_64", True), (ICE_LAKE, "x86_64", True), (SAPPHIRE_RAPIDS, "x86_64", True),
    (GRAVITON, "aarch64", None)])
def test_new_runs_take_onednn_wherever_the_cpu_has_avx2(cpu, monkeypatch, text, arch, chosen):
  monkeypatch.setattr(machine.platform, "machine", lambda: arch)
  cpu(text)
  assert machine.project_onednn() is chosen


@pytest.mark.parametrize("text,why", [
    (ZEN2, "the project's setting for CPUs with AVX2; TensorFlow's default here is off"),
    (SAPPHIRE_RAPIDS, "the project's setting for CPUs with AVX2, and TensorFlow's default here")])
def test_the_grid_says_whether_new_runs_path_is_tensorflows_default(
    cpu, monkeypatch, tmp_path, text, why):
  from artifact.grid.planning import kernel_path
  monkeypatch.setattr(machine.platform, "machine", lambda: "x86_64")
  monkeypatch.setattr(machine, "loaded_onednn", lambda: None)   # as in a new ./run_all.sh process
  monkeypatch.delenv(machine.ONEDNN_ENV, raising=False)
  cpu(text)
  path = kernel_path([make_run_spec(1, "Pong", "a2c_1step", 0, "smoke", 640)], tmp_path / "out")
  assert path.onednn is True and path.why == why


def _prepared(tmp_path, seed=0, onednn=None, threads=True):
  """A run directory prepared by the runner (its config.json, no training), optionally with its
  recorded kernel path replaced (None: the record left out, as the campaign's frozen code, tag
  campaign-1, writes config.json); `threads=False` leaves out its TensorFlow thread counts (this
  test process's, which a grid's worker need not share) as that code does too."""
  from artifact.training.runner import Run
  spec = make_run_spec(1, "Pong", "a2c_1step", seed, "smoke", 640)
  run_dir = tmp_path / "out" / "runs" / spec.relpath()
  Run(spec, run_dir).prepare()
  cfg = json.loads((run_dir / "config.json").read_text())
  assert cfg["onednn"] is machine.onednn_on()               # the path this process runs
  if onednn is None:
    del cfg["onednn"]
  else:
    cfg["onednn"] = onednn
  if not threads:
    del cfg["tf_threads"]
  (run_dir / "config.json").write_text(json.dumps(cfg))
  return spec, run_dir


def test_a_run_is_not_continued_on_another_kernel_path(tmp_path):
  from artifact.training.runner import KernelPathError, Run
  here = machine.onednn_on()
  spec, run_dir = _prepared(tmp_path, onednn=not here)
  before = (run_dir / "config.json").read_text()
  with pytest.raises(KernelPathError, match=f"TF_ENABLE_ONEDNN_OPTS={int(not here)}"):
    Run(spec, run_dir).prepare()
  assert (run_dir / "config.json").read_text() == before    # nothing lost
  # no record (as campaign-1 writes config.json): continued, and recorded
  spec, run_dir = _prepared(tmp_path, seed=1, onednn=None)
  Run(spec, run_dir).prepare()
  assert json.loads((run_dir / "config.json").read_text())["onednn"] is here


def test_a_run_is_not_continued_with_other_tensorflow_thread_counts(tmp_path):
  from artifact.training.runner import Run, ThreadCountError
  spec, run_dir = _prepared(tmp_path)
  cfg = json.loads((run_dir / "config.json").read_text())
  here = machine.tf_threads()
  assert cfg["tf_threads"] == here                      # recorded as this process runs
  other = {k: v + 3 for k, v in here.items()}
  cfg["tf_threads"] = other
  (run_dir / "config.json").write_text(json.dumps(cfg))
  before = (run_dir / "config.json").read_text()
  with pytest.raises(ThreadCountError, match=(
      f"{other['intra_op']} intra-op / {other['inter_op']} inter-op threads and this process has "
      f"{here['intra_op']} intra-op / {here['inter_op']} inter-op.*--cpus-per-run "
      f"{other['intra_op']}")):
    Run(spec, run_dir).prepare()
  assert (run_dir / "config.json").read_text() == before    # nothing lost
  # no record (as campaign-1 writes config.json): continued, and recorded
  del cfg["tf_threads"]
  (run_dir / "config.json").write_text(json.dumps(cfg))
  Run(spec, run_dir).prepare()
  assert json.loads((run_dir / "config.json").read_text())["tf_threads"] == here


LIST = ["--scale", "smoke", "--figures", "1", "--games", "Pong", "--conditions", "a2c_1step",
        "--list"]


def test_runs_recorded_on_both_kernel_paths_are_refused_together(tmp_path, capsys):
  _prepared(tmp_path, seed=0, onednn=True)
  _prepared(tmp_path, seed=1, onednn=False)
  with pytest.raises(UsageError) as e:
    cli.main(LIST + ["--seeds", "0,1", "--out", str(tmp_path / "out")])
  err = capsys.readouterr().err
  assert e.value.code == 2 and "two TensorFlow kernel paths" in err
  assert "on (figure1/Pong/a2c_1step/seed0)" in err and "off (figure1/Pong/a2c_1step/seed1)" in err
  # one path's runs alone go (the one this process loaded TensorFlow with)
  assert cli.main(LIST + ["--seeds", "0" if machine.onednn_on() else "1", "--out",
                          str(tmp_path / "out")]) == 0


def test_a_kernel_path_asked_for_against_a_runs_record_is_refused(tmp_path, capsys, monkeypatch):
  _prepared(tmp_path, seed=0, onednn=False)
  monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
  with pytest.raises(UsageError) as e:
    cli.main(LIST + ["--seeds", "0", "--out", str(tmp_path / "out")])
  err = capsys.readouterr().err
  assert e.value.code == 2
  assert "TF_ENABLE_ONEDNN_OPTS=1" in err and "figure1/Pong/a2c_1step/seed0" in err
  assert "bit for bit" in err


def _grid(out, *extra, env_onednn=None, list_only=False):
  """The command line in a fresh process (TensorFlow not loaded before the grid): its output."""
  env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
  if env_onednn is not None:
    env["TF_ENABLE_ONEDNN_OPTS"] = env_onednn
  argv = [sys.executable, "-m", "artifact", "--scale", "smoke", "--figures", "1", "--games", "Pong",
          "--conditions", "a2c_1step", "--seeds", "0", "--frames", "640", "--no-theory",
          "--jobs", "2", "--out", str(out), *extra] + (["--list"] if list_only else [])
  proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return proc.stdout


@pytest.mark.slow
def test_the_grid_reapplies_a_runs_kernel_path_and_new_runs_take_the_projects(tmp_path):
  # a run recorded with oneDNN off (started, not finished: config.json without done.json) is
  # continued with it off, in the worker process too, with the variable unset
  _prepared(tmp_path, onednn=False, threads=False)
  listed = _grid(tmp_path / "out", list_only=True)
  assert "TensorFlow oneDNN off (as the 1 run(s) it continues trained)" in listed
  _grid(tmp_path / "out")
  cfg = json.loads((tmp_path / "out" / "runs" / "figure1/Pong/a2c_1step/seed0"
                    / "config.json").read_text())
  # the worker's TensorFlow says so
  assert cfg["onednn"] is False and cfg["machine"]["onednn"] is False
  # a new run: the project's choice for this CPU (on with AVX2), or TensorFlow's default elsewhere
  _grid(tmp_path / "new")
  cfg = json.loads((tmp_path / "new" / "runs" / "figure1/Pong/a2c_1step/seed0"
                    / "config.json").read_text())
  chosen = machine.project_onednn()
  assert cfg["onednn"] is (chosen if chosen is not None else cfg["machine"]["onednn"])
  assert cfg["machine"]["onednn"] is cfg["onednn"]
