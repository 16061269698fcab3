"""Sweeps: a protocol at a scale -> resolved experiments -> run records -> table.

Cells whose record already exists are skipped, so an interrupted sweep (Ctrl-C or kill -9) started
again finishes the missing cells only and ends with the same table. Records are written atomically
by the process that finished the cell (the local worker, or the Ray driver); nothing else is written until
the table at the end. Where cells run is :mod:`bench.launchers`' business.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.config import diff, resolve, validate_partial
from bench.engine.run import experiment_id
from bench.errors import ConfigError, DataError
from bench.protocols import Protocol, load_protocol
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

    names = {resolve(protocol.base, c, where=protocol.path)["model"]["name"] for c in cells}
    for k in scale_ov:
        if k.startswith("model.options."):
            opt = k.split(".", 2)[2]
            if not any(opt in get_entry(n).defaults for n in names):
                raise ConfigError(f"{protocol.path}: scales.{scale}.{k}: no model of this protocol "
                                  f"({', '.join(sorted(names))}) has option {opt!r}")


def plan(protocol: Protocol, scale: str, seeds: int | None = None, overrides: dict | None = None,
         runs_dir: Path = RESULTS / "runs") -> list[Job]:
    """Resolve every cell x seed of ``protocol`` at ``scale`` (validates everything up front)."""
    from bench.engine.train import check_training
    from bench.registry import create_model
    import torch

    if scale not in ("smoke", "quick", "paper"):
        raise ConfigError(f"unknown scale {scale!r}; use smoke, quick or paper")
    overrides = overrides or {}
    validate_partial(overrides, "--set")  # a bad --set value is the command line's, not the protocol's
    scale_ov, n_seeds = scale_overrides(protocol, scale)
    paper_ov, _ = scale_overrides(protocol, "paper")
    if seeds is not None:
        if seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {seeds}")
        n_seeds = seeds
    variants = protocol.variant_overrides()
    cells = protocol.cell_overrides(scale)
    _check_scale_options(protocol, scale_ov, cells, scale)
    jobs, checked = [], set()
    for cell in cells:
        where = f"{protocol.path}: cell {cell}" if cell else protocol.path
        model_name = resolve(protocol.base, cell, where=where)["model"]["name"]
        for seed in range(n_seeds):
            # Order: base < cell < scale < --set. A scale only shrinks budgets, so it wins over a
            # cell's paper recipe; the user's --set wins over everything.
            cfg = resolve(protocol.base, cell, _for_model(scale_ov, model_name), overrides,
                          {"seed": seed}, where=where)
            paper = resolve(protocol.base, cell, _for_model(paper_ov, model_name), overrides,
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
            run_id = experiment_id(cfg, variants)
            label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in cell.items()) or "base"
            jobs.append(Job(cfg, cell, seed, variants, describe_shrinks(paper, cfg, scale), run_id,
                            record_path(runs_dir, protocol.name, scale, run_id), f"{label} seed={seed}"))
    return jobs


def finished(job: Job, log=print) -> bool:
    """Whether the job's record exists and can be read. A corrupt one (cut short, edited, another
    schema) is moved aside to ``<id>.json.corrupt-<time>`` with a message, and the cell runs again."""
    if not job.path.exists():
        return False
    try:
        read_record(job.path)
        return True
    except DataError as e:
        aside = job.path.with_name(f"{job.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(job.path, aside)
        log(f"{e}: moved aside to {aside.name}; the cell runs again")
        return False


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
        rec.update(protocol=protocol, cell=job.cell, shrinks=job.shrinks,
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
    _, res.outputs = write_outputs(protocol, res.records, scale, tables_dir, plots_dir, formats)
    res.seconds = time.time() - t0
    return res


def write_outputs(protocol: Protocol, records: list[dict], scale: str, tables_dir: Path,
                  plots_dir: Path | None, formats=("md",)):
    """Table(s) and plots of one protocol from its records; returns (table, paths written)."""
    from bench.report.reported import reported_for
    from bench.report.tables import build_table, write_table_files

    reported = reported_for(protocol)
    table = build_table(protocol, records, reported, scale)
    outputs = list(write_table_files(table, Path(tables_dir), formats))
    if plots_dir is not None and records:
        from bench.report.plots import plot_curves, plot_protocol, plot_scatter
        plot_opts = protocol.layout.get("plot") or {}
        if plot_opts.get("scatter"):  # layout.plot.scatter: [x metric, y metric] (models.size_vs_error)
            x, y = plot_opts["scatter"]
            outputs.append(plot_scatter(table, reported, Path(plots_dir) / f"{protocol.name}.png", x, y))
        else:
            outputs.append(plot_protocol(table, Path(plots_dir) / f"{protocol.name}.png"))
        if any(r.get("curve") for r in records):  # profile runs (models.latency) have no training curve
            outputs.append(plot_curves(records, Path(plots_dir) / f"{protocol.name}.curves.png"))
        heatmap = (protocol.layout.get("plot") or {}).get("heatmap")
        if heatmap:  # layout.plot.heatmap: the dotted key of the training action (cross-action protocols)
            from bench.report.plots import plot_cross_action
            outputs.append(plot_cross_action(records, Path(plots_dir) / f"{protocol.name}.heatmap.png",
                                             train_key=str(heatmap)))
    return table, outputs
