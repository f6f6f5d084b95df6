"""Command-line values parsed and checked against the registry: `--frames` and `--set key=value`.
"""
from __future__ import annotations

import dataclasses
import math

from artifact.experiment.hparams import HPARAMS, MAX_FRAMES, MAX_SET_INT


def parse_frames(raw: str) -> int:
  """A budget given as text (`--frames 3e6`): whole emulator frames in [1, MAX_FRAMES]. Raises
  ValueError naming the text and what is allowed."""
  try:
    value = float(raw)
  except (TypeError, ValueError):
    value = float("nan")
  if not (math.isfinite(value) and value >= 1 and value == int(value)):
    raise ValueError(f"--frames must be a positive integer (whole emulator frames, e.g. 3000000 or "
                     f"3e6), got {raw!r}")
  if value > MAX_FRAMES:
    raise ValueError(f"--frames must be at most {MAX_FRAMES:,} (beyond any budget), got {raw!r}")
  return int(value)


def settable_keys(conditions) -> dict[str, type]:
  """{key: type} that `--set` accepts for the given Conditions: their families' hyperparameter
  fields and their agent arguments."""
  keys: dict[str, type] = {}
  for c in conditions:
    for f in dataclasses.fields(HPARAMS[c.family]):
      keys[f.name] = type(getattr(HPARAMS[c.family](), f.name))
    for k, v in c.agent_kwargs:
      keys[k] = type(v)
  return keys


def parse_overrides(items, conditions) -> dict[str, object]:
  """Parses `--set key=value` items against `settable_keys(conditions)`.

  Raises ValueError naming the bad item and the valid keys (unknown key, no '=', a value that
  does not parse as the key's type, an int beyond MAX_SET_INT); `make_run_spec` then checks
  the values (`validate`: finite floats, ranges)."""
  valid = settable_keys(conditions)
  out: dict[str, object] = {}
  for item in items or []:
    if "=" not in item:
      raise ValueError(f"--set {item!r}: expected key=value")
    key, raw = (x.strip() for x in item.split("=", 1))
    if key not in valid:
      raise ValueError(f"--set {item!r}: unknown key {key!r}; valid for the selected runs: "
                       f"{', '.join(sorted(valid))}")
    typ = valid[key]
    try:
      value = _parse(typ, raw)
    except ValueError:
      raise ValueError(f"--set {item!r}: {key} takes a {typ.__name__}, got {raw!r}") from None
    if typ is int and abs(value) > MAX_SET_INT:
      raise ValueError(f"--set {item!r}: {key} must be at most {MAX_SET_INT:,} (beyond any "
                       f"sensible budget), got {value:,}")
    out[key] = value
  return out


def _parse(typ, raw: str):
  """int accepts '1e6' and '1_000' (but not 0.5), float any float literal, str anything."""
  if typ is int:
    x = float(raw)
    if not math.isfinite(x) or x != int(x):
      raise ValueError(raw)
    return int(x)
  if typ is float:
    return float(raw)
  return raw
