"""One experiment end to end: data, model, training, evaluation variants, run record."""
from __future__ import annotations

import copy
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from bench.config import config_hash, hash_view, set_dotted
from bench.data.dataset import PoseDataset, load_dataset
from bench.engine import distributed
from bench.engine.device import training_device
from bench.engine.evaluate import evaluate_sequences
from bench.engine.seed import determinism_flags, seed_everything
from bench.engine.train import train_model
from bench.errors import ConfigError
from bench.protocols import variant_key
from bench.records import SCHEMA, check_writable, record_path, write_json_atomic
from bench.registry import create_model

_DATASETS: dict[tuple, PoseDataset] = {}


def get_dataset(data_cfg: dict) -> PoseDataset:
    """Load (and cache per process) the dataset named in ``data_cfg``."""
    spec, source = data_cfg["dataset"], data_cfg["source"]
    key = (spec, source, data_cfg["exclude_s11_directions"])
    if key not in _DATASETS:
        opts = {}
        if spec.partition(":")[0] == "h36m":
            opts["exclude_s11_directions"] = data_cfg["exclude_s11_directions"]
        _DATASETS[key] = load_dataset(spec, source=source, **opts)
    return _DATASETS[key]


def split_sequences(ds: PoseDataset, data_cfg: dict):
    """(train, validation, test) sequences; validation subjects are removed from training."""
    train = data_cfg["train_subjects"] or ds.train_subjects
    test = data_cfg["test_subjects"] or ds.test_subjects
    val = data_cfg["validation_subjects"]
    bad = [s for s in val if s not in train]
    if bad:
        raise ConfigError(f"data.validation_subjects {', '.join(bad)} must be training subjects "
                          f"({', '.join(train)})")
    train = [s for s in train if s not in val]
    if not train:
        raise ConfigError("no training subjects left after removing data.validation_subjects")
    kw = dict(actions=data_cfg["actions"], downsample=data_cfg["downsample"])
    train_actions = data_cfg.get("train_actions") or data_cfg["actions"]
    train_kw = dict(kw, actions=train_actions)
    return (ds.sequences(train, **train_kw), ds.sequences(val, **train_kw) if val else [],
            ds.sequences(test, **kw))


def machine_info(device: torch.device | None = None) -> dict:
    """The host, CPU, Python and platform; with ``device``, also the device the run trained on."""
    from bench.profiling import device_name

    info = {"host": platform.node(), "cpu": device_name(torch.device("cpu")), "cores": os.cpu_count(),
            "python": platform.python_version(), "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    if device is not None:
        info["device"] = str(device)
        info["device_name"] = device_name(device)
    return info


def git_revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parent, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def dataset_record(ds: PoseDataset, data_cfg: dict, train_seqs=None, test_seqs=None) -> dict:
    """What a run record says about its data: the dataset asked for and the files actually read, with
    their content hash (a record whose files changed since is not reused; tables name the data)."""
    rec = {"name": ds.name, "spec": data_cfg["dataset"], "source": data_cfg["source"],
           "source_role": ds.source_role, "source_file": os.path.basename(ds.source_file), "path": ds.path,
           "notes": ds.notes, "fingerprint": ds.fingerprint()}
    if train_seqs is not None:
        rec.update(train_sequences=len(train_seqs), test_sequences=len(test_seqs))
    return rec


def experiment_id(cfg: dict, variants: list[dict]) -> str:
    """Stable id of (resolved config, evaluation variants); keys added later count only off their default."""
    return config_hash({"config": hash_view(cfg), "variants": variants})


def check_model_fits(model, ds: PoseDataset) -> None:
    j_in, j_out = ds.keypoints_layout.num_joints, ds.skeleton.num_joints
    if getattr(model, "num_joints_in", j_in) != j_in or getattr(model, "num_joints_out", j_out) != j_out:
        raise ConfigError(f"model expects {model.num_joints_in} input / {model.num_joints_out} output "
                          f"joints but dataset {ds.name} has {j_in} / {j_out} "
                          f"(set model.options.num_joints_in / num_joints_out)")


def check_processes(cfg: dict) -> tuple[int, int]:
    """(rank, world size) of this process; ``train.processes`` must equal the world size of the process
    group it trains in (1 outside one). Raises ConfigError otherwise."""
    rank, world_size = distributed.active()
    n = cfg["train"].get("processes", 1)
    if n != world_size:
        if world_size == 1:
            raise ConfigError(f"train.processes={n} trains one experiment over {n} processes: use "
                              f"bench train MODEL --ddp --nproc {n} (or train.processes=1)")
        raise ConfigError(f"train.processes={n} but this run was launched with {world_size} processes; "
                          f"launch it with --nproc {n}, or set train.processes={world_size}")
    if n > 1 and cfg.get("run", {}).get("kind") == "profile":
        raise ConfigError("run.kind=profile times the model in one process: train.processes must be 1")
    return rank, world_size


def run_experiment(cfg: dict, *, variants: list[dict] | None = None, protocol: str | None = None,
                   scale: str = "adhoc", cell: dict | None = None, shrinks: list[str] | None = None,
                   runs_dir: str | os.PathLike = "results/runs", progress: bool = False, log=None,
                   tb_dir: str | None = None, checkpoint: str | None = None,
                   overrides: dict | None = None) -> dict | None:
    """Train and evaluate one resolved experiment; write and return its run record.

    In a process group (``bench train --ddp``; ``train.processes`` = its size) every process trains;
    rank 0 alone evaluates and writes the record, the TensorBoard events and the checkpoint, and the
    other ranks return None."""
    variants = variants or [{}]
    rank, world_size = check_processes(cfg)
    run_id = experiment_id(cfg, variants)
    if cfg.get("run", {}).get("kind") == "profile":
        from bench.engine.profile_run import profile_experiment
        return profile_experiment(cfg, run_id=run_id, protocol=protocol, scale=scale, cell=cell,
                                  shrinks=shrinks, runs_dir=runs_dir, overrides=overrides)
    t0 = time.time()
    path = record_path(runs_dir, protocol, scale, run_id)
    if rank == 0:  # find out now, not after training, that an output cannot be written
        check_writable(path.parent, "runs folder", "choose another with --runs-dir")
        if checkpoint:
            check_writable(Path(checkpoint).parent, "checkpoint folder", "choose another with --checkpoint")
        if tb_dir:
            check_writable(tb_dir, "TensorBoard folder", "free space or make it writable")
    seed_everything(cfg["seed"])
    ds = get_dataset(cfg["data"])
    train_seqs, val_seqs, test_seqs = split_sequences(ds, cfg["data"])
    model = create_model(cfg["model"]["name"], **cfg["model"]["options"])
    check_model_fits(model, ds)
    device = training_device(cfg["train"].get("device", "cpu"))
    model.to(device)
    writer = None
    if tb_dir and rank == 0:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(Path(tb_dir) / (protocol or "adhoc") / scale / run_id))
    try:
        result = train_model(model, cfg, train_seqs, val_seqs, ds.keypoints_layout, ds.skeleton,
                             progress=progress, writer=writer, log=log)
    finally:
        if writer is not None:
            writer.close()
    if rank != 0:
        return None
    metrics = {}
    for variant in variants:
        vcfg = copy.deepcopy(cfg)
        for k, v in variant.items():
            set_dotted(vcfg, k, v)
        metrics[variant_key(variant)] = evaluate_sequences(model, test_seqs, vcfg, ds.keypoints_layout,
                                                           ds.skeleton, variant=variant)
    steps = result.batch_time_s + result.step_time_s
    record = {
        "schema": SCHEMA, "id": run_id, "protocol": protocol, "scale": scale, "cell": cell or {},
        "seed": cfg["seed"], "config": cfg, "variants": variants, "metrics": metrics,
        "params": int(sum(p.numel() for p in model.parameters())),
        "curve": result.curve, "epochs": cfg["train"]["epochs"], "best_epoch": result.best_epoch,
        "train_windows": result.num_windows,
        "timing": {"batch_build_s": result.batch_time_s, "step_s": result.step_time_s,
                   "batch_build_fraction": result.batch_time_s / steps if steps else None},
        "wall_time_s": time.time() - t0, "machine": machine_info(device),
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
        "determinism": determinism_flags(device), "git": git_revision(), "shrinks": shrinks or [],
        "dataset": dataset_record(ds, cfg["data"], train_seqs, test_seqs),
        "overrides": dict(overrides or {}),
    }
    if torch.distributed.is_available() and torch.distributed.is_initialized():  # --ddp, any --nproc
        record["distributed"] = {"world_size": world_size, "backend": torch.distributed.get_backend()}
    # The record first: if the checkpoint cannot be written (disk full), the run's result is kept.
    write_json_atomic(path, record)
    if checkpoint:
        from bench.engine.checkpoint import save_checkpoint
        save_checkpoint(checkpoint, model, cfg, result.best_epoch or cfg["train"]["epochs"])
    return record
