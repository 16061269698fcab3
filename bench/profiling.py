"""Profile a registered model: parameters (against the published count), FLOPs and latency.

What ``profile_model`` measures
-------------------------------
The model is built with ``bench.registry.create_model(name, **options)`` (seeded), put in eval mode, cast
to ``dtype`` and moved to ``device``. Its input is ``(batch, seq_len, num_joints_in, in_features)`` random
normal values, with ``seq_len`` defaulting to the model's ``receptive_field``; a conv-mode model (the
contract in ``baselines/videopose3d.py``) gives ``seq_len - receptive_field + 1`` output frames per window.

* ``flops_per_frame``: FLOPs (2 per multiply-add, see ``bench.flops``) of one batch-1 window of ``seq_len``
  frames divided by its output frames.
* ``latency``: wall time of one forward pass at **batch 1** on one window of ``seq_len`` frames;
  ``latency_per_frame_ms`` divides its median by the output frames. With ``seq_len = receptive_field`` this
  is single-frame (online / sliding-window) latency; with ``seq_len = receptive_field + N - 1`` it is the
  whole-sequence (offline) cost per frame of an N-frame clip, the way VideoPose3D evaluates.
* ``batch``: wall time of one forward pass on ``batch_size`` windows of ``seq_len`` frames;
  ``throughput_fps`` = output frames per second at the median. ``batch_size=0`` skips this measurement.

``optimize`` (``none`` | ``fuse_bn`` | ``compile``, see ``bench.inference_opt``) times the model rewritten for
inference: BatchNorms folded into the layers that feed them (verified to give the same outputs), or that
and ``torch.compile`` (inductor), compiled for both input shapes before any timing, so compilation is never
timed (its seconds are in ``optimize_info``). Parameters and FLOPs are always those of the model as built
(the architecture's numbers). With ``optimize != none`` one call reports both settings side by side:
``latency_ms`` / ``batch_ms`` / ``throughput_fps`` (and the per-frame latencies) are the optimized model's,
and ``asis`` holds the same figures of the unmodified model, timed in the same call, its calls alternating
with the optimized model's (a, b, b, a, ...), so that load changes on a shared machine hit both alike.

Each timing runs ``warmup`` untimed calls, then ``repeats`` timed calls under ``torch.inference_mode()``
(``torch.cuda.synchronize()`` before starting and after each call on CUDA), and reports the median and the
25th/75th percentiles in milliseconds. ``threads`` sets ``torch.set_num_threads`` for the measurement and
restores the previous value afterwards.

With ``trace_dir``, a few extra forward passes at ``batch_size`` (batch 1 if it is 0) run after the timings
under ``torch.profiler`` and are written with ``tensorboard_trace_handler``: view them with
``tensorboard --logdir TRACE_DIR`` (PyTorch Profiler tab of torch-tb-profiler). Tracing never overlaps the
timed calls.

``eval_memory`` measures what a whole-sequence evaluation costs in memory: for each requested sequence
length, a fresh process builds the model, runs ``predict_sequence`` (the evaluator's own path: sliding
windows for sequence-to-sequence models, chunks for convolutional ones) on random keypoints, and reports
its peak resident memory (``ru_maxrss``) and the growth over the peak reached after building the model and
one window, with the most windows any forward pass saw. Flat growth across lengths shows that no more
than one batch of windows exists at a time.

The result is a plain JSON-serialisable dict (``json.dumps(result)`` works; the CLI's ``--json``);
``format_profile`` renders it as a two-column text table.
"""
from __future__ import annotations

import datetime
import os
import platform
import time
from typing import Any

import torch

from bench.contract import model_contract
from bench.engine.device import device_name, resolve_device
from bench.engine.evaluate import seq2seq_step
from bench.errors import ConfigError
from bench.flops import count_parameters, flops_per_frame
from bench.registry import create_model, match_reported_params, resolve_options
from bench.timing import time_calls, time_calls_interleaved

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
          "float64": torch.float64}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def _write_trace(model: torch.nn.Module, x: torch.Tensor, dev: torch.device, trace_dir: str,
                 worker: str) -> list[str]:
    from torch.profiler import ProfilerActivity, profile, schedule, tensorboard_trace_handler

    os.makedirs(trace_dir, exist_ok=True)
    before = set(os.listdir(trace_dir))
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=activities, schedule=schedule(wait=0, warmup=1, active=3, repeat=1),
                 on_trace_ready=tensorboard_trace_handler(trace_dir, worker_name=worker),
                 record_shapes=True) as prof:
        for _ in range(4):
            with torch.inference_mode():
                model(x)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            prof.step()
    return sorted(os.path.join(trace_dir, f) for f in set(os.listdir(trace_dir)) - before)


# -- the profiler -------------------------------------------------------------------------------------------

def _optimized(model: torch.nn.Module, optimize: str, inputs: list[torch.Tensor]
               ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model to time for ``optimize`` and what was done (``bench.inference_opt``); compiling happens
    here, for every input shape, so no timing includes it."""
    if optimize == "none":
        return model, {"mode": "none"}
    from bench.inference_opt import optimize_for_inference

    return optimize_for_inference(model, optimize, inputs)


def _time_pair(model: torch.nn.Module, timed: torch.nn.Module, x: torch.Tensor, warmup: int, repeats: int,
               dev: torch.device) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Timings of ``timed(x)`` and, when it is another model, of ``model(x)`` interleaved with it."""
    if timed is model:
        return time_calls(lambda: model(x), warmup, repeats, dev), None
    opt, asis = time_calls_interleaved([lambda: timed(x), lambda: model(x)], warmup, repeats, dev)
    return opt, asis


def _timing_figures(latency: dict, batch: dict | None, out_frames: int, eval_step: int | None,
                    batch_size: int) -> dict[str, Any]:
    """The timing entries of a result (latency, per-frame latencies, batch time, throughput) of one model."""
    return {"latency_ms": latency, "latency_per_frame_ms": latency["median"] / out_frames,
            "latency_per_frame_eval_ms": None if eval_step is None else latency["median"] / eval_step,
            "batch_ms": batch,
            "throughput_fps": None if batch is None else batch_size * out_frames / (batch["median"] / 1000.0)}


def profile_model(name: str, options: dict | None = None, device: str = "cpu", batch_size: int = 64,
                  seq_len: int | None = None, warmup: int = 3, repeats: int = 10, threads: int | None = None,
                  trace_dir: str | None = None, variant: str | None = None, dtype: str = "float32",
                  seed: int = 0, deterministic: bool | None = None, optimize: str = "none") -> dict[str, Any]:
    """Profile model ``name`` built with ``options``; see the module docstring for what is measured.

    ``deterministic``: time with deterministic algorithms (and cuDNN) on or off, or leave the process's
    setting (``None``); the result's ``determinism`` says what was in force during the timing.

    ``optimize``: ``none`` | ``fuse_bn`` | ``compile`` (``bench.inference_opt``); with another value than
    ``none`` the result's timings are the optimized model's and ``asis`` holds the unmodified model's,
    measured in the same call (module docstring).

    ``variant`` is a shortcut for ``options['variant']`` (models with several forward paths, such as
    ``videopose3d``: ``'auto'``, ``'dilated'``, ``'strided'``). Bad input raises ConfigError.
    """
    options = dict(options or {})
    if variant is not None:
        options["variant"] = variant
    resolved = resolve_options(name, options)
    dev = resolve_device(device)
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    if batch_size < 0:
        raise ConfigError(f"batch_size={batch_size} must be >= 0 (0 skips the batch measurement)")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads={threads} must be at least 1")
    from bench.inference_opt import check_mode

    check_mode(optimize)

    from bench.engine.seed import determinism_flags, deterministic_mode

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    with deterministic_mode(deterministic):
        try:
            torch.manual_seed(seed)
            model = create_model(name, **options)
            contract = model_contract(model, name)
            rf, joints, features = contract.receptive_field, contract.num_joints_in, contract.in_features
            t_in = rf if seq_len is None else int(seq_len)
            if t_in < rf:
                raise ConfigError(f"seq_len={t_in} is shorter than the receptive field ({rf}) of {name!r}")
            params = count_parameters(model)
            reported = match_reported_params(name, options)
            if reported["key"] is not None and reported["match"] != "exact" and params != reported["params"]:
                # The options beyond the matching key change the architecture: no published count applies.
                reported = {"key": None, "params": None,
                            "match": f"none (nearest {reported['key']!r}; {reported['match']})"}
            flops = flops_per_frame(model, (1, t_in, joints, features))

            model = model.to(device=dev, dtype=DTYPES[dtype]).eval()
            gen = torch.Generator().manual_seed(seed)

            def make_input(b: int) -> torch.Tensor:
                return torch.randn(b, t_in, joints, features, generator=gen).to(dev, DTYPES[dtype])

            with torch.inference_mode():
                x1 = make_input(1)
                out = model(x1)
                out_frames = int(out.shape[1]) if out.dim() >= 4 else 1
                xb = make_input(batch_size) if batch_size > 0 else None
            timed, optimize_info = _optimized(model, optimize, [x for x in (x1, xb) if x is not None])
            with torch.inference_mode():
                latency, latency_asis = _time_pair(model, timed, x1, warmup, repeats, dev)
                batch = batch_asis = None
                if xb is not None:
                    batch, batch_asis = _time_pair(model, timed, xb, warmup, repeats, dev)
            traces: list[str] = []
            if trace_dir:
                xt = xb if xb is not None else x1
                traces = _write_trace(timed, xt, dev, trace_dir, worker=f"{name}_T{t_in}_B{batch_size or 1}")
            threads_used = torch.get_num_threads()
            determinism = determinism_flags(dev)
        finally:
            torch.set_num_threads(previous_threads)

    forward_path = None if contract.forward_path is None else contract.forward_path(t_in)
    eval_step = seq2seq_step(contract) if contract.seq2seq else None
    asis = None
    if optimize != "none":
        asis = _timing_figures(latency_asis, batch_asis, out_frames, eval_step, batch_size)
    result = {
        "model": name,
        "options": resolved,
        "forward_path": forward_path,
        "params": params,
        "reported_params": reported["params"],
        "reported_params_key": reported["key"],
        "reported_params_match": reported["match"],
        "params_diff": None if reported["params"] is None else params - reported["params"],
        "receptive_field": rf,
        "seq_len": t_in,
        "output_frames_per_window": out_frames,
        "input_shape": [batch_size, t_in, joints, features],
        "flops_per_frame": flops,
        "flops_convention": "FLOPs = 2 x multiply-adds (torch.utils.flop_counter); matmul/conv only",
        "latency_ms": latency,
        "latency_per_frame_ms": latency["median"] / out_frames,
        # Sequence-to-sequence models evaluated with overlapping windows: every `eval_step` frames one
        # window, so each frame costs latency / step (DG-Net: step 1, a whole window per frame).
        "eval_step": eval_step,
        "latency_per_frame_eval_ms": None if eval_step is None else latency["median"] / eval_step,
        "batch_size": batch_size,
        "batch_ms": batch,
        "throughput_fps": None if batch is None else batch_size * out_frames / (batch["median"] / 1000.0),
        "optimize": optimize,
        "optimize_info": optimize_info,
        # The unmodified model timed in the same call (None with optimize=none: then the figures above are it).
        "asis": asis,
        "determinism": determinism,
        "warmup": warmup,
        "repeats": repeats,
        "dtype": dtype,
        "device": str(dev),
        "device_name": device_name(dev),
        "threads": threads_used,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "trace_dir": trace_dir,
        "trace_files": traces,
    }
    return _jsonable(result)


# -- whole-sequence evaluation memory -----------------------------------------------------------------------

def _eval_memory_child(name: str, options: dict, frames: int, batch_frames: int, step: int | None,
                       flip: bool, threads: int, seed: int) -> dict[str, Any]:
    import resource

    import numpy as np

    from bench.engine.evaluate import predict_sequence

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = create_model(name, **options).eval()
    contract = model_contract(model, name)
    joints, rf = contract.num_joints_in, contract.receptive_field
    perm = np.arange(joints)
    largest = [0]

    def count(_module, args):
        largest[0] = max(largest[0], int(args[0].shape[0]))

    rng = np.random.RandomState(seed)
    with torch.inference_mode():  # the baseline peak: the model and one window
        model(torch.from_numpy(rng.uniform(-1, 1, (1, rf, joints, 2)).astype(np.float32)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model.register_forward_pre_hook(count)
    kp = rng.uniform(-1, 1, (frames, joints, 2)).astype(np.float32)
    t0 = time.perf_counter()
    predict_sequence(model, kp, flip, perm, perm, batch_frames, step)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"frames": frames, "peak_rss_mb": peak, "rss_growth_mb": peak - before,
            "max_windows_per_forward": largest[0], "seconds": seconds}


def eval_memory(name: str, options: dict | None = None, frames: list[int] = (2000, 20000),
                batch_frames: int = 4096, step: int | None = None, flip: bool = True, threads: int = 1,
                seed: int = 0) -> list[dict[str, Any]]:
    """Peak memory of a whole-sequence evaluation at each length in ``frames``, one fresh process each
    (see the module docstring)."""
    import multiprocessing

    options = dict(options or {})
    resolve_options(name, options)  # unknown model / option: a ConfigError here, not in the child
    bad = [f for f in frames if not isinstance(f, int) or f < 1]
    if bad:
        raise ConfigError(f"eval frames must be positive integers, got {bad[0]!r}")
    ctx = multiprocessing.get_context("spawn")
    out = []
    for n in frames:
        with ctx.Pool(1) as pool:
            out.append(pool.apply(_eval_memory_child, (name, options, n, batch_frames, step, flip, threads, seed)))
    return out


def format_eval_memory(rows: list[dict[str, Any]]) -> str:
    lines = ["whole-sequence evaluation  frames  windows/forward  peak RSS  growth over 1 window  time"]
    for r in rows:
        lines.append(f"{'':26} {r['frames']:>7,d}  {r['max_windows_per_forward']:>15d}  "
                     f"{r['peak_rss_mb']:>6.0f} MB  {r['rss_growth_mb']:>17.0f} MB  {r['seconds']:6.1f} s")
    return "\n".join(lines)


def _fmt_count(n: float | None) -> str:
    return "-" if n is None else f"{n:,.0f}"


def _fmt_ms(t: dict | None) -> str:
    if not t:
        return "-"
    return f"{t['median']:.2f} ms (p25 {t['p25']:.2f}, p75 {t['p75']:.2f}; {t['repeats']} reps)"


def _optimize_summary(result: dict[str, Any]) -> str:
    """One line on what ``optimize`` did: BatchNorms folded, compile time, verification."""
    info = result.get("optimize_info") or {}
    mode = result.get("optimize", "none")
    parts = [mode]
    if "folded" in info:
        parts.append(f"{info['folded']} of {info['bn_total']} BatchNorm(s) folded")
    if "compile_s" in info:
        parts.append(f"inductor after fuse_bn, compiled in {' + '.join(f'{t:.1f}' for t in info['compile_s'])} s "
                     f"(not timed)")
    worst = max(info.get(k, 0.0) for k in ("verified_max_rel_diff", "verified_folds_max_rel_diff",
                                            "compiled_max_rel_diff"))
    parts.append(f"outputs verified (max rel. diff {worst:.1e})")
    return "; ".join(parts)


def _timing_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """Latency / batch / throughput rows; with an optimized model, its rows, the as-is rows, and the ratios."""
    asis = result.get("asis")
    mode = result.get("optimize", "none")
    tag = f" ({mode})" if asis else ""
    rows = [("latency, batch 1" + tag, _fmt_ms(result["latency_ms"])),
            ("latency per output frame" + tag, f"{result['latency_per_frame_ms']:.4f} ms")]
    if result.get("latency_per_frame_eval_ms") is not None:
        rows.append(("latency per frame as evaluated" + tag,
                     f"{result['latency_per_frame_eval_ms']:.4f} ms (a window every {result['eval_step']} frame(s))"))
    rows.append(((f"batch of {result['batch_size']} windows" if result["batch_size"] else "batch") + tag,
                 _fmt_ms(result.get("batch_ms")) if result.get("batch_ms") else "skipped (batch_size=0)"))
    rows.append(("throughput" + tag, "-" if result.get("throughput_fps") is None
                 else f"{result['throughput_fps']:,.0f} output frames/s"))
    if not asis:
        return rows
    rows.insert(0, ("optimize", _optimize_summary(result)))
    rows += [("latency, batch 1 (as is)", _fmt_ms(asis["latency_ms"]))]
    if asis.get("batch_ms"):
        rows.append((f"batch of {result['batch_size']} windows (as is)", _fmt_ms(asis["batch_ms"])))
    ratio = f"batch 1: {result['latency_ms']['median'] / asis['latency_ms']['median']:.3f}"
    if asis.get("batch_ms"):
        ratio += f"; batch {result['batch_size']}: {result['batch_ms']['median'] / asis['batch_ms']['median']:.3f}"
    rows.append((f"time {mode} / as is (medians)", ratio + " (timed alternately in this call)"))
    return rows


def format_profile(result: dict[str, Any]) -> str:
    """Render a ``profile_model`` result as an aligned two-column text table."""
    opts = ", ".join(f"{k}={v}" for k, v in sorted(result["options"].items()))
    reported = "-" if not result.get("reported_params_match") else result["reported_params_match"]
    if result.get("reported_params") is not None:
        reported = f"{_fmt_count(result['reported_params'])} [{result['reported_params_key']}]"
        if result.get("reported_params_match") != "exact":
            reported += f" ({result['reported_params_match']})"
    rows = [
        ("model", result["model"] + (f"  [{result['forward_path']} path]" if result.get("forward_path") else "")),
        ("options", opts),
        ("parameters", _fmt_count(result["params"])),
        ("reported parameters", reported),
        ("difference", "-" if result.get("params_diff") is None else f"{result['params_diff']:+,d}"),
        ("receptive field / input frames", f"{result['receptive_field']} / {result['seq_len']} "
                                           f"({result['output_frames_per_window']} output frame(s) per window)"),
        ("FLOPs per output frame", f"{result['flops_per_frame'] / 1e6:,.2f} M (= 2 x MACs)"),
        *_timing_rows(result),
        ("device", f"{result['device']} ({result['device_name']}), {result['threads']} thread(s), "
                   f"{result['dtype']}"),
        ("torch", result["torch_version"]),
        ("warm-up / repeats", f"{result['warmup']} / {result['repeats']}"),
    ]
    det = result.get("determinism")
    if det:
        extra = "".join(f", {k} {det[k]}" for k in ("cudnn_benchmark", "tf32_matmul", "cublas_workspace_config")
                        if k in det and (k != "cudnn_benchmark" or det.get("device")))
        rows.append(("deterministic algorithms", f"{'on' if det['deterministic_algorithms'] else 'off'}{extra}"))
    if result.get("trace_files"):
        rows.append(("trace", f"{result['trace_dir']} (tensorboard --logdir {result['trace_dir']})"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
