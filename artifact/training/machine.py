"""The CPU a run or a benchmark ran on: its model, the instruction sets that decide which kernels
TensorFlow's CPU build runs (AVX2, AVX-512F, AVX512_BF16, AMX), and whether TensorFlow's oneDNN
path is on.

Why it is recorded: the same code on the same seed repeats bit for bit on one CPU kind, not
across kinds (AVX2 and AVX-512 kernels sum in different orders), and speed differs by about 2x
between them (docs/performance.md). bfloat16 is fast only with native bfloat16 instructions
(AVX512_BF16 or AMX); elsewhere oneDNN falls back to emulation ("oneDNN BFloat16 support are only
on platforms with AVX512"), measured 3.9x slower for A2C and 4.2x for DQN than float32 on an AMD
EPYC (Zen 2, AVX2 only), so the command line refuses it there unless asked (`--force-bfloat16`).

TensorFlow's kernel path (oneDNN on or off, TF_ENABLE_ONEDNN_OPTS, read once when TensorFlow
loads) changes a run's floats: its kernels sum in another order (the same smoke runs with it on
and off differ from their second progress row). So it is part of how a run is trained:
config.json records it ("onednn"), a run resumes and extends only on the path it started on
(`recorded_onednn`, checked by the runner and reapplied by the grid before TensorFlow loads), and
new runs take the project's choice for the CPU (`project_onednn`: on wherever the CPU has AVX2,
measured faster there; docs/performance.md).
"""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

# /proc/cpuinfo flag -> the name recorded
FLAGS = {"avx2": "avx2", "avx512f": "avx512f", "avx512_bf16": "avx512_bf16", "amx_bf16": "amx_bf16"}
# the slowdown of bfloat16 without native support, as measured (the refusal's message)
BF16_SLOWDOWN = ("3.9x slower for A2C and 4.2x for DQN than float32 (measured on an AMD EPYC, "
                 "Zen 2, AVX2 only)")
CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo(path: Path) -> dict[str, str]:
  """The first processor's `key: value` lines of /proc/cpuinfo ({} where there is none)."""
  try:
    text = path.read_text()
  except OSError:
    return {}
  out: dict[str, str] = {}
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
# off: `IsMklEnabled()` reads False on an AMD EPYC with AVX2 only, True with
# TF_ENABLE_ONEDNN_OPTS=1.
ONEDNN_DEFAULT_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_bf16", "amx_int8",
                        "amx_tile")


ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"


def _flags(flags=None) -> set:
  """`flags`, or the first processor's /proc/cpuinfo flags when None."""
  if flags is not None:
    return set(flags)
  info = _cpuinfo(CPUINFO)
  return set((info.get("flags") or info.get("Features") or "").split())


def _x86_64() -> bool:
  return platform.machine().lower() in ("x86_64", "amd64")


def onednn_from_env() -> bool | None:
  """TF_ENABLE_ONEDNN_OPTS as TensorFlow reads it: None when unset, False for "0" (or "false",
  or empty), True for anything else."""
  env = os.environ.get(ONEDNN_ENV)
  if env is None:
    return None
  return env.strip() not in ("0", "false", "False", "")


def tf_default_onednn(flags=None) -> bool:
  """TensorFlow 2.15's own default with TF_ENABLE_ONEDNN_OPTS unset: on for x86-64 CPUs with one
  of ONEDNN_DEFAULT_FLAGS (`flags`: the /proc/cpuinfo flags, read when None), off elsewhere."""
  return _x86_64() and any(f in _flags(flags) for f in ONEDNN_DEFAULT_FLAGS)


def loaded_onednn() -> bool | None:
  """Whether the TensorFlow loaded in this process runs its oneDNN kernels, as it reports it
  (`_pywrap_util_port.IsMklEnabled`, no public API); None where TensorFlow is not loaded (or
  does not say)."""
  if "tensorflow" not in sys.modules:
    return None
  try:
    # only once TensorFlow is loaded: this module decides the kernel path before it loads
    from tensorflow.python.util import _pywrap_util_port
    return bool(_pywrap_util_port.IsMklEnabled())
  except (ImportError, AttributeError):
    return None


def onednn_on(flags=None) -> bool:
  """Whether TensorFlow 2.15 runs (or, not loaded yet, will run) its oneDNN kernels in this
  process: what the loaded TensorFlow reports (`loaded_onednn`); else TF_ENABLE_ONEDNN_OPTS when
  set (`onednn_from_env`); else its default (`tf_default_onednn`)."""
  for answer in (loaded_onednn(), onednn_from_env()):
    if answer is not None:
      return answer
  return tf_default_onednn(flags)


def project_onednn(flags=None) -> bool | None:
  """The kernel path new runs take on this CPU when TF_ENABLE_ONEDNN_OPTS is not set: oneDNN on
  for every x86-64 CPU with AVX2 (`flags`: the /proc/cpuinfo flags, read when None). Where
  TensorFlow leaves it off by default (AVX2 without AVX512_VNNI, BF16 or AMX) it was measured
  faster: on an AMD EPYC (Zen 2, AVX2 only) A2C 3,677 vs 2,884 frames/s and DQN 432 vs 321
  (docs/performance.md); with those features it is TensorFlow's default already. None elsewhere
  (arm64: TensorFlow's own default, not measured here)."""
  flags = _flags(flags)
  return True if _x86_64() and ("avx2" in flags or tf_default_onednn(flags)) else None


def recorded_onednn(config: dict) -> bool | None:
  """The kernel path a run directory's config.json says the run trained on: its "onednn" (bool),
  or None for a config.json without it, as the campaign's frozen code (tag campaign-1) writes
  them (the run trained on TensorFlow's default for its CPU, or on whatever TF_ENABLE_ONEDNN_OPTS
  said then)."""
  value = config.get("onednn")
  return value if isinstance(value, bool) else None


def tf_threads() -> dict:
  """{"intra_op", "inter_op"}: this process's TensorFlow thread pools as configured
  (`tf.config.threading`; 0 = TensorFlow's default, the machine's cores). Loads TensorFlow.
  Part of a run's identity: the same seed's loss differs at ~1e-7 between 1 and 2 intra-op
  threads (reductions split differently), so a run is bit for bit one computation only at one
  thread count (config.json records it; a resume at another is refused)."""
  import tensorflow as tf  # only in the process that trains
  return dict(intra_op=int(tf.config.threading.get_intra_op_parallelism_threads()),
              inter_op=int(tf.config.threading.get_inter_op_parallelism_threads()))


def recorded_tf_threads(config: dict) -> dict | None:
  """The "tf_threads" a run directory's config.json records (`tf_threads`), or None for a
  config.json without it (written by the campaign's frozen code, tag campaign-1, or before)."""
  value = config.get("tf_threads")
  ok = isinstance(value, dict) and all(isinstance(value.get(k), int) for k in ("intra_op",
                                                                                "inter_op"))
  return {k: value[k] for k in ("intra_op", "inter_op")} if ok else None


def use_onednn(on: bool | None) -> None:
  """Sets this process's kernel path (TF_ENABLE_ONEDNN_OPTS "1" or "0"; None leaves it as it
  is) before TensorFlow loads; processes started from here inherit it. Raises RuntimeError if
  TensorFlow is already loaded on the other path (it reads the variable once)."""
  if on is None:
    return
  if loaded_onednn() not in (None, on):
    raise RuntimeError(f"TensorFlow is already loaded with oneDNN {'off' if on else 'on'}; "
                       f"{ONEDNN_ENV} is read only when it loads")
  os.environ[ONEDNN_ENV] = "1" if on else "0"


def cpu_facts(cpuinfo: Path | None = None) -> dict:
  """{"cpu": model name, "arch": machine, "cores": logical cores, "isa": {flag: bool for each of
  FLAGS, plus "amx"}, "onednn": bool}. Reads /proc/cpuinfo on Linux; elsewhere (macOS, Windows)
  the model is `platform.processor()` and the x86 flags are all False (arm64 has none of them)."""
  info = _cpuinfo(cpuinfo or CPUINFO)
  flags = _flags((info.get("flags") or info.get("Features") or "").split())
  model = (info.get("model name") or info.get("Model") or platform.processor() or platform.machine()
           or "unknown")
  isa = {name: flag in flags for flag, name in FLAGS.items()}
  isa["amx"] = isa["amx_bf16"]
  return {"cpu": " ".join(model.split()), "arch": platform.machine(), "cores": os.cpu_count(),
          "isa": isa, "onednn": onednn_on(flags)}


def native_bfloat16(facts: dict) -> bool:
  """True where the CPU computes bfloat16 natively (AVX512_BF16 or AMX)."""
  isa = facts.get("isa", {})
  return bool(isa.get("avx512_bf16") or isa.get("amx"))


def kind(facts: dict) -> str:
  """One line: 'AMD EPYC (avx2; oneDNN on)', the CPU kind a run's numbers belong to."""
  isa = facts.get("isa", {})
  best = ("avx512+bf16" if native_bfloat16(facts) and isa.get("avx512f") else
          "avx512" if isa.get("avx512f") else "avx2" if isa.get("avx2") else facts.get("arch")
          or "other")
  return f"{facts.get('cpu', 'unknown')} ({best}; oneDNN {'on' if facts.get('onednn') else 'off'})"
