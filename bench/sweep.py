"""Sweeps: a protocol at a scale -> resolved experiments -> run records -> table.

Cells whose record already exists are skipped, so an interrupted sweep (Ctrl-C or kill -9) started
again finishes the missing cells only and ends with the same table. Records are written atomically
by the process that finished the cell (the local worker, or the Ray driver); nothing else is written until
the table at the end. Where cells run is :mod:`bench.launchers`' business.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.config import diff, flatten, resolve, validate_partial
from bench.config import experiment_id
from bench.errors import ConfigError, DataError
from bench.protocols import Protocol, config_part, load_protocol
from bench.records import check_writable, load_records, read_record, record_path, write_json_atomic

RESULTS = Path("results")


@dataclass
class Job:
    cfg: dict
    cell: dict
    seed: int
    variants: list[dict]
    shrinks: list[str]
    id: str
    path: Path
    label: str = ""
    overrides: dict = field(default_factory=dict)
    data_sha256: str | None = None  # content hash of the data files the cell reads (None: no data)


@dataclass
class SweepResult:
    protocol: str
    scale: str
    ran: int = 0
    skipped: int = 0
    records: list[dict] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def scale_overrides(protocol: Protocol, scale: str) -> tuple[dict, int]:
    # a scale's grid subset is applied through protocol.cell_overrides(scale)
    return protocol.scale_config(scale), protocol.scale_seeds(scale)


def describe_shrinks(paper_cfg: dict, cfg: dict, scale: str) -> list[str]:
    """Every way the scaled config differs from the paper-scale one (seed excluded)."""
    return [f"{k} {a} -> {b} ({scale})" for k, a, b in diff(paper_cfg, cfg) if k != "seed"]


def _for_model(scale_ov: dict, model_name: str) -> dict:
    """A scale's ``model.options.X`` keys apply to the cells whose model has option X (a protocol
    comparing several models shrinks each one's own width)."""
    from bench.registry import get_entry

    opts = get_entry(model_name).defaults
    return {k: v for k, v in scale_ov.items()
            if not k.startswith("model.options.") or k.split(".", 2)[2] in opts}


def _check_scale_options(protocol: Protocol, scale_ov: dict, cells: list[dict], scale: str) -> None:
    from bench.registry import get_entry

    names = {resolve(protocol.base, config_part(c), where=protocol.path)["model"]["name"] for c in cells}
    for k in scale_ov:
        if k.startswith("model.options."):
            opt = k.split(".", 2)[2]
            if not any(opt in get_entry(n).defaults for n in names):
                raise ConfigError(f"{protocol.path}: scales.{scale}.{k}: no model of this protocol "
                                  f"({', '.join(sorted(names))}) has option {opt!r}")


#: A grid value that stands for "one cell per action group of the dataset" (cross-action protocols):
#: the groups come from the data the cell reads, so the protocol runs unchanged on any dataset.
DATASET_ACTIONS = "each_action_group"


def data_files_sha256(data_cfg: dict) -> str:
    """Content hash of the files a cell's data config reads (bench.data: the 3D file and the 2D file
    its source or role resolves to), without loading the dataset."""
    from bench.data import resolve_source
    from bench.data.dataset import data_fingerprint

    resolved = resolve_source(data_cfg["dataset"], data_cfg["source"])
    return data_fingerprint([str(resolved.file_3d), str(resolved.file_2d)])["sha256"]


def _check_overrides(protocol: Protocol, overrides: dict) -> None:
    """A --set may not fix a key the protocol varies from cell to cell (every such cell would become
    the same experiment), and --data must be the kind of data the protocol is written for."""
    values: dict[str, set] = {}
    for k, v in {**protocol.grid, **protocol.eval_variants}.items():
        values[k] = {json.dumps(x, sort_keys=True) for x in v} if isinstance(v, list) else {"each", "group"}
    cells = protocol.cells + protocol.extra_cells
    for k in {k for c in cells for k in c}:  # a key set by some cells: varied if it takes two values
        values.setdefault(k, set()).update(json.dumps(c.get(k, "<base>"), sort_keys=True) for c in cells)
    clash = sorted(k for k in overrides if len(values.get(k, ())) > 1)
    if clash:
        raise ConfigError(f"--set {clash[0]}: protocol {protocol.name} varies {clash[0]} from cell to cell, so "
                          f"every such cell would be the same experiment; drop the --set (2D sources are "
                          f"roles, e.g. cpn and gt, resolved by each dataset)")
    spec = overrides.get("data.dataset")
    if spec:
        want = str(flatten(protocol.base).get("data.dataset", "standin")).partition(":")[0]
        got = str(spec).partition(":")[0]
        # the bundled stand-in stands in for Human3.6M (and for MPI-INF-3DHP in the 3DHP tables): a real
        # folder of either replaces it
        if got != want and not (want == "standin" and got in ("h36m", "3dhp")):
            raise ConfigError(f"--data {spec}: protocol {protocol.name} is written for {want} data; give "
                              f"--data {want}:DIR" + (" (or h36m:DIR, 3dhp:DIR)" if want == "standin" else ""))


def _expand_dataset_grid(protocol: Protocol, scale: str, overrides: dict) -> dict:
    """The grid values that come from the data (``DATASET_ACTIONS``): one single-group list per action
    group of the dataset the protocol's base (with the scale and --set) reads."""
    keys = [k for k, v in protocol.grid.items() if v == DATASET_ACTIONS]
    if not keys:
        return {}
    from bench.engine.data import get_dataset

    data_ov = {k: v for k, v in {**flatten(protocol.scale_config(scale)), **overrides}.items()
               if k.startswith("data.")}
    base = resolve(protocol.base, data_ov, where=protocol.path)
    ds = get_dataset(base["data"])
    groups = ds.action_groups()
    every = [[g] for g in groups]
    kept = (protocol.scales.get(scale) or {}).get("grid") or {}
    out = {}
    for k in keys:
        choice = kept.get(k, every)
        if isinstance(choice, int):  # the scale keeps the N groups with the most training frames
            train = base["data"]["train_subjects"] or ds.train_subjects
            frames = {g: sum(len(s) for s in ds.sequences(train, actions=[g])) for g in groups}
            choice = [[g] for g in sorted(groups, key=lambda g: -frames[g])[:choice]]
        unknown = [v for v in choice if v not in every]
        if unknown:
            raise ConfigError(f"{protocol.path}: scales.{scale}.grid.{k}: {unknown[0]} is not an action group of "
                              f"{base['data']['dataset']} ({', '.join(groups)})")
        out[k] = choice
    return out


def plan(protocol: Protocol, scale: str, seeds: int | None = None, overrides: dict | None = None,
         runs_dir: Path = RESULTS / "runs") -> list[Job]:
    """Resolve every cell x seed of ``protocol`` at ``scale`` (validates everything up front: options,
    recipe, and that every cell's data files exist)."""
    from bench.engine.train import check_training
    from bench.registry import create_model
    import torch

    if scale not in ("smoke", "quick", "paper"):
        raise ConfigError(f"unknown scale {scale!r}; use smoke, quick or paper")
    overrides = overrides or {}
    validate_partial(overrides, "--set")  # a bad --set value is the command line's, not the protocol's
    _check_overrides(protocol, overrides)
    scale_ov, n_seeds = scale_overrides(protocol, scale)
    paper_ov, _ = scale_overrides(protocol, "paper")
    if seeds is not None:
        if seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {seeds}")
        n_seeds = seeds
    variants = protocol.variant_overrides()
    cells = protocol.cell_overrides(scale, _expand_dataset_grid(protocol, scale, overrides))
    _check_scale_options(protocol, scale_ov, cells, scale)
    jobs, checked, data_hash, planned_ids = [], set(), {}, set()
    for cell in cells:
        where = f"{protocol.path}: cell {cell}" if cell else protocol.path
        cell_cfg = config_part(cell)
        model_name = resolve(protocol.base, cell_cfg, where=where)["model"]["name"]
        for seed in range(n_seeds):
            # Order: base < cell < scale < --set. A scale only shrinks budgets, so it wins over a
            # cell's paper recipe; the user's --set wins over everything.
            cfg = resolve(protocol.base, cell_cfg, _for_model(scale_ov, model_name), overrides,
                          {"seed": seed}, where=where)
            paper = resolve(protocol.base, cell_cfg, _for_model(paper_ov, model_name), overrides,
                            {"seed": seed}, where=where)
            if cfg["train"]["processes"] > 1:  # one experiment over several processes: bench train --ddp
                raise ConfigError(f"{where}: train.processes={cfg['train']['processes']}: a sweep trains each "
                                  f"cell in one process (--jobs runs cells side by side); train one experiment "
                                  f"over several processes with bench train MODEL --ddp --nproc N")
            key = repr((cfg["model"], cfg["train"]))
            if key not in checked:  # build once on the meta device: catches invalid option values
                with torch.device("meta"):
                    model = create_model(cfg["model"]["name"], **cfg["model"]["options"])
                try:  # recipe options this model cannot take (a motion-loss interval >= its window)
                    check_training(model, cfg["train"], cfg["model"]["name"])
                except ConfigError as e:
                    raise ConfigError(f"{where}: {e}") from None
                checked.add(key)
            sha = None
            if cfg["run"]["kind"] != "profile":  # profile cells time the model and read no data
                dkey = (cfg["data"]["dataset"], cfg["data"]["source"])
                if dkey not in data_hash:
                    data_hash[dkey] = data_files_sha256(cfg["data"])
                sha = data_hash[dkey]
            run_id = experiment_id(cfg, variants)
            if run_id in planned_ids:  # two cells that a scale made identical: one experiment, trained once
                continue
            planned_ids.add(run_id)
            label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in cell.items()) or "base"
            jobs.append(Job(cfg, cell, seed, variants, describe_shrinks(paper, cfg, scale), run_id,
                            record_path(runs_dir, protocol.name, scale, run_id), f"{label} seed={seed}",
                            dict(overrides), sha))
    return jobs


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
              jobs: int = 1, runs_dir: Path = RESULTS / "runs", tables_dir: Path = RESULTS / "tables",
              plots_dir: Path = RESULTS / "plots", tb_dir: str | None = str(RESULTS / "tb"),
              formats=("md",), log=print, progress: bool = True, launcher: str = "local",
              address: str | None = None, cpus_per_cell: int | None = None) -> SweepResult:
    """Run the missing cells of protocol ``name`` (with ``launcher``, see :mod:`bench.launchers`) and
    write its table (and plot)."""
    from bench.launchers import Sweep, check_options, launch
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
    _, res.outputs = write_outputs(protocol, res.records, scale, tables_dir, plots_dir, formats, all_jobs)
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


def write_outputs(protocol: Protocol, records: list[dict], scale: str, tables_dir: Path,
                  plots_dir: Path | None, formats=("md",), jobs: list[Job] | None = None):
    """Table(s) and plots of one protocol from the records of its plan ``jobs`` (others are left out with
    a footnote); returns (table, paths written)."""
    from bench.report.published import reported_for
    from bench.report.tables import build_table, write_table_files

    if jobs is None:
        jobs = plan(protocol, scale)
    records, others = select_records(records, jobs)
    cells = list({json.dumps(j.cell, sort_keys=True, default=str): j.cell for j in jobs}.values())
    stem = output_stem(protocol.name, scale, jobs[0].overrides if jobs else None)
    reported = reported_for(protocol)
    table = build_table(protocol, records, reported, scale, cells=cells, stem=stem, other_records=others)
    outputs = list(write_table_files(table, Path(tables_dir), formats))
    if plots_dir is not None and records:
        from bench.report.plots import plot_curves, plot_protocol, plot_scatter
        plot_opts = protocol.layout.get("plot") or {}
        plots = Path(plots_dir)
        if plot_opts.get("scatter"):  # layout.plot.scatter: [x metric, y metric] (models.size_vs_error)
            x, y = plot_opts["scatter"]
            outputs.append(plot_scatter(table, reported, plots / f"{stem}.png", x, y))
        else:
            outputs.append(plot_protocol(table, plots / f"{stem}.png"))
        if any(r.get("curve") for r in records):  # profile runs (models.latency) have no training curve
            outputs.append(plot_curves(records, plots / f"{stem}.curves.png"))
        heatmap = plot_opts.get("heatmap")
        if heatmap:  # layout.plot.heatmap: the dotted key of the training action (cross-action protocols)
            from bench.report.plots import plot_cross_action
            outputs.append(plot_cross_action(records, plots / f"{stem}.heatmap.png", train_key=str(heatmap)))
    return table, outputs
