"""The grid: parsed command-line arguments validated and expanded into the runs to train (`Plan`).

Every check runs before any work; a bad value raises `UsageError` (exit status 2) naming it and
the allowed ones. Nothing is written before every check passed; then --out is created.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import NamedTuple

from artifact.experiment.registry import FIGURES, check_figure
from artifact.experiment.runspec import make_run_spec
from artifact.experiment.scales import check_scale
from artifact.grid.arguments import parse_frames, parse_overrides
from artifact.grid.executors import EXECUTORS
from artifact.training import machine  # its functions called as machine.f: tests replace them
from artifact.training.machine import BF16_SLOWDOWN, ONEDNN_ENV
from artifact.usage import UsageError, run_command  # noqa: F401  (the grid's commands raise and run these)
from envs.games import ATARI_GAMES

GLOB_CHARACTERS = "[*?"     # TF's checkpoint clean-up globs the run directories' paths


def _fail(msg: str):
  """Raises the UsageError of `msg`, prefixed as argparse prefixes its own errors."""
  raise UsageError(f"run_all.sh: error: {msg}")


def _finite_positive(name: str, value):
  """None, or the error text for a value of --name that is not a finite number > 0."""
  if value is None:
    return None
  if not math.isfinite(value):
    return f"--{name} must be a finite number > 0, got {value:g}"
  if not value > 0:
    return f"--{name} must be > 0, got {value:g}"
  return None


def _csv(s: str) -> list[str]:
  return [x.strip() for x in s.split(",") if x.strip()]


class Plan:
  """The validated grid: `specs` (each run once), `serves` (relpath -> the figure/condition
  curves that run is reported as; two entries for a run shared by two figures), `env_groups`
  (--env-groups: the A2C collection's env groups, None = auto), `kernels` (the TensorFlow kernel
  path its processes run, `KernelPath`; None: TensorFlow's default, as for --reports-only)."""

  def __init__(self, specs, figures, out: Path, run_theory: bool, serves=None,
               env_groups: int | None = None, kernels: KernelPath | None = None):
    self.specs, self.figures, self.out, self.run_theory = specs, figures, out, run_theory
    self.serves = serves or {}
    self.env_groups = env_groups
    self.kernels = kernels


class KernelPath(NamedTuple):
  """The grid's TensorFlow kernel path: `onednn` (True/False: TF_ENABLE_ONEDNN_OPTS is set to
  it before TensorFlow loads, `artifact.training.machine.use_onednn`; None: TensorFlow's
  default) and `why`, a few words for the grid's first line."""
  onednn: bool | None
  why: str

  def describe(self) -> str:
    """'oneDNN on (why)', or "TensorFlow's default kernels (why)"."""
    if self.onednn is None:
      return f"TensorFlow's default kernels ({self.why})"
    return f"oneDNN {'on' if self.onednn else 'off'} ({self.why})"


class _Selection(NamedTuple):
  """What the filters select: figures, --frames (None: the scale's), seeds, games and conditions
  (None: each figure's), the paper's games of those figures, the --set overrides."""
  figures: list[int]
  frames: int | None
  seeds: list[int] | None
  games: list[str] | None
  conditions: list[str] | None
  paper_games: list[str]
  overrides: dict[str, object]


def plan_from_args(args) -> Plan:
  """The runs `args` (parsed by `artifact.grid.cli.build_parser`) select, every argument checked
  before any work: nothing is written before every check passed; then --out is created. Raises
  UsageError (SystemExit, status 2) naming the bad value and the allowed ones."""
  env_groups = _check_execution(args)
  selection = _select(args)
  out = _check_out_path(args.out)
  specs, serves = _build_specs(args, selection)
  run_theory = 3 in selection.figures and not args.no_theory
  if not specs and not run_theory:
    _fail("the filters select no run")
  _check_env_groups_fit(args.env_groups, env_groups, specs)
  _check_bfloat16(args, specs)
  kernels = None if args.reports_only else kernel_path(specs, out)
  _create_out(out)                     # the first thing written, after every check
  return Plan(specs, selection.figures, out, run_theory=run_theory, serves=serves,
              env_groups=env_groups, kernels=kernels)


def _check_execution(args) -> int | None:
  """Checks how the runs are executed (--jobs, --executor and its options, the per-run seconds
  and resources); returns --env-groups as an int, None for auto."""
  if args.jobs < 1:
    _fail(f"--jobs must be >= 1, got {args.jobs}")
  if args.executor not in EXECUTORS:
    _fail(f"unknown --executor {args.executor!r}; valid: {', '.join(EXECUTORS)}")
  for name in ("cpus_per_run", "gpus_per_run", "checkpoint_every", "status_every"):
    problem = _finite_positive(name.replace("_", "-"), getattr(args, name))
    if problem:
      _fail(problem)
  if args.env_groups != "auto" and not (args.env_groups.isdigit() and int(args.env_groups) >= 1):
    _fail(f"--env-groups must be auto or an integer in [1, num_envs] (16 envs per A2C run), "
          f"got {args.env_groups!r}")
  if args.ray_address is not None and not args.ray_address.strip():
    _fail(f"--ray-address {args.ray_address!r} is empty; give the Ray cluster's head as HOST:PORT "
          f"(e.g. 10.0.0.5:6379), or leave --ray-address out to start a local Ray instance")
  if args.executor == "local" and args.ray_address:
    _fail(f"--ray-address {args.ray_address!r} needs --executor ray")
  if args.executor == "local" and args.gpus_per_run:
    _fail("--gpus-per-run is for --executor ray (local runs use whatever device TensorFlow finds)")
  return None if args.env_groups == "auto" else int(args.env_groups)


def _select(args) -> _Selection:
  """The filters (--scale, --figures, --frames, --seeds, --games, --conditions) and --set checked
  against the registry (`artifact.experiment.registry.FIGURES`)."""
  try:  # the validators make_run_spec uses too (artifact.experiment.runspec)
    check_scale(args.scale)
    figures = [check_figure(f) for f in _csv(args.figures)]
    if not figures:
      _fail("--figures selects nothing")
    frames = None if args.frames is None else parse_frames(args.frames)
  except ValueError as e:
    _fail(str(e))
  seeds = _parse_seeds(args.seeds)
  paper_games = sorted({g for f in figures for g in FIGURES[f].games})
  games = _check_games(_csv(args.games), paper_games) if args.games else None
  conditions = _check_conditions(_csv(args.conditions), figures) if args.conditions else None
  selected = [c for f in figures for c in FIGURES[f].conditions
              if conditions is None or c.name in conditions]
  try:
    overrides = parse_overrides(args.set, selected)
  except ValueError as e:
    _fail(str(e))
  return _Selection(figures, frames, seeds, games, conditions, paper_games, overrides)


def _parse_seeds(raw: str | None) -> list[int] | None:
  """--seeds as distinct non-negative ints; None (each figure's seeds) when not given."""
  if raw is None:
    return None
  bad = f"--seeds must be comma-separated non-negative integers, got {raw!r}"
  try:
    seeds = [int(s) for s in _csv(raw)]
  except ValueError:
    _fail(bad)
  if not seeds or any(s < 0 for s in seeds):
    _fail(bad)
  twice = sorted({s for s in seeds if seeds.count(s) > 1})
  if twice:
    _fail(f"--seeds {raw!r} lists seed {', '.join(map(str, twice))} more than once; each "
          f"seed is one run: list each once")
  return seeds


def _check_games(games: list[str], paper_games: list[str]) -> list[str]:
  """`games` if each is an ALE game (`envs.games.ATARI_GAMES`)."""
  for g in games:
    if g not in ATARI_GAMES:
      _fail(f"unknown game {g!r}; the paper's games for the selected figures: "
            f"{', '.join(paper_games)}; any ALE game also works: {', '.join(ATARI_GAMES)}")
  return games


def _check_conditions(conditions: list[str], figures: list[int]) -> list[str]:
  """`conditions` if each is a condition of one of `figures`."""
  valid = [c.name for f in figures for c in FIGURES[f].conditions]
  for c in conditions:
    if c not in valid:
      _fail(f"unknown condition {c!r} for figure(s) {', '.join(map(str, figures))}; valid: "
            f"{', '.join(valid)}")
  return conditions


def _check_out_path(raw: str) -> Path:
  """--out resolved, if its path has none of GLOB_CHARACTERS."""
  out = Path(raw).resolve()
  bad = sorted({c for c in str(out) if c in GLOB_CHARACTERS})
  if bad:
    _fail(f"--out {str(out)!r} contains {', '.join(map(repr, bad))}: TensorFlow's checkpoint "
          f"clean-up treats the run directories' paths as glob patterns, so --out may not contain "
          f"any of {', '.join(map(repr, GLOB_CHARACTERS))}; choose another directory")
  return out


def _build_specs(args, sel: _Selection):
  """(specs, serves): the RunSpec of every selected run, each once (a run shared by two figures
  is trained once), and relpath -> the 'figure F condition' curves it serves."""
  specs, serves = [], {}
  for f in sel.figures:
    fig = FIGURES[f]
    # a paper game runs in the selected figures that have it; any other ALE game runs in every
    # selected figure, as an extension
    for game in (fig.games if sel.games is None else
                 [g for g in sel.games if g in fig.games or g not in sel.paper_games]):
      for cond in fig.conditions:
        if sel.conditions is not None and cond.name not in sel.conditions:
          continue
        for seed in (sel.seeds if sel.seeds is not None else fig.seeds):
          spec = _run_spec(args, sel, f, game, cond.name, seed)
          rel = spec.relpath()
          if rel not in serves:               # a run shared by two figures is trained once
            specs.append(spec)
            serves[rel] = []
          serves[rel].append(f"figure {f} {cond.name}")
  return specs, serves


def _run_spec(args, sel: _Selection, figure: int, game: str, condition: str, seed: int):
  """`make_run_spec` of one run; its ValueError (a bad --set value) as UsageError."""
  try:
    return make_run_spec(figure, game, condition, seed, args.scale, sel.frames, sel.overrides,
                         keep_extension_state=False if args.no_extension_state else None)
  except ValueError as e:
    _fail(str(e) + (f" (--set {' --set '.join(args.set)})" if args.set else ""))


def _check_env_groups_fit(raw: str, env_groups: int | None, specs):
  """--env-groups K is at most the envs of every selected A2C run."""
  if env_groups is None:
    return
  envs = min((s.hparams.num_envs for s in specs if s.family == "a2c"), default=None)
  if envs is not None and env_groups > envs:
    _fail(f"--env-groups {raw}: more groups than the {envs} envs of an A2C run")


def _check_bfloat16(args, specs):
  """precision=bfloat16 runs only on a CPU with native bfloat16, unless --force-bfloat16 (or
  --reports-only, which trains nothing)."""
  bf16 = sorted({s.relpath().split("/")[2] for s in specs if s.hparams.precision == "bfloat16"})
  if not bf16 or args.reports_only or getattr(args, "force_bfloat16", False):
    return
  facts = machine.cpu_facts()
  if not machine.native_bfloat16(facts):
    _fail(f"precision=bfloat16 ({', '.join(bf16)}) on {machine.kind(facts)}, a CPU without native "
          "bfloat16 (AVX512_BF16 or AMX): TensorFlow falls back to emulated kernels, "
          f"{BF16_SLOWDOWN}. Leave out --set precision=bfloat16 (float32 is the paper's), or add "
          "--force-bfloat16 to run it anyway")


def _continued_runs(specs, out: Path) -> dict[str, dict]:
  """relpath -> config.json of each selected run that this grid resumes or extends (a config
  under out/runs, and no done.json at the spec's frames or more)."""
  found = {}
  for s in specs:
    d = out / "runs" / s.relpath()
    try:
      config = json.loads((d / "config.json").read_text())
      done = json.loads((d / "done.json").read_text()) if (d / "done.json").exists() else {}
    except (OSError, ValueError):      # no config yet, or one the run itself reports on
      continue
    if not isinstance(config, dict) or done.get("frames", 0) >= s.frames:
      continue
    found[s.relpath()] = config
  return found


def _some(rels: list[str]) -> str:
  """The first three of `rels` and how many more."""
  return ", ".join(rels[:3]) + (f" and {len(rels) - 3} more" if len(rels) > 3 else "")


def kernel_path(specs, out: Path) -> KernelPath:
  """The kernel path of this grid's processes (one per process: TensorFlow reads
  TF_ENABLE_ONEDNN_OPTS once, when it loads). Runs resumed or extended keep the one their
  config.json records ("onednn"; a record without it trained on TensorFlow's default for this
  CPU, or on the variable when it is set); new runs take TF_ENABLE_ONEDNN_OPTS when set, else
  the project's choice for this CPU (`artifact.training.machine.project_onednn`). Raises
  UsageError when the runs to continue recorded both paths, or when TF_ENABLE_ONEDNN_OPTS asks
  for the other path than one they recorded: either way a run would not continue bit for bit."""
  user = machine.onednn_from_env()
  need: dict[bool, list[str]] = {True: [], False: []}
  for rel, config in _continued_runs(specs, out).items():
    recorded = machine.recorded_onednn(config)
    if recorded is not None and user is not None and recorded != user:
      _fail(f"{ONEDNN_ENV}={os.environ[ONEDNN_ENV]} asks for oneDNN {'on' if user else 'off'}, but "
            f"{rel} under {out}/runs trained with it {'on' if recorded else 'off'} (config.json "
            f"\"onednn\": {str(recorded).lower()}); its kernels sum in another order, so the run "
            f"would not continue bit for bit. Unset {ONEDNN_ENV} (each run's own setting is then "
            f"reapplied), or use another --out")
    if recorded is None:   # no record (campaign-1's runs): the variable's path or the default
      recorded = user if user is not None else machine.tf_default_onednn()
    need[recorded].append(rel)
  if need[True] and need[False]:
    _fail(f"the runs this grid continues under {out}/runs trained on two TensorFlow kernel paths, "
          f"oneDNN on ({_some(need[True])}) and off ({_some(need[False])}), and one process runs "
          f"one ({ONEDNN_ENV} is read when TensorFlow loads): a run continued on the other would "
          f"not be the same run bit for bit. Continue them in separate commands, selecting each "
          f"path's runs with --games / --conditions / --seeds")
  loaded = machine.loaded_onednn()  # TensorFlow already loaded here (the grid run from Python)
  for on in (True, False):
    if need[on]:
      if loaded not in (None, on):
        _fail(f"the runs this grid continues under {out}/runs trained with oneDNN "
              f"{'on' if on else 'off'} ({_some(need[on])}), but this process loaded TensorFlow "
              f"with it {'on' if loaded else 'off'} before the grid started: run the grid from a "
              f"new process (./run_all.sh), or set {ONEDNN_ENV}={int(on)} before TensorFlow loads")
      return KernelPath(on, f"as the {len(need[on])} run(s) it continues trained")
  if loaded is not None:
    return KernelPath(loaded, "as TensorFlow was loaded in this process before the grid")
  if user is not None:
    return KernelPath(user, f"{ONEDNN_ENV}={os.environ[ONEDNN_ENV]}")
  chosen = machine.project_onednn()
  if chosen is None:
    return KernelPath(None, "this CPU has no AVX2")
  # chosen is True here (project_onednn: on or None), so the default differs only by being off
  default = (", and TensorFlow's default here" if machine.tf_default_onednn()
             else "; TensorFlow's default here is off")
  return KernelPath(chosen, "the project's setting for CPUs with AVX2" + default)


def _create_out(out: Path):
  """Creates --out and checks that a file can be written in it."""
  try:
    out.mkdir(parents=True, exist_ok=True)
    probe = out / f".write_test_{os.getpid()}"
    probe.write_text("ok")
    probe.unlink()
  except OSError as e:
    _fail(f"--out {str(out)!r} is not writable: {e}")
