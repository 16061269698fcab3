"""One experiment end to end: data, model, training, evaluation variants, run record."""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from bench.config import experiment_id, variant_key
from bench.dotted import with_dotted
from bench.engine import distributed
from bench.engine.data import check_model_fits, dataset_record, get_dataset, split_sequences
from bench.engine.device import training_device
from bench.engine.budget import convergence
from bench.engine.evaluate import evaluate_sequences, reference_levels
from bench.engine.provenance import record_base
from bench.engine.seed import determinism_flags, seed_everything
from bench.engine.train import train_model
from bench.errors import ConfigError
from bench.records import check_writable, record_path, write_json_atomic
from bench.registry import create_model
from bench.typed_config import typed


def check_processes(cfg) -> tuple[int, int]:
    """(rank, world size) of this process; ``train.processes`` must equal the world size of the process
    group it trains in (1 outside one). Raises ConfigError otherwise."""
    cfg = typed(cfg)
    rank, world_size = distributed.active()
    n = cfg.train.processes
    if n != world_size:
        if world_size == 1:
            raise ConfigError(f"train.processes={n} trains one experiment over {n} processes: use "
                              f"bench train MODEL --ddp --nproc {n} (or train.processes=1)")
        raise ConfigError(f"train.processes={n} but this run was launched with {world_size} processes; "
                          f"launch it with --nproc {n}, or set train.processes={world_size}")
    if n > 1 and cfg.run.kind == "profile":
        raise ConfigError("run.kind=profile times the model in one process: train.processes must be 1")
    return rank, world_size


def run_experiment(cfg: dict, *, variants: list[dict] | None = None, protocol: str | None = None,
                   scale: str = "adhoc", cell: dict | None = None, shrinks: list[str] | None = None,
                   runs_dir: str | os.PathLike | None = None, progress: bool = False, log=None,
                   tb_dir: str | None = None, checkpoint: str | None = None,
                   overrides: dict | None = None) -> dict | None:
    """Train and evaluate one resolved experiment; write and return its run record.

    In a process group (``bench train --ddp``; ``train.processes`` = its size) every process trains;
    rank 0 alone evaluates and writes the record, the TensorBoard events and the checkpoint, and the
    other ranks return None."""
    variants = variants or [{}]
    c = typed(cfg)  # read by attribute; the dict stays what the id and the record are made of
    rank, world_size = check_processes(c)
    run_id = experiment_id(cfg, variants)
    if c.run.kind != "train":
        raise ConfigError(f"run.kind={c.run.kind} is not a training run: run it with bench.cells.execute")
    t0 = time.time()
    if runs_dir is None:  # the one results root (bench/paths.py)
        from bench.paths import results_root
        runs_dir = results_root() / "runs"
    path = record_path(runs_dir, protocol, scale, run_id)
    if rank == 0:  # find out now, not after training, that an output cannot be written
        check_writable(path.parent, "runs folder", "choose another with --runs-dir")
        if checkpoint:
            check_writable(Path(checkpoint).parent, "checkpoint folder", "choose another with --checkpoint")
        if tb_dir:
            check_writable(tb_dir, "TensorBoard folder", "free space or make it writable")
    seed_everything(c.seed)
    ds = get_dataset(c.data)
    train_seqs, val_seqs, test_seqs = split_sequences(ds, c.data)
    model = create_model(c.model.name, **c.model.options)
    check_model_fits(model, ds)
    device = training_device(c.train.device)
    model.to(device)
    writer = None
    if tb_dir and rank == 0:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(Path(tb_dir) / (protocol or "adhoc") / scale / run_id))
    try:
        result = train_model(model, c, train_seqs, val_seqs, ds.keypoints_layout, ds.skeleton,
                             progress=progress, writer=writer, log=log)
    finally:
        if writer is not None:
            writer.close()
    if rank != 0:
        return None
    metrics = {}
    for variant in variants:
        metrics[variant_key(variant)] = evaluate_sequences(model, test_seqs, with_dotted(cfg, variant), ds.keypoints_layout,
                                                           ds.skeleton, variant=variant)
    steps = result.batch_time_s + result.step_time_s
    # Floors on the same test frames, metrics and averaging: the training mean pose and the zero pose.
    reference = reference_levels(train_seqs, test_seqs, c)
    record = record_base(cfg, run_id=run_id, protocol=protocol, scale=scale, cell=cell, shrinks=shrinks,
                         overrides=overrides, device=device)
    record.update({
        "variants": variants, "metrics": metrics, "params": int(sum(p.numel() for p in model.parameters())),
        "curve": result.curve, "epochs": c.train.epochs, "best_epoch": result.best_epoch,
        "best_step": result.best_step, "train_windows": result.num_windows, "budget": result.budget,
        "convergence": convergence(result.curve, result.steps, c.train.convergence_tolerance),
        "reference": reference,
        "timing": {"batch_build_s": result.batch_time_s, "step_s": result.step_time_s,
                   "batch_build_fraction": result.batch_time_s / steps if steps else None},
        "wall_time_s": time.time() - t0, "determinism": determinism_flags(device),
        "dataset": dataset_record(ds, c.data, train_seqs, test_seqs, val_seqs),
    })
    if result.loss_terms is not None:  # motion-loss recipes, once bench.losses.loss_terms exists
        record["loss_terms"] = result.loss_terms
    if torch.distributed.is_available() and torch.distributed.is_initialized():  # --ddp, any --nproc
        record["distributed"] = {"world_size": world_size, "backend": torch.distributed.get_backend()}
    # The record first: if the checkpoint cannot be written (disk full), the run's result is kept.
    write_json_atomic(path, record)
    if checkpoint:
        from bench.engine.checkpoint import save_checkpoint
        # epoch of the saved state; under a step budget the passes it had made (rounded up)
        done = result.best_epoch or (c.train.epochs if result.budget["unit"] == "epochs" else
                                     -(-(result.best_step or result.steps) // result.budget["steps_per_pass"]))
        save_checkpoint(checkpoint, model, cfg, done)
    return record
