"""./run_all.sh killed (SIGKILL to its whole process group) at up to four random moments (every other
one soon after a cell finished, so finished cells exist to be kept), then run to the end: it finishes the
job, and no cell finished before a kill is ever computed again."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Two tiny protocols (4 + 2 cells), so kills land in setup, in training, between protocols, in tables.
TINY = """title: "Tiny {name} (run_all interruption test)"
base:
  model:
    name: videopose3d
    options: {{channels: 16, receptive_field: 27}}
  data: {{dataset: standin, source: gt}}
  train: {{epochs: 1, batch_size: 256, window_stride: 256}}
  eval: {{metrics: [mpjpe]}}
grid:
  {grid}
seeds: 1
layout:
  rows: [{row}]
  metrics: [mpjpe]
scales:
  smoke: {{}}
"""
PROTOCOLS = {"tiny.a": ("train.lr: [0.001, 0.002, 0.003, 0.004]", "train.lr"),
             "tiny.b": ("model.options.dropout: [0.1, 0.5]", "model.options.dropout")}


def _copy_repo(dst: Path) -> Path:
    """The checkout without its results, so run_all.sh (which works in its own folder) writes only here."""
    shutil.copytree(REPO, dst, ignore=shutil.ignore_patterns(
        ".git", "runs", "tb", "checkpoints", "profiles", "tables", "plots", "build", "*.egg-info",
        "__pycache__", ".pytest_cache"))
    for name, (grid, row) in PROTOCOLS.items():
        folder, file = name.split(".")
        (dst / "protocols" / folder).mkdir(exist_ok=True)
        (dst / "protocols" / folder / f"{file}.yaml").write_text(TINY.format(name=name, grid=grid, row=row))
    return dst


def _start(root: Path, out=subprocess.PIPE) -> subprocess.Popen:
    env = {**os.environ, "PYTHON": sys.executable, "SCALE": "smoke", "PROTOCOLS": " ".join(PROTOCOLS),
           "PYTHONPATH": str(root)}
    return subprocess.Popen(["bash", str(root / "run_all.sh")], cwd=root, env=env, start_new_session=True,
                            stdout=out, stderr=subprocess.STDOUT, text=True)


def _records(root: Path) -> dict[Path, bytes]:
    return {f: f.read_bytes() for f in (root / "results/runs").rglob("*.json")}


def test_run_all_killed_at_random_moments_resumes_without_recomputing(tmp_path):
    root = _copy_repo(tmp_path / "repo")
    seed = int(os.environ.get("BENCH_KILL_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    seen: dict[Path, bytes] = {}  # every record that existed after some kill, as it was then
    kills = 0
    for attempt in range(4):
        with open(tmp_path / f"attempt{attempt}.log", "w") as log:
            proc = _start(root, log)
            try:
                if attempt % 2:  # a random moment soon after the next cell's record appears
                    while proc.poll() is None and len(_records(root)) <= len(seen):
                        time.sleep(0.05)
                    proc.wait(timeout=rng.uniform(0.0, 3.0))
                else:  # a random moment from the start: setup, planning, training, tables
                    proc.wait(timeout=rng.uniform(1.0, 12.0))
                finished = True
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the shell, bench and every worker at once
                proc.wait()
                kills += 1
                finished = False
        now = _records(root)
        for f, data in seen.items():  # kept, and never rewritten by a later attempt
            assert now.get(f) == data, f"seed {seed}: {f} changed or vanished after kill {kills}"
        seen.update(now)
        if finished:
            break
    # And once more to the end (or the first time, when no kill landed after the last one).
    final = _start(root)
    out, _ = final.communicate(timeout=900)
    assert final.returncode == 0, f"seed {seed}: {out}"
    now = _records(root)
    for f, data in seen.items():
        assert now[f] == data, f"seed {seed}: {f} was computed again"
    trained = sum(int(ln.split("] ")[1].split()[0]) for ln in out.splitlines() if " run(s) trained" in ln)
    assert trained == len(now) - len(seen), f"seed {seed}: only the missing cells run\n{out}"
    # Every cell exactly once, every record whole, both tables complete.
    per_protocol = {p: [json.loads(f.read_text()) for f in (root / "results/runs" / p / "smoke").glob("*.json")]
                    for p in PROTOCOLS}
    assert {p: len(r) for p, r in per_protocol.items()} == {"tiny.a": 4, "tiny.b": 2}, f"seed {seed}"
    assert all(r["metrics"][""]["mpjpe"] > 0 for recs in per_protocol.values() for r in recs)
    for p, n in (("tiny.a", 4), ("tiny.b", 2)):
        table = (root / "results/tables" / f"{p}.smoke.md").read_text()
        rows = [ln for ln in table.splitlines() if ln.startswith("| 0.")]
        assert len(rows) == n and all(ln.split("|")[2].strip() not in ("", "—") for ln in rows), table
    assert "[run_all] done in" in out and (root / "results/README.md").exists()
    print(f"seed {seed}: {kills} kills, {len(seen)} records kept across them, {trained} trained at the end")
