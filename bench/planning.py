"""The plan of a protocol at a scale: every cell x seed resolved into the experiment it runs, checked
before anything runs.

:func:`plan` is the one place where a protocol's cells are resolved (base < cell < scale < --set; a
scale's ``model.options.X`` only for the models that have option X; grids that come from the dataset;
cells a scale makes identical run once). Sweeps run its jobs, tables place the cells of its jobs
(planned cells without a record show "—"), ``bench table`` selects the records of its jobs.
:func:`preflight` is the one check of an experiment before it runs (model on the meta device, the
recipe against the model, optionally the data split and the model's joints against the dataset): the
planner, ``bench train --ddp`` (before torchrun starts) and ``bench check`` (before any golden entry
trains) call it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bench.config import diff, experiment_id, flatten, resolve, validate_partial
from bench.errors import ConfigError
from bench.protocols import SCALES, Protocol, config_part
from bench.paths import results_root
from bench.records import record_path

#: A grid value that stands for "one cell per action group of the dataset" (cross-action protocols):
#: the groups come from the data the cell reads, so the protocol runs unchanged on any dataset.
DATASET_ACTIONS = "each_action_group"


@dataclass
class Job:
    """One planned run: a cell of the protocol at one seed, with its resolved config."""

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


def preflight(cfg: dict, where: str = "", data: bool = False) -> None:
    """Raise ConfigError for what a run of the resolved ``cfg`` would reject, without running it: the
    model built on the meta device (invalid option values; those errors name the model themselves),
    the recipe options this model cannot take (a motion-loss interval >= its window) and, with
    ``data``, the data split (subjects, actions) and the model's joints against the dataset (this loads
    the dataset). ``where`` prefixes the recipe and data errors (the protocol file and cell)."""
    import torch

    from bench.engine.train import check_training
    from bench.registry import create_model
    from bench.typed_config import typed

    c = typed(cfg)
    with torch.device("meta"):
        model = create_model(c.model.name, **c.model.options)
    try:
        check_training(model, c.train, c.model.name)
        if data:
            from bench.engine.data import check_model_fits, get_dataset, split_sequences

            ds = get_dataset(c.data)
            split_sequences(ds, c.data)
            check_model_fits(model, ds)
    except ConfigError as e:
        if not where:
            raise
        raise ConfigError(f"{where}: {e}") from None


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


def _scale_for_model(protocol: Protocol, scale: str, model_name: str) -> dict:
    """The scale's overrides for a cell of ``model_name``: its shared keys (model options only where the
    model has them), then its ``per_model`` entry for that model (which wins)."""
    per_model = protocol.scale_settings(scale).get("per_model") or {}
    return {**_for_model(protocol.scale_config(scale), model_name), **flatten(per_model.get(model_name) or {})}


def _check_per_model(protocol: Protocol, scale: str) -> None:
    """``per_model`` names registered models, and only options those models have."""
    from bench.registry import get_entry

    for m, keys in (protocol.scale_settings(scale).get("per_model") or {}).items():
        entry = get_entry(m)  # unknown model: ConfigError naming it
        for k in flatten(keys):
            if k.startswith("model.options.") and k.split(".", 2)[2] not in entry.defaults:
                raise ConfigError(f"{protocol.path}: scales.{scale}.per_model.{m}.{k}: {m} has no option "
                                  f"{k.split('.', 2)[2]!r}")


def _check_scale_options(protocol: Protocol, scale_ov: dict, cells: list[dict], scale: str) -> None:
    """A scale's ``model.options.X`` must be an option of at least one model of the protocol."""
    from bench.registry import get_entry

    names = {resolve(protocol.base, config_part(c), where=protocol.path)["model"]["name"] for c in cells}
    for k in scale_ov:
        if k.startswith("model.options."):
            opt = k.split(".", 2)[2]
            if not any(opt in get_entry(n).defaults for n in names):
                raise ConfigError(f"{protocol.path}: scales.{scale}.{k}: no model of this protocol "
                                  f"({', '.join(sorted(names))}) has option {opt!r}")


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
         runs_dir: Path | None = None) -> list[Job]:
    """Resolve every cell x seed of ``protocol`` at ``scale`` (validates everything up front: options,
    recipe (:func:`preflight`), and that every cell's data files exist). ``runs_dir`` (where the jobs'
    records go) defaults to ``runs/`` of :func:`bench.paths.results_root`."""
    runs_dir = Path(runs_dir) if runs_dir is not None else results_root() / "runs"
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; use {', '.join(SCALES)}")
    overrides = overrides or {}
    validate_partial(overrides, "--set")  # a bad --set value is the command line's, not the protocol's
    _check_overrides(protocol, overrides)
    scale_ov = protocol.scale_config(scale)
    n_seeds = protocol.scale_seeds(scale)
    if seeds is not None:
        if seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {seeds}")
        n_seeds = seeds
    variants = protocol.variant_overrides()
    cells = protocol.cell_overrides(scale, _expand_dataset_grid(protocol, scale, overrides))
    _check_scale_options(protocol, scale_ov, cells, scale)
    _check_per_model(protocol, scale)
    jobs, checked, data_hash, planned_ids = [], set(), {}, set()
    for cell in cells:
        where = f"{protocol.path}: cell {cell}" if cell else protocol.path
        cell_cfg = config_part(cell)
        model_name = resolve(protocol.base, cell_cfg, where=where)["model"]["name"]
        for seed in range(n_seeds):
            # Order: base < cell < scale < --set. A scale only shrinks budgets, so it wins over a
            # cell's paper recipe; the user's --set wins over everything.
            cfg = resolve(protocol.base, cell_cfg, _scale_for_model(protocol, scale, model_name), overrides,
                          {"seed": seed}, where=where)
            paper = resolve(protocol.base, cell_cfg, _scale_for_model(protocol, "paper", model_name), overrides,
                            {"seed": seed}, where=where)
            if cfg["train"]["processes"] > 1:  # one experiment over several processes: bench train --ddp
                raise ConfigError(f"{where}: train.processes={cfg['train']['processes']}: a sweep trains each "
                                  f"cell in one process (--jobs runs cells side by side); train one experiment "
                                  f"over several processes with bench train MODEL --ddp --nproc N")
            key = repr((cfg["model"], cfg["train"]))
            if key not in checked:  # once per model and recipe
                preflight(cfg, where)
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


#: The scale whose plan is the paper's whole table: cells another scale leaves out (its ``grid`` subset or
#: ``only`` selectors) are placed in that scale's table as "full scale only".
FULL_SCALE = "full" if "full" in SCALES else "paper"


def left_out_cells(protocol: Protocol, scale: str, overrides: dict | None = None) -> list[Job]:
    """The cells of the plan at :data:`FULL_SCALE` that the plan at ``scale`` leaves out (a scale's
    ``grid`` subset or ``only`` selectors), each resolved as at ``scale`` (seed 0; not preflighted, no data hash, no record
    path of its own), so that a table can place them; [] when ``scale`` keeps every cell, or when the
    full-scale cells cannot be listed (its data missing)."""
    from bench.errors import BenchError

    if scale == FULL_SCALE:
        return []
    overrides = overrides or {}
    try:
        full = protocol.cell_overrides(FULL_SCALE, _expand_dataset_grid(protocol, FULL_SCALE, overrides))
        kept = protocol.cell_overrides(scale, _expand_dataset_grid(protocol, scale, overrides))
    except (BenchError, OSError):
        return []
    kept_ids = {json.dumps(c, sort_keys=True, default=str) for c in kept}
    variants, out = protocol.variant_overrides(), []
    for cell in full:
        if json.dumps(cell, sort_keys=True, default=str) in kept_ids:
            continue
        try:
            cell_cfg = config_part(cell)
            model_name = resolve(protocol.base, cell_cfg)["model"]["name"]
            cfg = resolve(protocol.base, cell_cfg, _scale_for_model(protocol, scale, model_name), overrides,
                          {"seed": 0})
        except BenchError:
            continue
        out.append(Job(cfg, cell, 0, variants, [], "", Path(), overrides=dict(overrides)))
    return out
