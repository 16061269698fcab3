"""A profile run: one model timed at its configured options, written as a run record (``run.kind: profile``).

No data and no training: ``bench.profiling.profile_model`` builds the model (seeded), counts parameters and
FLOPs per output frame, and times forward passes under ``torch.inference_mode`` on ``profile.device``
(``auto``: CUDA when available, else CPU). The record's metrics (plain evaluation variant ``''``):

* ``ms_per_frame``: online latency per output frame: one window at batch 1, divided by the output frames
  a window contributes as evaluated (convolutional models: one frame per window; sequence-to-sequence
  models evaluated with a window every ``eval_step`` frames: the window's time divided by that step).
* ``throughput_fps``: output frames per second with ``profile.batch_size`` windows per forward pass.

With ``profile.mode: train`` the cell is not timed forward but trained for ``profile.steps`` timed steps
as the engine trains its recipe (bench.train_profile); its metrics are ``windows_per_s``, ``frames_per_s``,
``steps_per_s``, ``step_ms`` and its parts (``batch_ms``, ``forward_ms``, ``backward_ms``,
``optimizer_ms``), ``ops_forward`` / ``ops_step``, ``flops_step``, ``gflops_achieved`` against
``matmul_peak_gflops`` (``peak_fraction``), and the compute and per-op-overhead floors as fractions of
the step (``compute_floor_fraction``, ``overhead_floor_fraction``): what bounds the model.

With ``profile.optimize`` (``fuse_bn`` or ``compile``, see ``bench.inference_opt``) these two metrics, and
``latency_ms`` / ``batch_ms``, are the optimized model's; the model as is, timed in the same call, adds
``ms_per_frame_asis``, ``throughput_fps_asis``, ``latency_ms_asis`` and ``batch_ms_asis``, and the record's
``profile.optimize_info`` says what was folded or compiled. ``params`` and ``flops_per_frame`` are the
unmodified model's in every case.

``determinism`` records the deterministic-algorithm and cuDNN settings in force while timing, set by
``profile.deterministic`` (and on CUDA the TF32 and cuBLAS-workspace settings too).

``params`` and ``flops_per_frame`` sit at the record's top level (valid for every variant), like a training
run's ``params``. The sweep runs profile cells one after another in one process (never in parallel), so the
models of one table are timed on one device under the same conditions.
"""
from __future__ import annotations

import os
import time

import torch

from bench.engine.provenance import record_base
from bench.records import record_path, write_json_atomic
from bench.typed_config import typed


def profile_device(setting: str) -> str:
    """``profile.device`` -> a device string for the profiler (``auto``: cuda when available)."""
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    from bench.engine.device import resolve_device

    resolve_device(setting, key="profile.device")  # one line naming the key, before anything runs
    return setting


def _timing_metrics(timings: dict) -> dict:
    """Record metrics of one model's timings (a ``profile_model`` result or its ``asis`` part)."""
    per_frame = timings["latency_per_frame_eval_ms"] or timings["latency_per_frame_ms"]
    return {"ms_per_frame": per_frame, "throughput_fps": timings["throughput_fps"],
            "latency_ms": timings["latency_ms"]["median"], "batch_ms": timings["batch_ms"]["median"]}


def profile_experiment(cfg: dict, *, run_id: str, protocol: str | None = None, scale: str = "adhoc",
                       cell: dict | None = None, shrinks: list[str] | None = None,
                       runs_dir: str | os.PathLike | None = None, overrides: dict | None = None) -> dict:
    """Profile the model of the resolved config ``cfg``; write and return its run record (under
    ``runs_dir``, default ``runs/`` of :func:`bench.paths.results_root`)."""
    if runs_dir is None:
        from bench.paths import results_root
        runs_dir = results_root() / "runs"
    from bench.profiling import profile_model

    t0 = time.time()
    c = typed(cfg)
    pc = c.profile
    device = profile_device(pc.device)
    if pc.mode == "train":
        return _training_profile_record(cfg, device, run_id=run_id, protocol=protocol, scale=scale, cell=cell,
                                        shrinks=shrinks, runs_dir=runs_dir, overrides=overrides, t0=t0)
    result = profile_model(c.model.name, dict(c.model.options), device=device,
                           batch_size=pc.batch_size, warmup=pc.warmup, repeats=pc.repeats,
                           threads=torch.get_num_threads(), seed=c.seed,
                           deterministic=pc.deterministic, optimize=pc.optimize)
    metrics = _timing_metrics(result)
    if result["asis"] is not None:
        metrics.update({f"{k}_asis": v for k, v in _timing_metrics(result["asis"]).items()})
    record = record_base(cfg, run_id=run_id, protocol=protocol, scale=scale, cell=cell, shrinks=shrinks,
                         overrides=overrides)
    record.update({
        "variants": [{}], "metrics": {"": metrics}, "params": int(result["params"]),
        "flops_per_frame": result["flops_per_frame"], "curve": [], "epochs": 0, "best_epoch": None,
        "train_windows": 0,
        "profile": {k: result[k] for k in ("device", "device_name", "threads", "dtype", "seq_len",
                                           "receptive_field", "output_frames_per_window", "eval_step",
                                           "forward_path", "batch_size", "warmup", "repeats",
                                           "latency_ms", "batch_ms", "optimize", "optimize_info", "asis")},
        "timing": {}, "wall_time_s": time.time() - t0, "determinism": result["determinism"], "dataset": None,
    })
    write_json_atomic(record_path(runs_dir, protocol, scale, run_id), record)
    return record


#: Record metrics of a training-throughput profile (``profile.mode: train``) -> its result key.
TRAIN_METRICS = {"windows_per_s": "windows_per_s", "frames_per_s": "frames_per_s", "steps_per_s": "steps_per_s",
                 "step_ms": "step_ms", "ops_forward": "ops_forward", "ops_step": "ops_step",
                 "flops_step": "flops_step", "gflops_achieved": "gflops_achieved",
                 "matmul_peak_gflops": "matmul_peak_gflops"}


def _training_profile_record(cfg: dict, device: str, *, run_id, protocol, scale, cell, shrinks, runs_dir,
                             overrides, t0) -> dict:
    """``profile.mode: train``: the cell's recipe trained for ``profile.steps`` timed steps
    (bench.train_profile) instead of timed forward passes; the record's metrics are the throughput, the
    per-step split, the operator and FLOP counts, and the two floors as fractions of the step."""
    from bench.engine.data import dataset_record, get_dataset
    from bench.train_profile import profile_training

    c = typed(cfg)
    r = profile_training(c, steps=c.profile.steps, warmup=c.profile.warmup, device=device,
                         threads=torch.get_num_threads())
    metrics = {k: r[v] for k, v in TRAIN_METRICS.items()}
    metrics.update({("batch_build" if part == "batch" else part) + "_ms": ms for part, ms in r["ms"].items()})
    metrics["peak_fraction"] = r["gflops_achieved"] / r["matmul_peak_gflops"]
    metrics["compute_floor_fraction"] = r["compute_floor_ms"] / r["step_ms"]
    metrics["overhead_floor_fraction"] = r["overhead_floor_ms"] / r["step_ms"]
    record = record_base(cfg, run_id=run_id, protocol=protocol, scale=scale, cell=cell, shrinks=shrinks,
                         overrides=overrides)
    record.update({
        "variants": [{}], "metrics": {"": metrics}, "params": int(r["params"]), "curve": [], "epochs": 0,
        "best_epoch": None, "train_windows": 0,
        "profile": {k: r[k] for k in ("device", "device_name", "threads", "batch_size", "output_frames_per_window",
                                      "steps", "warmup", "ms", "top_ops_forward", "op_overhead_us",
                                      "compute_floor_ms", "overhead_floor_ms", "bound", "matmul_peak_n")},
        "timing": {}, "wall_time_s": time.time() - t0, "determinism": r["determinism"],
        "dataset": dataset_record(get_dataset(c.data), c.data),
    })
    write_json_atomic(record_path(runs_dir, protocol, scale, run_id), record)
    return record
