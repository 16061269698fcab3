"""A profile run: one model timed at its configured options, written as a run record (``run.kind: profile``).

No data and no training: ``bench.profiling.profile_model`` builds the model (seeded), counts parameters and
FLOPs per output frame, and times forward passes under ``torch.inference_mode`` on ``profile.device``
(``auto``: CUDA when available, else CPU). The record's metrics (plain evaluation variant ``''``):

* ``ms_per_frame``: online latency per output frame: one window at batch 1, divided by the output frames
  a window contributes as evaluated (convolutional models: one frame per window; sequence-to-sequence
  models evaluated with a window every ``eval_step`` frames: the window's time divided by that step).
* ``throughput_fps``: output frames per second with ``profile.batch_size`` windows per forward pass.

``determinism`` records the deterministic-algorithm and cuDNN settings in force while timing, set by
``profile.deterministic`` (and on CUDA the TF32 and cuBLAS-workspace settings too).

``params`` and ``flops_per_frame`` sit at the record's top level (valid for every variant), like a training
run's ``params``. The sweep runs profile cells one after another in one process (never in parallel), so the
models of one table are timed on one device under the same conditions.
"""
from __future__ import annotations

import os
import time

import numpy as np
import torch

from bench.records import SCHEMA, record_path, write_json_atomic


def profile_device(setting: str) -> str:
    """``profile.device`` -> a device string for the profiler (``auto``: cuda when available)."""
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    from bench.profiling import resolve_device

    resolve_device(setting, key="profile.device")  # one line naming the key, before anything runs
    return setting


def profile_experiment(cfg: dict, *, run_id: str, protocol: str | None = None, scale: str = "adhoc",
                       cell: dict | None = None, shrinks: list[str] | None = None,
                       runs_dir: str | os.PathLike = "results/runs") -> dict:
    """Profile the model of the resolved config ``cfg``; write and return its run record."""
    from bench.engine.run import git_revision, machine_info
    from bench.profiling import profile_model

    t0 = time.time()
    pc = cfg["profile"]
    device = profile_device(pc["device"])
    result = profile_model(cfg["model"]["name"], dict(cfg["model"]["options"]), device=device,
                           batch_size=pc["batch_size"], warmup=pc["warmup"], repeats=pc["repeats"],
                           threads=torch.get_num_threads(), seed=cfg["seed"],
                           deterministic=pc["deterministic"])
    per_frame = result["latency_per_frame_eval_ms"] or result["latency_per_frame_ms"]
    metrics = {"ms_per_frame": per_frame, "throughput_fps": result["throughput_fps"],
               "latency_ms": result["latency_ms"]["median"], "batch_ms": result["batch_ms"]["median"]}
    record = {
        "schema": SCHEMA, "id": run_id, "protocol": protocol, "scale": scale, "cell": cell or {},
        "seed": cfg["seed"], "config": cfg, "variants": [{}], "metrics": {"": metrics},
        "params": int(result["params"]), "flops_per_frame": result["flops_per_frame"],
        "curve": [], "epochs": 0, "best_epoch": None, "train_windows": 0,
        "profile": {k: result[k] for k in ("device", "device_name", "threads", "dtype", "seq_len",
                                           "receptive_field", "output_frames_per_window", "eval_step",
                                           "forward_path", "batch_size", "warmup", "repeats",
                                           "latency_ms", "batch_ms")},
        "timing": {}, "wall_time_s": time.time() - t0, "machine": machine_info(),
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
        "determinism": result["determinism"], "git": git_revision(), "shrinks": shrinks or [],
        "dataset": None,
    }
    write_json_atomic(record_path(runs_dir, protocol, scale, run_id), record)
    return record
