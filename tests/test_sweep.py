"""Sweeps: planning, resume after an interruption (kill -9), same table as an uninterrupted run."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.errors import ConfigError
from bench.protocols import load_protocol
from bench.sweep import plan, run_sweep

PROTO = "videopose3d.receptive_field"
TINY = ["train.window_stride=256", "model.options.channels=16", "eval.metrics=[mpjpe]"]

def _table(work: Path) -> str:
    """The sweep's one table: <protocol>.smoke.set-<hash>.md (its --set is in the file name)."""
    (path,) = (work / "results/tables").glob(f"{PROTO}.smoke.set-*.md")
    return path.read_text()



def sets(items):
    from bench.config import parse_set
    return parse_set(items)


def test_plan_resolves_every_cell_and_records_shrinks(tmp_path):
    jobs = plan(load_protocol(PROTO), "quick", runs_dir=tmp_path)
    assert len(jobs) == 9 and len({j.id for j in jobs}) == 9
    rfs = sorted({j.cfg["model"]["options"]["receptive_field"] for j in jobs})
    assert rfs == [27, 81, 243]
    assert any("model.options.channels 1024 -> 128 (quick)" == s for s in jobs[0].shrinks)
    assert any("train.steps None -> 2000 (quick)" == s for s in jobs[0].shrinks)
    assert all(j.cfg["train"]["steps"] == 2000 and j.cfg["data"]["validation_fraction"] == 0.1 for j in jobs)


def test_plan_rejects_invalid_values_before_running(tmp_path):
    with pytest.raises(ConfigError, match="receptive"):
        plan(load_protocol(PROTO), "smoke", overrides={"model.options.receptive_field": 28}, runs_dir=tmp_path)
    with pytest.raises(ConfigError, match="--seeds"):
        plan(load_protocol(PROTO), "smoke", seeds=0, runs_dir=tmp_path)


def test_noise_protocol_shrinks_each_model_with_its_own_option(tmp_path):
    jobs = plan(load_protocol("dgnet.noise"), "quick", runs_dir=tmp_path)
    by_model = {j.cfg["model"]["name"]: j.cfg for j in jobs}
    assert by_model["martinez"]["model"]["options"]["linear_size"] == 1024  # paper width: cheap enough
    assert by_model["hossain"]["model"]["options"]["hidden_size"] == 256
    assert by_model["dgnet"]["model"]["options"]["channels"] == 32
    # per_model: each model its own batch and step budget
    assert by_model["dgnet"]["train"]["batch_size"] == 64 and by_model["dgnet"]["train"]["steps"] == 1500
    assert by_model["martinez"]["train"]["batch_size"] == 256 and by_model["martinez"]["train"]["steps"] == 2000
    assert by_model["dgnet"]["eval"]["window_step"] == 4


def _sweep_cmd(runs):
    cmd = [sys.executable, "-m", "bench.cli", "ablate", PROTO, "--scale", "smoke", "--runs-dir", str(runs)]
    for s in TINY:
        cmd += ["--set", s]
    return cmd


def test_kill9_then_resume_gives_the_same_table(tmp_path):
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo)}
    # Uninterrupted reference.
    ref = tmp_path / "ref"
    ref.mkdir()
    subprocess.run(_sweep_cmd(ref / "runs"), cwd=ref, env=env, check=True, capture_output=True)
    ref_table = _table(ref)
    # Interrupted run: kill -9 as soon as the first record exists.
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen(_sweep_cmd(work / "runs"), cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not list((work / "runs").rglob("*.json")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = list((work / "runs").rglob("*.json"))
    assert 1 <= len(done) < 3, "the kill should land mid-sweep"
    out = subprocess.run(_sweep_cmd(work / "runs"), cwd=work, env=env, check=True,
                         capture_output=True, text=True).stdout
    assert f"{len(done)} already done" in out
    assert _table(work) == ref_table


def test_in_process_resume_skips_finished_cells(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r1 = run_sweep(PROTO, "smoke", overrides=sets(TINY), runs_dir=tmp_path / "runs",
                   tables_dir=tmp_path / "t", plots_dir=None, tb_dir=None, log=lambda m: None, progress=False)
    r2 = run_sweep(PROTO, "smoke", overrides=sets(TINY), runs_dir=tmp_path / "runs",
                   tables_dir=tmp_path / "t", plots_dir=None, tb_dir=None, log=lambda m: None, progress=False)
    assert (r1.ran, r1.skipped) == (3, 0) and (r2.ran, r2.skipped) == (0, 3)
    assert {r["id"] for r in r1.records} == {r["id"] for r in r2.records}


def test_two_sweeps_writing_one_results_folder_at_once(tmp_path):
    """Two processes run the same sweep into the same folders concurrently: every planned record exists
    exactly once and is valid JSON (atomic replace), no temporary file is left, and the table is complete
    and equal to a sequential run's."""
    import json

    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo)}
    procs = [subprocess.Popen(_sweep_cmd(tmp_path / "runs"), cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    planned = {j.id for j in plan(load_protocol(PROTO), "smoke", overrides=sets(TINY), runs_dir=tmp_path)}
    files = sorted((tmp_path / "runs").rglob("*"))
    records = [f for f in files if f.is_file()]
    assert sorted(f.stem for f in records) == sorted(planned)  # exactly once each, nothing else
    assert all(json.loads(f.read_text())["id"] == f.stem for f in records)
    table = _table(tmp_path)
    rows = [ln for ln in table.splitlines() if ln.startswith(("| 27 ", "| 81 ", "| 243 "))]
    assert len(rows) == 3 and all(ln.split("|")[6].strip() not in ("", "—") for ln in rows)  # MPJPE filled
    assert not [f for f in (tmp_path / "results").rglob("*") if f.name.startswith(".")]
    # The same table as one sequential sweep over the finished records.
    again = subprocess.run(_sweep_cmd(tmp_path / "runs"), cwd=tmp_path, env=env, check=True,
                           capture_output=True, text=True).stdout
    assert "3 already done" in again
    assert _table(tmp_path) == table
