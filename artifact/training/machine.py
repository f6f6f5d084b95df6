"""The CPU a run or a benchmark ran on: its model, the instruction sets that decide which kernels
TensorFlow's CPU build runs (AVX2, AVX-512F, AVX512_BF16, AMX), and whether TensorFlow's oneDNN
path is on.

Why it is recorded: the same code on the same seed repeats bit for bit on one CPU kind, not
across kinds (AVX2 and AVX-512 kernels sum in different orders), and speed differs by about 2x
between them (docs/performance.md). bfloat16 is fast only with native bfloat16 instructions
(AVX512_BF16 or AMX); elsewhere oneDNN falls back to emulation ("oneDNN BFloat16 support are only
on platforms with AVX512"), measured 3.9x slower for A2C and 4.2x for DQN than float32 on an AMD
EPYC (Zen 2, AVX2 only), so the command line refuses it there unless asked (`--force-bfloat16`).
"""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Dict, Optional

# /proc/cpuinfo flag -> the name recorded
FLAGS = {"avx2": "avx2", "avx512f": "avx512f", "avx512_bf16": "avx512_bf16", "amx_bf16": "amx_bf16"}
# the slowdown of bfloat16 without native support, as measured (the refusal's message)
BF16_SLOWDOWN = "3.9x slower for A2C and 4.2x for DQN than float32 (measured on an AMD EPYC, Zen 2, AVX2 only)"
CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo(path: Path) -> Dict[str, str]:
  """The first processor's `key: value` lines of /proc/cpuinfo ({} where there is none)."""
  try:
    text = path.read_text()
  except OSError:
    return {}
  out: Dict[str, str] = {}
  for line in text.splitlines():
    if not line.strip():
      if out:
        break
      continue
    key, _, value = line.partition(":")
    out.setdefault(key.strip(), value.strip())
  return out


# The CPU features for which TensorFlow 2.15's x86-64 builds turn oneDNN on by default (TF RFC
# 400, "Enabling oneDNN operations for x86 CPUs"); elsewhere (AVX2 only, plain AVX-512F) it is
# off: `IsMklEnabled()` reads False on an AMD EPYC with AVX2 only, True with TF_ENABLE_ONEDNN_OPTS=1.
ONEDNN_DEFAULT_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile")


def onednn_on(flags=None) -> bool:
  """Whether TensorFlow 2.15 runs its oneDNN kernels in this process: TF_ENABLE_ONEDNN_OPTS when
  set ("0" off, anything else on); else, where TensorFlow is already imported, what it reports
  (`_pywrap_util_port.IsMklEnabled`, no public API); else its default: on for x86-64 CPUs with
  one of ONEDNN_DEFAULT_FLAGS (`flags`: the /proc/cpuinfo flags, read when None), off
  elsewhere."""
  env = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
  if env is not None:
    return env.strip() not in ("0", "false", "False", "")
  if "tensorflow" in sys.modules:
    try:
      from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-direct-tensorflow-import
      return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
      pass
  if flags is None:
    info = _cpuinfo(CPUINFO)
    flags = set((info.get("flags") or "").split())
  return platform.machine().lower() in ("x86_64", "amd64") and any(f in flags for f in ONEDNN_DEFAULT_FLAGS)


def cpu_facts(cpuinfo: Optional[Path] = None) -> Dict:
  """{"cpu": model name, "arch": machine, "cores": logical cores, "isa": {flag: bool for each of
  FLAGS, plus "amx"}, "onednn": bool}. Reads /proc/cpuinfo on Linux; elsewhere (macOS, Windows)
  the model is `platform.processor()` and the x86 flags are all False (arm64 has none of them)."""
  info = _cpuinfo(cpuinfo or CPUINFO)
  flags = set((info.get("flags") or info.get("Features") or "").split())
  model = (info.get("model name") or info.get("Model") or platform.processor() or platform.machine()
           or "unknown")
  isa = {name: flag in flags for flag, name in FLAGS.items()}
  isa["amx"] = isa["amx_bf16"]
  return {"cpu": " ".join(model.split()), "arch": platform.machine(), "cores": os.cpu_count(),
          "isa": isa, "onednn": onednn_on(flags)}


def native_bfloat16(facts: Dict) -> bool:
  """True where the CPU computes bfloat16 natively (AVX512_BF16 or AMX)."""
  isa = facts.get("isa", {})
  return bool(isa.get("avx512_bf16") or isa.get("amx"))


def kind(facts: Dict) -> str:
  """One line: 'AMD EPYC (avx2; oneDNN on)', the CPU kind a run's numbers belong to."""
  isa = facts.get("isa", {})
  best = ("avx512+bf16" if native_bfloat16(facts) and isa.get("avx512f") else
          "avx512" if isa.get("avx512f") else "avx2" if isa.get("avx2") else facts.get("arch") or "other")
  return f"{facts.get('cpu', 'unknown')} ({best}; oneDNN {'on' if facts.get('onednn') else 'off'})"
