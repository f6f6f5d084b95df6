"""scripts/campaign_store.py: the committed store of the campaign's finished runs."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("campaign_store",
                                              ROOT / "scripts" / "campaign_store.py")
store_mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(store_mod)


def make_run(out: Path, rel: str, frames: int, finished: bool = True, ckpt: bool = True) -> Path:
  d = out / "runs" / rel
  (d / "tb").mkdir(parents=True)
  (d / "config.json").write_text(json.dumps({"frames": frames}))
  (d / "progress.csv").write_text("frames,train_return\n"
                                  + "".join(f"{f},{f / 1e5}\n"
                                            for f in range(100000, frames + 1, 100000)))
  (d / "tb" / "events.out.tfevents.1").write_bytes(bytes(range(256)) * 4)
  if finished:
    (d / "done.json").write_text(json.dumps({"frames": frames}))
  if ckpt:
    (d / "checkpoint").mkdir()
    (d / "checkpoint" / "ckpt-1.data-00000-of-00001").write_bytes(b"\0" * 1000)
  return d


def test_save_copies_finished_runs_record_only_and_restore_fills_only_missing(tmp_path, capsys):
  out, store = tmp_path / "out", tmp_path / "store"
  a = make_run(out, "figure1/Qbert/a2c_1step/seed0", 300000)
  make_run(out, "figure1/Qbert/a2c_1step/seed1", 200000, finished=False)
  assert store_mod.main(["save", "--out", str(out), "--store", str(store)]) == 0
  kept = store / "runs" / "figure1/Qbert/a2c_1step/seed0"
  assert sorted(p.name for p in kept.iterdir()) == ["config.json", "done.json", "machine.json",
                                                    "progress.csv", "tb"]
  assert json.loads((kept / "machine.json").read_text()) == store_mod.this_machine()
  for f in ("config.json", "done.json", "progress.csv", "tb/events.out.tfevents.1"):
    assert (kept / f).read_bytes() == (a / f).read_bytes()
  assert not (store / "runs" / "figure1/Qbert/a2c_1step/seed1").exists()     # unfinished
  assert store_mod.save(out, store) == 0                                       # nothing new

  # a longer finish of the same run replaces the stored one; a shorter one does not
  longer = tmp_path / "longer"
  make_run(longer, "figure1/Qbert/a2c_1step/seed0", 500000)
  assert store_mod.save(longer, store) == 1
  assert json.loads((kept / "done.json").read_text())["frames"] == 500000
  assert store_mod.save(out, store) == 0
  assert not list(kept.parent.glob("*-store"))                                 # no temporaries left

  # restore: into an empty --out everything at --min-frames or more; a directory that exists is
  # left alone and named
  make_run(longer, "figure1/Qbert/a2c_1step/seed2", 300000)
  assert store_mod.main(["save", "--out", str(longer), "--store", str(store), "--machine",
                         '{"cpu": "X"}']) == 0
  assert json.loads((store / "runs/figure1/Qbert/a2c_1step/seed2/machine.json").read_text()) == {
      "cpu": "X"}
  fresh = tmp_path / "fresh"
  (fresh / "runs").mkdir(parents=True)
  assert store_mod.main(["restore", "--out", str(fresh), "--store", str(store), "--min-frames",
                         "400000"]) == 0
  assert not (fresh / "runs/figure1/Qbert/a2c_1step/seed2").exists()           # 300k < 400k
  assert store_mod.restore(fresh, store) == 1                                    # now seed2
  restored = fresh / "runs/figure1/Qbert/a2c_1step/seed0/progress.csv"
  assert restored.read_bytes() == (kept / "progress.csv").read_bytes()
  capsys.readouterr()
  assert store_mod.restore(out, store) == 1                                      # seed2 only
  assert "left alone figure1/Qbert/a2c_1step/seed0" in capsys.readouterr().out
  assert json.loads((a / "done.json").read_text())["frames"] == 300000         # untouched


def test_bad_directory_exits_2_and_writes_nothing(tmp_path, capsys):
  assert store_mod.main(["restore", "--out", str(tmp_path / "o"), "--store",
                         str(tmp_path / "nope")]) == 2
  assert "nope/runs: no such directory" in capsys.readouterr().err
  assert not (tmp_path / "o").exists()


def test_save_log_keeps_step_lines_once_in_order(tmp_path, capsys):
  out, store = tmp_path / "out", tmp_path / "store"
  make_run(out, "figure2/Breakout/dqn/seed0", 200000)
  log = tmp_path / "campaign.log"
  log.write_text("restored figure1/x: finished\n"
                 "== 2026-12-02T00:27:51Z step stage2-2M-ent: ./run_all.sh --frames 2000000\n"
                 "saved figure2/y\n"
                 "-- 2026-12-02T02:11:48Z stage2-2M-kl: not started (4092s left)\n")
  assert store_mod.main(["save", "--out", str(out), "--store", str(store), "--log", str(log)]) == 0
  assert "2 step line(s)" in capsys.readouterr().out
  first = ["== 2026-12-02T00:27:51Z step stage2-2M-ent: ./run_all.sh --frames 2000000",
           "-- 2026-12-02T02:11:48Z stage2-2M-kl: not started (4092s left)"]
  assert (store / "steps.log").read_text().splitlines() == first
  # the same log again adds nothing; a later line is appended after the kept ones
  with log.open("a") as f:
    f.write("== 2026-12-02T02:13:00Z step stage1-3M: exit 0\n")
  assert store_mod.save_steps(log, store) == 1
  assert store_mod.save_steps(log, store) == 0
  assert (store / "steps.log").read_text().splitlines() == first + [
      "== 2026-12-02T02:13:00Z step stage1-3M: exit 0"]
  assert store_mod.save_steps(tmp_path / "missing.log", store) == 0
  assert not list(store.glob("*.tmp-store"))


def test_save_keeps_the_final_policy_of_the_published_policy_runs_only(tmp_path):
  out, store = tmp_path / "out", tmp_path / "store"
  keep = "figure2/Breakout/dqn/seed2"
  assert keep in store_mod.POLICY_RUNS
  for rel in (keep, "figure2/Breakout/dqn/seed0"):
    d = make_run(out, rel, 200000)
    (d / "policy" / "variables").mkdir(parents=True)
    (d / "policy" / "saved_model.pb").write_bytes(b"pb" * 100)
    (d / "policy" / "variables" / "variables.data-00000-of-00001").write_bytes(b"\1" * 5000)
  assert store_mod.save(out, store) == 2
  kept = store / "runs" / keep / "policy"
  assert (kept / "variables" / "variables.data-00000-of-00001").read_bytes() == b"\1" * 5000
  assert not (store / "runs" / "figure2/Breakout/dqn/seed0" / "policy").exists()
  assert store_mod.save(out, store) == 0                       # nothing new
  # a stored record without its policy (saved before its policy was exported) gets it next save
  import shutil
  shutil.rmtree(kept)
  assert store_mod.save(out, store) == 1 and (kept / "saved_model.pb").exists()


def test_machine_record_names_the_instruction_sets_in_full(tmp_path):
  from artifact.analysis.results import cpu_kind
  cpuinfo = tmp_path / "cpuinfo"
  kinds = {"avx2 fma": "avx2", "avx2 avx512f": "avx512", "avx2 avx512f avx512_bf16": "avx512+bf16",
           "avx2 avx512f avx512_bf16 amx_bf16 amx_tile": "avx512+amx", "sse4_2": "other"}
  for flags, label in kinds.items():
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu {flags}\n\n"
                       f"processor\t: 1\nflags\t\t: fpu\n")
    rec = store_mod.this_machine(str(cpuinfo))
    assert rec["cpu"] == "Some CPU"
    assert rec["flags"] == {f: f in flags.split() for f in store_mod.ISA_FLAGS}
    assert rec["isa"] == {"avx2": "avx2", "other": "other"}.get(label, "avx512")
    run = tmp_path / label
    run.mkdir()
    (run / "machine.json").write_text(json.dumps(rec))
    assert cpu_kind(run) == f"Some CPU ({label})"
  # an older record (no "flags") keeps its coarse kind; a run's own config.json record is read
  # when there is no machine.json
  (tmp_path / "old").mkdir()
  (tmp_path / "old" / "machine.json").write_text('{"cpu": "AMD EPYC", "isa": "avx512"}')
  assert cpu_kind(tmp_path / "old") == "AMD EPYC (avx512)"
  (tmp_path / "cfg").mkdir()
  (tmp_path / "cfg" / "config.json").write_text(json.dumps(
      {"machine": {"cpu": "Intel Xeon", "isa": {"avx2": True, "avx512f": True, "amx": True}}}))
  assert cpu_kind(tmp_path / "cfg") == "Intel Xeon (avx512+amx)"
  assert cpu_kind(tmp_path / "missing") == "not recorded"
