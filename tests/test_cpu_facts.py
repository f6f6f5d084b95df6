"""The CPU facts recorded with runs and benchmarks (`artifact.training.machine`), read from faked
/proc/cpuinfo files, and the refusal of bfloat16 on a CPU without native bfloat16 (exit 2 before
any work, unless --force-bfloat16)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from artifact.grid import cli
from artifact.training import machine
from artifact.grid.planning import UsageError
from artifact.experiment.runspec import config_matches, make_run_spec

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
  assert facts["cpu"] == (text.split("model name\t: ")[1].split("\n")[0] if "model name" in text else facts["cpu"])


def test_kind_names_the_best_instruction_set_and_onednn(cpu, monkeypatch):
  cpu(ZEN2)
  monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
  assert machine.kind(machine.cpu_facts()) == "AMD EPYC 7B12 (avx2; oneDNN off)"
  cpu(SAPPHIRE_RAPIDS)
  monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
  assert machine.kind(machine.cpu_facts()) == "Intel(R) Xeon(R) Platinum 8481C (avx512+bf16; oneDNN on)"


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
  assert out[0] == out[1], f"TF_ENABLE_ONEDNN_OPTS={setting}: TensorFlow says {out[0]}, cpu_facts {out[1]}"


BF16 = ["--scale", "smoke", "--figures", "1", "--games", "Pong", "--seeds", "0", "--conditions",
        "a2c_1step", "--set", "precision=bfloat16", "--list"]


def test_bfloat16_is_refused_on_a_cpu_without_it_before_any_work(cpu, tmp_path, capsys):
  cpu(ZEN2)
  out = tmp_path / "out"
  with pytest.raises(UsageError) as e:
    cli.main(BF16 + ["--out", str(out)])
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert "precision=bfloat16" in err and "AMD EPYC 7B12" in err and "3.9x" in err and "--force-bfloat16" in err
  assert not out.exists()                                   # nothing written
  assert cli.main(BF16 + ["--out", str(out), "--force-bfloat16"]) == 0


def test_bfloat16_runs_where_the_cpu_has_it_and_float32_everywhere(cpu, tmp_path):
  cpu(SAPPHIRE_RAPIDS)
  assert cli.main(BF16 + ["--out", str(tmp_path / "a")]) == 0
  cpu(ZEN2)
  assert cli.main([a for a in BF16 if a not in ("--set", "precision=bfloat16")] + ["--out", str(tmp_path / "b")]) == 0


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
