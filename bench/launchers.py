"""Where the cells of a sweep run: in this process or a local process pool (``local``, the default), or
as Ray tasks on a local Ray instance or an existing cluster (``ray``).

Both launchers end in the same place: one run record per cell at ``Job.path``, written atomically. With
Ray the record is written by the driver (this process), not by the worker: a worker on another machine
has no access to this results folder, and a task that Ray runs again after its worker died cannot leave
a second or half-written copy behind. Ray is imported only when ``--launcher ray`` is asked for.
"""
from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError, ConfigError
from bench.records import write_json_atomic

LAUNCHERS = ("local", "ray")
# Ray runs a task again when its worker process or node dies (not when the task raises an error):
# a cell survives this many lost workers.
RAY_MAX_RETRIES = 3
RAY_PIN = "ray==2.60.0"


@dataclass
class Sweep:
    """What every cell of one sweep shares."""
    protocol: str
    scale: str
    runs_dir: Path
    tb_dir: str | None
    log: object = print
    progress: bool = False


def _is_profile(job) -> bool:
    return job.cfg["run"]["kind"] == "profile"


# ---------------------------------------------------------------------------------------- local


def _die_with_parent(parent_pid: int, poll_s: float = 2.0) -> None:
    """Pool-worker initializer: exit when the sweep process that started the pool is gone (killed with
    SIGTERM or SIGKILL it cannot shut its pool down; the workers would train on as orphans, holding the
    cores, and write records nobody planned any more)."""
    import threading

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="die-with-parent").start()


def _pool_worker(job, protocol: str, scale: str, runs_dir: str, threads: int, tb_dir: str | None):
    import torch

    from bench.cells import execute
    torch.set_num_threads(threads)
    rec = execute(job.cfg, variants=job.variants, protocol=protocol, scale=scale, cell=job.cell,
                  shrinks=job.shrinks, overrides=job.overrides, runs_dir=runs_dir, tb_dir=tb_dir)
    return rec["id"], rec["wall_time_s"]


def run_local(todo: list, sweep: Sweep, jobs: int) -> int:
    """Cells one after another in this process (``jobs == 1``) or in a pool of ``jobs`` spawned
    processes, threads split among them. Profile cells are timed one at a time. Returns cells run."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from multiprocessing import get_context

    name, log = sweep.protocol, sweep.log
    if jobs > 1 and any(_is_profile(j) for j in todo):
        log(f"[{name}] profile runs are timed one at a time: --jobs {jobs} ignored")
        jobs = 1
    threads = max(1, (os.cpu_count() or 1) // jobs)
    ran = 0
    if jobs == 1:
        import torch

        from bench.cells import execute
        torch.set_num_threads(threads)
        for i, job in enumerate(todo, 1):
            tj = time.time()
            execute(job.cfg, variants=job.variants, protocol=name, scale=sweep.scale, cell=job.cell,
                    shrinks=job.shrinks, overrides=job.overrides, runs_dir=sweep.runs_dir, tb_dir=sweep.tb_dir,
                    progress=sweep.progress)
            ran += 1
            log(f"[{name}] {i}/{len(todo)} {job.label}: done in {time.time() - tj:.0f} s")
        return ran
    if not todo:
        return 0
    ctx = get_context("spawn")  # fork after torch's thread pool started can deadlock
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        pending = {pool.submit(_pool_worker, j, name, sweep.scale, str(sweep.runs_dir), threads,
                               sweep.tb_dir): j for j in todo}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = pending.pop(fut)
                    _, secs = fut.result()
                    ran += 1
                    log(f"[{name}] {ran}/{len(todo)} {job.label}: done in {secs:.0f} s")
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    return ran


# ------------------------------------------------------------------------------------------ ray


def run_cell(job, protocol: str, scale: str, threads: int, with_tb: bool):
    """One cell on a Ray worker: train and evaluate in a private temporary folder and return the run
    record and the TensorBoard event files (relative path -> bytes) for the driver to write."""
    import torch

    from bench.cells import execute
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="bench-cell-") as tmp:
        tb = os.path.join(tmp, "tb") if with_tb else None
        rec = execute(job.cfg, variants=job.variants, protocol=protocol, scale=scale, cell=job.cell,
                      shrinks=job.shrinks, overrides=job.overrides, runs_dir=os.path.join(tmp, "runs"), tb_dir=tb)
        events = {}
        if tb:
            events = {str(f.relative_to(tb)): f.read_bytes() for f in Path(tb).rglob("*") if f.is_file()}
    return rec, events


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast with one line when nothing listens at HOST:PORT (ray.init would retry for minutes)."""
    if address.startswith("ray://"):
        address = address[len("ray://"):]
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--address {address!r}: expected HOST:PORT (or ray://HOST:PORT)")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise ConfigError(f"--address {address}: no Ray cluster reachable there ({e.strerror or e})") from None


def _start_ray(address: str | None, cores: int):
    """Connect to the cluster at ``address`` (shipping this harness's code and bundled data to it), or
    start a private local instance with ``cores`` CPU slots. Returns (ray, started_here)."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--launcher ray needs Ray, which is not installed: pip install '{RAY_PIN}' "
                          f"(or pip install -e '.[ray]')") from None
    if ray.is_initialized():  # a caller (a notebook, a test) already connected: use its cluster
        return ray, False
    quiet = dict(logging_level=logging.WARNING, log_to_driver=False)
    if address:
        _check_reachable(address)
        import baselines
        import bench
        # The cluster runs exactly this checkout's code (and its bundled stand-in data), not whatever
        # version its nodes have installed.
        modules = [str(Path(bench.__file__).parent), str(Path(baselines.__file__).parent)]
        try:
            ray.init(address=address, runtime_env={"py_modules": modules,
                                                   "excludes": ["__pycache__", "*.pyc"]}, **quiet)
        except ConnectionError as e:  # e.g. the cluster wants a token: Ray's own log says which
            raise ConfigError(f"--address {address}: could not join the Ray cluster ({e}); if it uses "
                              f"token authentication set RAY_AUTH_MODE=token and its token "
                              f"(RAY_AUTH_TOKEN or ~/.ray/auth_token)") from None
    else:
        # address="local": always a new private instance, even when RAY_ADDRESS points elsewhere.
        ray.init(address="local", num_cpus=cores, include_dashboard=False,
                 object_store_memory=100 * 1024 ** 2, **quiet)
    return ray, True


def _raise_cell_error(ray, job, err: Exception):
    """A cell's own error (a ConfigError, a DataError) as the one line the CLI prints; a worker lost more
    often than Ray retries as a BenchError naming the cell."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, BenchError):
        raise cause from None
    if isinstance(err, (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                        ray.exceptions.TaskCancelledError)):
        raise BenchError(f"cell {job.label}: its Ray worker was lost {RAY_MAX_RETRIES + 1} times "
                         f"({type(err).__name__})") from None
    raise err


def run_ray(todo: list, sweep: Sweep, jobs: int = 1, address: str | None = None,
            cpus_per_cell: int | None = None) -> int:
    """Cells as Ray tasks; the driver writes each record as soon as its task returns, so an interrupted
    sweep keeps every finished cell. Each task asks for ``cpus_per_cell`` CPUs (default: this machine's
    cores // ``jobs``, so a local instance runs ``jobs`` cells at once) and runs that many torch threads,
    and for one GPU when the cluster has any. Profile cells are submitted one at a time so that no two
    timings overlap. Returns the number of cells run."""
    if not todo:
        return 0
    cores = os.cpu_count() or 1
    if cpus_per_cell is None:
        cpus_per_cell = max(1, cores // jobs)
    name, log = sweep.protocol, sweep.log
    ray, started = _start_ray(address, cores)
    try:
        resources = ray.cluster_resources()
        gpus = 1 if resources.get("GPU", 0) >= 1 else 0
        if cpus_per_cell > resources.get("CPU", 0):
            raise ConfigError(f"--cpus-per-cell {cpus_per_cell}: the Ray cluster has only "
                              f"{resources.get('CPU', 0):g} CPUs")
        where = address or f"a local Ray instance ({cores} CPUs)"
        log(f"[{name}] Ray: {len(todo)} cells on {where}, {cpus_per_cell} CPU(s)"
            f"{' and 1 GPU' if gpus else ''} per cell, up to {RAY_MAX_RETRIES} retries per lost worker")
        task = ray.remote(num_cpus=cpus_per_cell, num_gpus=gpus, max_retries=RAY_MAX_RETRIES,
                          retry_exceptions=False)(run_cell)
        with_tb = sweep.tb_dir is not None
        args = (name, sweep.scale, cpus_per_cell, with_tb)
        training = [j for j in todo if not _is_profile(j)]
        profiles = [j for j in todo if _is_profile(j)]
        pending = {task.remote(j, *args): j for j in training}
        ran = 0
        try:
            while pending or profiles:
                if not pending:
                    job = profiles.pop(0)
                    pending[task.remote(job, *args)] = job
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    job = pending.pop(ref)
                    try:
                        rec, events = ray.get(ref)
                    except Exception as e:  # noqa: BLE001 - sorted out just below
                        _raise_cell_error(ray, job, e)
                    write_json_atomic(job.path, rec)
                    for rel, data in events.items():
                        _write_bytes_atomic(Path(sweep.tb_dir) / rel, data)
                    ran += 1
                    log(f"[{name}] {ran}/{len(todo)} {job.label}: done in {rec['wall_time_s']:.0f} s")
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return ran
    finally:
        if started:
            ray.shutdown()


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    from bench.records import write_atomic

    write_atomic(path, lambda tmp: Path(tmp).write_bytes(data))


def check_options(launcher: str = "local", jobs: int = 1, address: str | None = None,
                  cpus_per_cell: int | None = None) -> None:
    """Reject bad launcher options before a sweep writes anything."""
    if launcher not in LAUNCHERS:
        raise ConfigError(f"unknown launcher {launcher!r}; use one of: {', '.join(LAUNCHERS)}")
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    if launcher == "local" and (address or cpus_per_cell is not None):
        raise ConfigError("--address and --cpus-per-cell need --launcher ray")
    if cpus_per_cell is not None and cpus_per_cell < 1:
        raise ConfigError(f"--cpus-per-cell must be >= 1, got {cpus_per_cell}")


def launch(todo: list, sweep: Sweep, launcher: str = "local", jobs: int = 1, address: str | None = None,
           cpus_per_cell: int | None = None) -> int:
    """Run the cells ``todo`` with ``launcher``; returns the number of cells run."""
    check_options(launcher, jobs, address, cpus_per_cell)
    if launcher == "ray":
        return run_ray(todo, sweep, jobs, address, cpus_per_cell)
    return run_local(todo, sweep, jobs)
