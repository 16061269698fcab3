"""Sweeps: a protocol at a scale -> its plan (:mod:`bench.planning`) -> run records -> table.

Cells whose record already exists are skipped, so an interrupted sweep (Ctrl-C or kill -9) started
again finishes the missing cells only and ends with the same table. Records are written atomically
by the process that finished the cell (the local worker, or the Ray driver); nothing else is written until
the table at the end. Where cells run is :mod:`bench.launchers`' business; which files a table gets is
:mod:`bench.report.outputs`'.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.config import experiment_id
from bench.errors import DataError
from bench.paths import results_root
from bench.planning import Job, plan
from bench.protocols import Protocol, load_protocol
from bench.records import check_writable, load_records, read_record, write_json_atomic


class _UnderRoot:
    """Default of an output folder of :func:`run_sweep`: its place under the results root (None: none)."""

    def __repr__(self) -> str:
        return "<under bench.paths.results_root()>"


UNDER_ROOT = _UnderRoot()


@dataclass
class SweepResult:
    protocol: str
    scale: str
    ran: int = 0
    skipped: int = 0
    records: list[dict] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def record_data_sha256(rec: dict) -> str | None:
    """The content hash of the data a record was made from (None: a profile run, or a record written
    before records carried it)."""
    return (((rec.get("dataset") or {}).get("fingerprint")) or {}).get("sha256")


def _move_aside(job: Job, why: str, tag: str, log) -> None:
    aside = job.path.with_name(f"{job.path.name}.{tag}-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(job.path, aside)
    log(f"{why}: moved aside to {aside.name}; the cell runs again")


def finished(job: Job, log=print) -> bool:
    """Whether the job's record exists, can be read and was made from the data files the job reads now.
    A corrupt record (cut short, edited, another schema) or one made from other data (a file replaced in
    place, or a record from before records carried a content hash) is moved aside to
    ``<id>.json.<corrupt|stale>-<time>`` with a message, and the cell runs again."""
    if not job.path.exists():
        return False
    try:
        rec = read_record(job.path)
    except DataError as e:
        _move_aside(job, str(e), "corrupt", log)
        return False
    made_from = record_data_sha256(rec)
    if job.data_sha256 is not None and made_from != job.data_sha256:
        why = ("no record of the data it was made from" if made_from is None
               else f"made from other data files (sha256 {made_from[:12]}, now {job.data_sha256[:12]})")
        _move_aside(job, f"run record {job.path}: {why}", "stale", log)
        return False
    return True


def reuse_record(job: Job, protocol: str, scale: str, runs_dir: Path) -> bool:
    """Copy the record of the identical experiment (same resolved config and evaluation variants, hence
    the same id) that another protocol already ran at this scale, so a cell shared by several tables is
    trained once. The copy names the protocol it came from under ``shared_from``."""
    for other in sorted(runs_dir.glob(f"*/{scale}/{job.id}.json")):
        if other.parent.parent.name == protocol:
            continue
        try:
            rec = read_record(other)
        except DataError:
            continue  # unreadable or of another version: run it again rather than trust it
        if rec.get("id") != job.id or rec.get("config") != json.loads(json.dumps(job.cfg)):
            continue
        if job.data_sha256 is not None and record_data_sha256(rec) != job.data_sha256:
            continue  # the same config made from other data files
        rec.update(protocol=protocol, cell=job.cell, shrinks=job.shrinks, overrides=job.overrides,
                   shared_from=rec.get("shared_from") or rec.get("protocol"))
        write_json_atomic(job.path, rec)
        return True
    return False


def run_sweep(name: str, scale: str = "quick", seeds: int | None = None, overrides: dict | None = None,
              jobs: int = 1, runs_dir: Path | None = None, tables_dir: Path | None = None,
              plots_dir: Path | None = UNDER_ROOT, tb_dir: str | None = UNDER_ROOT,
              formats=("md",), log=print, progress: bool = True, launcher: str = "local",
              address: str | None = None, cpus_per_cell: int | None = None) -> SweepResult:
    """Run the missing cells of protocol ``name`` (with ``launcher``, see :mod:`bench.launchers`) and
    write its table (and plot). ``runs_dir``, ``tables_dir``, ``plots_dir`` and ``tb_dir`` default to
    ``runs/``, ``tables/``, ``plots/`` and ``tb/`` of :func:`bench.paths.results_root`; ``plots_dir=None``
    draws no plot, ``tb_dir=None`` writes no TensorBoard events."""
    from bench.launchers import Sweep, check_options, launch
    root = results_root()
    runs_dir = Path(runs_dir) if runs_dir is not None else root / "runs"
    tables_dir = Path(tables_dir) if tables_dir is not None else root / "tables"
    plots_dir = root / "plots" if plots_dir is UNDER_ROOT else plots_dir
    tb_dir = str(root / "tb") if tb_dir is UNDER_ROOT else tb_dir
    check_options(launcher, jobs, address, cpus_per_cell)
    protocol = load_protocol(name)
    all_jobs = plan(protocol, scale, seeds, overrides, Path(runs_dir))
    check_writable(Path(runs_dir) / name / scale, "runs folder", "choose another with --runs-dir")
    for folder, what in ((tables_dir, "tables folder"), (plots_dir, "plots folder")):
        if folder is not None:
            check_writable(folder, what, "free space or make it writable")
    todo = [j for j in all_jobs if not finished(j, log)]
    reused = [j for j in todo if reuse_record(j, name, scale, Path(runs_dir))]
    todo = [j for j in todo if j not in reused]
    res = SweepResult(protocol=name, scale=scale, skipped=len(all_jobs) - len(todo))
    t0 = time.time()
    shared = f", {len(reused)} of them shared with other protocols" if reused else ""
    log(f"[{name}] {scale}: {len(all_jobs)} runs ({res.skipped} already done{shared}, {len(todo)} to run)")
    sweep = Sweep(name, scale, Path(runs_dir), tb_dir, log, progress)
    res.ran = launch(todo, sweep, launcher, jobs, address, cpus_per_cell)
    res.records = [r for r in load_records(runs_dir, name, scale) if r["id"] in {j.id for j in all_jobs}]
    _, res.outputs = write_protocol_outputs(protocol, res.records, scale, all_jobs, tables_dir, plots_dir,
                                            formats)
    res.seconds = time.time() - t0
    return res


def output_stem(protocol: str, scale: str, overrides: dict | None) -> str:
    """File name (without extension) of a sweep's table and plots: ``<protocol>.<scale>``, plus
    ``.<dataset>-<hash>`` when --data / --set changed the data (``.set-<hash>`` for other --set), so
    that no sweep overwrites the table of another (a committed quick table included)."""
    stem = f"{protocol}.{scale}"
    if overrides:
        blob = json.dumps(overrides, sort_keys=True, default=str).encode()
        tag = str(overrides["data.dataset"]).partition(":")[0] if "data.dataset" in overrides else "set"
        stem += f".{tag}-{hashlib.sha256(blob).hexdigest()[:6]}"
    return stem


def _cell_key(cfg: dict, variants: list[dict]) -> str:
    """The id of a config with its seed removed: records of one cell (any seed) share it."""
    return experiment_id({**cfg, "seed": None}, variants)


def select_records(records: list[dict], jobs: list[Job]) -> tuple[list[dict], str]:
    """The records of the planned cells (any seed) made from the data the plan reads, and a footnote
    on the others (records of other --set / --data, of older configurations, or of replaced data
    files): a table never pools records of different configurations or data."""
    planned = {_cell_key(j.cfg, j.variants): j.data_sha256 for j in jobs}
    keep, other, stale, unknown = [], 0, 0, 0
    for r in records:
        key = _cell_key(r.get("config") or {}, r.get("variants") or [{}])
        made_from = record_data_sha256(r)
        if key not in planned:
            other += 1
        elif planned[key] is not None and made_from is not None and made_from != planned[key]:
            stale += 1
        else:
            unknown += planned[key] is not None and made_from is None
            keep.append(r)
    parts = []
    if other:
        parts.append(f"{other} run record(s) of this protocol and scale belong to other configurations "
                     f"(another --set or --data, or an older version of the protocol) and are not in this table")
    if stale:
        parts.append(f"{stale} were made from other data files than the ones the plan reads now and are "
                     f"left out (bench ablate runs their cells again)")
    if unknown:
        parts.append(f"{unknown} record(s) in the table predate content hashes of the data, so their data "
                     f"is not verified (bench ablate runs their cells again)")
    return keep, ("; ".join(parts) + "." if parts else "")


def write_protocol_outputs(protocol: Protocol, records: list[dict], scale: str, jobs: list[Job],
                           tables_dir: Path, plots_dir: Path | None, formats=("md",)):
    """The table of one protocol from the records of its plan ``jobs`` (others are left out with a
    footnote; the plan's cells without a record show "—"), written with its plots
    (:func:`bench.report.outputs.write_outputs`); returns (table, paths written)."""
    from bench.report.builder import build_table
    from bench.report.outputs import write_outputs
    from bench.report.published import reported_for

    records, others = select_records(records, jobs)
    stem = output_stem(protocol.name, scale, jobs[0].overrides if jobs else None)
    reported = reported_for(protocol)
    table = build_table(protocol, records, reported, scale, jobs=jobs, stem=stem, other_records=others)
    return table, write_outputs(table, records, reported, tables_dir, plots_dir, formats)
