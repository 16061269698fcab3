"""Launchers: the Ray launcher gives the same records and table as the local pool, survives a worker
killed mid-sweep (Ray retries the cell; the driver writes each record once), joins an existing cluster,
and rejects bad options before writing anything."""
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.errors import ConfigError
from bench.launchers import Sweep, _check_reachable, check_options, run_ray
from bench.protocols import load_protocol
from bench.sweep import plan

PROTO = "videopose3d.receptive_field"
TINY = ["train.window_stride=256", "model.options.channels=16", "eval.metrics=[mpjpe]"]
REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="needs ray: pip install -e '.[test]' (./run_all.sh test installs it)")

def _table(work: Path) -> str:
    """The sweep's one table: <protocol>.smoke.set-<hash>.md (its --set is in the file name)."""
    (path,) = (work / "results/tables").glob(f"{PROTO}.smoke.set-*.md")
    return path.read_text()



def _sweep(runs: Path, *extra: str, seeds: int = 1) -> list[str]:
    cmd = [sys.executable, "-m", "bench.cli", "ablate", PROTO, "--scale", "smoke", "--runs-dir", str(runs),
           "--seeds", str(seeds), *extra]
    for s in TINY:
        cmd += ["--set", s]
    return cmd


def _records(runs: Path) -> dict:
    return {f.stem: json.loads(f.read_text()) for f in runs.rglob("*.json")}


def _planned(seeds: int, runs: Path) -> set:
    from bench.config import parse_set
    return {j.id for j in plan(load_protocol(PROTO), "smoke", seeds=seeds, overrides=parse_set(TINY),
                               runs_dir=runs)}


@needs_ray
def test_ray_sweep_gives_the_same_records_and_table_as_the_local_pool(tmp_path):
    """Two cells at once either way (--jobs 2: one torch thread each), so the metrics agree to the bit."""
    out = {}
    for launcher in ("local", "ray"):
        work = tmp_path / launcher
        work.mkdir()
        res = subprocess.run(_sweep(work / "runs", "--jobs", "2", "--launcher", launcher), cwd=work, env=ENV,
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr
        out[launcher] = (_records(work / "runs"), _table(work), res)
    (local, local_table, _), (remote, ray_table, res) = out["local"], out["ray"]
    assert "Ray: 3 cells on a local Ray instance" in res.stdout
    assert set(local) == set(remote) == _planned(1, tmp_path)
    for rid in local:
        assert remote[rid]["metrics"] == local[rid]["metrics"]
        assert remote[rid]["config"] == local[rid]["config"] and remote[rid]["curve"][0]["train_mpjpe"] == \
            local[rid]["curve"][0]["train_mpjpe"]
    assert ray_table == local_table
    # The driver also brought back the TensorBoard curves of every cell.
    assert len(list((tmp_path / "ray/results/tb").rglob("events.out.tfevents.*"))) == 3


def _running_cells() -> list[int]:
    """PIDs of Ray workers executing a sweep cell (Ray titles them ``ray::run_cell``)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes().startswith(b"ray::run_cell"):
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


@needs_ray
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray workers through /proc")
def test_killing_a_ray_worker_mid_sweep_loses_and_duplicates_no_cell(tmp_path):
    runs = tmp_path / "runs"
    proc = subprocess.Popen(_sweep(runs, "--jobs", "2", "--launcher", "ray", seeds=2), cwd=tmp_path, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed, deadline = None, time.time() + 300
    while killed is None and time.time() < deadline and proc.poll() is None:
        pids = _running_cells()
        if pids:
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)  # the worker dies mid-cell, as on a lost node
        time.sleep(0.05)
    out, err = proc.communicate(timeout=600)
    assert killed is not None, f"no Ray worker was seen running a cell\n{out}\n{err}"
    assert proc.returncode == 0, err
    recs = _records(runs)
    files = [f for f in runs.rglob("*") if f.is_file()]
    assert len(files) == len(recs) == 6 and set(recs) == _planned(2, tmp_path)  # each once, nothing else
    assert all(r["id"] == rid and r["metrics"][""]["mpjpe"] > 0 for rid, r in recs.items())
    assert out.count(": done in ") == 6  # the killed cell was run again, and reported once
    table = _table(tmp_path)
    rows = [ln for ln in table.splitlines() if ln.startswith(("| 27 ", "| 81 ", "| 243 "))]
    assert len(rows) == 3 and all("(n=2)" in ln for ln in rows)


@needs_ray
@pytest.mark.slow  # 16-18 s; the CI budget is tight (run with -m slow)
def test_ray_sweep_on_an_existing_cluster(tmp_path):
    """``ray start --head`` as the "existing cluster"; the harness's code and bundled data are shipped
    to it (runtime_env py_modules), and the records land here."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**ENV, "RAY_AUTH_MODE": "token"}
    head = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--port", str(port),
                             "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats",
                             "--block"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                _check_reachable(f"127.0.0.1:{port}", timeout=1)
                break
            except ConfigError:
                time.sleep(0.5)
        res = subprocess.run(_sweep(tmp_path / "runs", "--launcher", "ray", "--address", f"127.0.0.1:{port}",
                                    "--cpus-per-cell", "1"), cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=600)
        assert res.returncode == 0, res.stderr
        assert f"3 cells on 127.0.0.1:{port}, 1 CPU(s) per cell" in res.stdout
        assert set(_records(tmp_path / "runs")) == _planned(1, tmp_path)
    finally:
        head.send_signal(signal.SIGTERM)  # --block: stops every process of this head node
        head.wait(timeout=60)


def test_bad_launcher_options_fail_before_anything_is_written(tmp_path):
    for kwargs, msg in [({"launcher": "slurm"}, "unknown launcher 'slurm'"), ({"jobs": 0}, "--jobs must be"),
                        ({"address": "h:1"}, "need --launcher ray"),
                        ({"launcher": "ray", "cpus_per_cell": 0}, "--cpus-per-cell must be")]:
        with pytest.raises(ConfigError, match=msg):
            check_options(**kwargs)
    res = subprocess.run(_sweep(tmp_path / "runs", "--address", "127.0.0.1:1"), cwd=tmp_path, env=ENV,
                         capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        "error: --address and --cpus-per-cell need --launcher ray"]
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()


@needs_ray
def test_unreachable_cluster_is_one_error_line_within_seconds(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.time()
    res = subprocess.run(_sweep(tmp_path / "runs", "--launcher", "ray", "--address", f"127.0.0.1:{port}"),
                         cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and time.time() - t0 < 60
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --address 127.0.0.1:{port}: no Ray cluster")
    assert not list((tmp_path / "runs").rglob("*.json"))
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        _check_reachable("somewhere")


def test_missing_ray_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"--launcher ray needs Ray, which is not installed: pip install"):
        run_ray([object()], Sweep(PROTO, "smoke", tmp_path, None, log=lambda m: None))
