"""The grid: parsed command-line arguments validated and expanded into the runs to train (`Plan`).

Every check runs before any work; a bad value raises `UsageError` (exit status 2) naming it and
the allowed ones. Nothing is written before every check passed; then --out is created.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import List, Optional

from artifact.experiment.registry import FIGURES, check_figure
from artifact.experiment.scales import check_scale
from artifact.experiment.runspec import make_run_spec
from artifact.grid.arguments import parse_frames, parse_overrides


class UsageError(SystemExit):
  """A bad argument, refused before any work: exit status 2 (as argparse's own errors). `main`
  prints the message (which names the bad value and the allowed ones) to stderr; str(e) is it."""

  def __init__(self, message: str):
    super().__init__(message)
    self.code = 2


GLOB_CHARACTERS = "[*?"     # TF's checkpoint clean-up globs the run directories' paths


def _finite_positive(name: str, value):
  """None, or the error text for a value of --name that is not a finite number > 0."""
  if value is None:
    return None
  if not math.isfinite(value):
    return f"--{name} must be a finite number > 0, got {value:g}"
  if not value > 0:
    return f"--{name} must be > 0, got {value:g}"
  return None


def _csv(s: str) -> List[str]:
  return [x.strip() for x in s.split(",") if x.strip()]


class Plan:
  """The validated grid: `specs` (each run once), `serves` (relpath -> the figure/condition
  curves that run is reported as; two entries for a run shared by two figures), `env_groups`
  (--env-groups: the A2C collection's env groups, None = auto)."""

  def __init__(self, specs, figures, out: Path, run_theory: bool, serves=None,
               env_groups: Optional[int] = None):
    self.specs, self.figures, self.out, self.run_theory = specs, figures, out, run_theory
    self.serves = serves or {}
    self.env_groups = env_groups


def plan_from_args(args) -> Plan:
  """Validates every argument before any work (nothing is written before every check passed;
  then --out is created); raises UsageError (SystemExit, status 2) naming the bad value and the
  allowed ones."""
  def fail(msg):
    raise UsageError(f"run_all.sh: error: {msg}")

  if args.jobs < 1:
    fail(f"--jobs must be >= 1, got {args.jobs}")
  from artifact.grid.executors import EXECUTORS
  if args.executor not in EXECUTORS:
    fail(f"unknown --executor {args.executor!r}; valid: {', '.join(EXECUTORS)}")
  for name in ("cpus_per_run", "gpus_per_run", "checkpoint_every", "status_every"):
    problem = _finite_positive(name.replace("_", "-"), getattr(args, name))
    if problem:
      fail(problem)
  if args.env_groups != "auto" and not (args.env_groups.isdigit() and int(args.env_groups) >= 1):
    fail(f"--env-groups must be auto or an integer in [1, num_envs] (16 envs per A2C run), "
         f"got {args.env_groups!r}")
  env_groups = None if args.env_groups == "auto" else int(args.env_groups)
  if args.ray_address is not None and not args.ray_address.strip():
    fail(f"--ray-address {args.ray_address!r} is empty; give the Ray cluster's head as HOST:PORT "
         f"(e.g. 10.0.0.5:6379), or leave --ray-address out to start a local Ray instance")
  if args.executor == "local" and args.ray_address:
    fail(f"--ray-address {args.ray_address!r} needs --executor ray")
  if args.executor == "local" and args.gpus_per_run:
    fail("--gpus-per-run is for --executor ray (local runs use whatever device TensorFlow finds)")
  try:                                 # the validators make_run_spec uses too (artifact.experiment.runspec)
    check_scale(args.scale)
    figures = [check_figure(f) for f in _csv(args.figures)]
    if not figures:
      fail("--figures selects nothing")
    frames = None if args.frames is None else parse_frames(args.frames)
  except ValueError as e:
    fail(str(e))
  seeds = None
  if args.seeds is not None:
    try:
      seeds = [int(s) for s in _csv(args.seeds)]
    except ValueError:
      fail(f"--seeds must be comma-separated non-negative integers, got {args.seeds!r}")
    if not seeds or any(s < 0 for s in seeds):
      fail(f"--seeds must be comma-separated non-negative integers, got {args.seeds!r}")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
      fail(f"--seeds {args.seeds!r} lists seed {', '.join(map(str, twice))} more than once; each "
           f"seed is one run: list each once")
  all_games = sorted({g for f in figures for g in FIGURES[f].games})
  games = _csv(args.games) if args.games else None
  if games is not None:
    from envs.games import ATARI_GAMES
    for g in games:
      if g not in ATARI_GAMES:
        fail(f"unknown game {g!r}; the paper's games for the selected figures: {', '.join(all_games)}; "
             f"any ALE game also works: {', '.join(ATARI_GAMES)}")
  all_conds = [c.name for f in figures for c in FIGURES[f].conditions]
  conds = _csv(args.conditions) if args.conditions else None
  if conds is not None:
    for c in conds:
      if c not in all_conds:
        fail(f"unknown condition {c!r} for figure(s) {', '.join(map(str, figures))}; valid: {', '.join(all_conds)}")
  selected = [c for f in figures for c in FIGURES[f].conditions if conds is None or c.name in conds]
  try:
    overrides = parse_overrides(args.set, selected)
  except ValueError as e:
    fail(str(e))
  out = Path(args.out).resolve()
  bad = sorted({c for c in str(out) if c in GLOB_CHARACTERS})
  if bad:
    fail(f"--out {str(out)!r} contains {', '.join(map(repr, bad))}: TensorFlow's checkpoint "
         f"clean-up treats the run directories' paths as glob patterns, so --out may not contain "
         f"any of {', '.join(map(repr, GLOB_CHARACTERS))}; choose another directory")
  specs, serves = [], {}
  for f in figures:
    fig = FIGURES[f]
    # a paper game runs in the selected figures that have it; any other ALE game runs in every
    # selected figure, as an extension
    for game in (fig.games if games is None else
                 [g for g in games if g in fig.games or g not in all_games]):
      for cond in fig.conditions:
        if conds is not None and cond.name not in conds:
          continue
        for seed in (seeds if seeds is not None else fig.seeds):
          try:
            spec = make_run_spec(f, game, cond.name, seed, args.scale, frames, overrides,
                                 keep_extension_state=False if args.no_extension_state else None)
          except ValueError as e:
            fail(str(e) + (f" (--set {' --set '.join(args.set)})" if args.set else ""))
          rel = spec.relpath()
          if rel not in serves:               # a run shared by two figures is trained once
            specs.append(spec)
            serves[rel] = []
          serves[rel].append(f"figure {f} {cond.name}")
  if not specs and not (3 in figures and not args.no_theory):
    fail("the filters select no run")
  if env_groups is not None:
    envs = min((s.hparams.num_envs for s in specs if s.family == "a2c"), default=None)
    if envs is not None and env_groups > envs:
      fail(f"--env-groups {args.env_groups}: more groups than the {envs} envs of an A2C run")
  bf16 = sorted({s.relpath().split("/")[2] for s in specs if s.hparams.precision == "bfloat16"})
  if bf16 and not args.reports_only and not getattr(args, "force_bfloat16", False):
    from artifact.training.machine import BF16_SLOWDOWN, cpu_facts, kind, native_bfloat16
    facts = cpu_facts()
    if not native_bfloat16(facts):
      fail(f"precision=bfloat16 ({', '.join(bf16)}) on {kind(facts)}, a CPU without native bfloat16 "
           f"(AVX512_BF16 or AMX): TensorFlow falls back to emulated kernels, {BF16_SLOWDOWN}. "
           f"Leave out --set precision=bfloat16 (float32 is the paper's), or add --force-bfloat16 "
           f"to run it anyway")
  try:                                 # the first thing written, after every check
    out.mkdir(parents=True, exist_ok=True)
    probe = out / f".write_test_{os.getpid()}"
    probe.write_text("ok")
    probe.unlink()
  except OSError as e:
    fail(f"--out {str(out)!r} is not writable: {e}")
  return Plan(specs, figures, out, run_theory=(3 in figures and not args.no_theory), serves=serves,
              env_groups=env_groups)
