"""Training throughput of one experiment as the engine trains it (``bench profile MODEL --train``).

What is measured
----------------
The experiment's own pieces are used, not a stand-in loop: the dataset and training split of the resolved
config, ``make_batcher`` (the engine's windows, flip augmentation and window stride), ``make_loss_fn`` and
``model_loss`` (the model's extra loss terms included, e.g. DG-Net's multi-level loss or UGCN's motion
loss), ``make_optimizer`` and the per-step clipping and max-norm hooks. After ``warmup`` untimed steps,
``steps`` steps are timed one by one, each split into

* ``batch``: drawing the next batch of windows (and copying it to the device),
* ``forward``: ``model_loss`` (forward pass and loss),
* ``backward``: ``zero_grad`` + ``loss.backward()``,
* ``optimizer``: clipping, ``optimizer.step()``, the model's max-norm hook and the engine's per-step
  training-error bookkeeping.

(on CUDA each part ends with ``torch.cuda.synchronize()``). Medians are reported; ``windows_per_s`` is the
batch size divided by the median step time (all four parts), ``frames_per_s`` multiplies it by the output
frames of a training window (T for sequence-to-sequence models, 1 for single-frame training).

Beside the timings:

* ``ops_forward`` / ``ops_step``: aten operators dispatched by one forward (``model_loss``, train mode)
  and by one whole step (forward, backward, optimizer), counted with a ``TorchDispatchMode`` (views and
  in-place ops count: each is a call through the dispatcher).
* ``flops_step``: FLOPs (2 per multiply-add, ``torch.utils.flop_counter``; matmul and convolution only) of
  the forward and backward passes of one batch; ``gflops_achieved`` divides them by the median
  forward + backward time.
* ``matmul_peak_gflops``: the best median of square fp32 matrix products (512, 1024, 2048) on the same
  device and thread count, timed in the same call, so the two numbers are comparable;
  ``op_overhead_us``: the median time of one tiny op (a 1-element add) on the device, what every
  dispatched op costs at least.
* ``bound``: ``FLOPs`` when ``flops_step / peak`` is at least half the step, ``per-op overhead`` when
  ``ops_step x op_overhead`` is, otherwise memory traffic and small kernels (neither floor explains the
  step); the two floors are given too (``compute_floor_ms``, ``overhead_floor_ms``).
"""
from __future__ import annotations

import collections
import functools
import statistics
import time
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode


class OpCounter(TorchDispatchMode):
    """Counts the aten operators dispatched inside the ``with`` block (by overload packet name)."""

    def __init__(self):
        super().__init__()
        self.counts: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def count_ops(fn) -> tuple[int, collections.Counter]:
    """(number of aten ops dispatched by ``fn()``, their counts by name)."""
    with OpCounter() as c:
        fn()
    return c.total, c.counts


def _median_ms(fn, repeats: int, sync) -> float:
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


@functools.lru_cache(maxsize=None)
def _matmul_peak(device: str, threads: int, sizes: tuple[int, ...], repeats: int) -> dict[str, Any]:
    return _measure_matmul_peak(torch.device(device), sizes, repeats)


def matmul_peak_gflops(dev: torch.device, sizes=(512, 1024, 2048), repeats: int = 5) -> dict[str, Any]:
    """Best median GFLOP/s of square fp32 ``a @ b`` over ``sizes`` on ``dev`` at the current thread count,
    measured once per process (a sweep's cells share it: they are timed one after another)."""
    return dict(_matmul_peak(str(dev), torch.get_num_threads(), tuple(sizes), repeats))


def _measure_matmul_peak(dev: torch.device, sizes, repeats: int) -> dict[str, Any]:
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    best = {"gflops": 0.0, "n": None}
    gen = torch.Generator().manual_seed(0)
    for n in sizes:
        a = torch.randn(n, n, generator=gen).to(dev)
        b = torch.randn(n, n, generator=gen).to(dev)
        a @ b  # warm-up (allocations, BLAS initialisation)
        ms = _median_ms(lambda: a @ b, repeats, sync)
        g = 2 * n ** 3 / (ms / 1000) / 1e9
        if g > best["gflops"]:
            best = {"gflops": g, "n": n}
    return best


def op_overhead_us(dev: torch.device, calls: int = 2000) -> float:
    """Median microseconds of one tiny op (a 1-element add) over 5 runs of ``calls`` calls."""
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    a = torch.ones(1, device=dev)

    def run():
        for _ in range(calls):
            torch.add(a, a)

    run()
    return _median_ms(run, 5, sync) * 1000 / calls


def _loop_batches(batcher, rng):
    while True:  # epochs back to back, as long as the timing needs
        yield from batcher.batches(rng)


def profile_training(cfg: dict, steps: int = 20, warmup: int = 3, device: str | None = None,
                     threads: int | None = None) -> dict[str, Any]:
    """Profile training of the resolved experiment ``cfg``; see the module docstring.

    ``device``: a device string (default: the experiment's ``train.device``). Returns a JSON-serialisable
    dict. Bad input raises ConfigError / DataError (one line)."""
    from bench.engine.device import to_device, training_device
    from bench.engine.data import check_model_fits, get_dataset, split_sequences
    from bench.engine.seed import determinism_flags, seed_everything
    from bench.contract import model_contract
    from bench.engine.train import make_batcher, make_loss_fn, make_optimizer, model_loss
    from bench.errors import ConfigError
    from bench.flops import count_parameters
    from bench.engine.device import device_name
    from bench.registry import create_model
    from bench.typed_config import typed

    if steps < 1 or warmup < 0:
        raise ConfigError(f"steps={steps} must be >= 1 and warmup={warmup} >= 0")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads={threads} must be at least 1")
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        exp = typed(cfg)
        seed_everything(exp.seed)
        dev = training_device(device or exp.train.device)
        ds = get_dataset(exp.data)
        train_seqs, _, _ = split_sequences(ds, exp.data)
        model = create_model(exp.model.name, **exp.model.options)
        contract = model_contract(model, exp.model.name)
        check_model_fits(model, ds)
        model.to(dev).train()
        tc = exp.train
        loss_fn = make_loss_fn(tc)
        batcher = make_batcher(model, train_seqs, ds.keypoints_layout, ds.skeleton, tc)
        opt = make_optimizer(model, tc)
        max_norm = contract.apply_max_norm
        batches = _loop_batches(batcher, np.random.RandomState(exp.seed))
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

        def draw():
            x, y, *ctx = next(batches)
            return to_device(dev, x, y, ctx[0] if ctx else None)

        def optimizer_part(x, y, pred):
            if tc.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            if max_norm is not None:
                max_norm()
            with torch.no_grad():  # the engine's running training error
                torch.norm(pred - y, dim=-1).mean().item()

        def step():
            x, y, c = draw()
            loss, pred = model_loss(model, x, y, c, loss_fn, contract)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            optimizer_part(x, y, pred)
            return len(x)

        for _ in range(warmup):
            step()
        parts = {"batch": [], "forward": [], "backward": [], "optimizer": []}
        sizes = []
        for _ in range(steps):
            sync()
            t0 = time.perf_counter()
            x, y, c = draw()
            sync()
            t1 = time.perf_counter()
            loss, pred = model_loss(model, x, y, c, loss_fn, contract)
            sync()
            t2 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            sync()
            t3 = time.perf_counter()
            optimizer_part(x, y, pred)
            sync()
            t4 = time.perf_counter()
            for k, a, b in (("batch", t0, t1), ("forward", t1, t2), ("backward", t2, t3), ("optimizer", t3, t4)):
                parts[k].append((b - a) * 1000)
            sizes.append(len(x))

        # Operator and FLOP counts of one more step (not timed).
        x, y, c = draw()
        ops_forward, by_name = count_ops(lambda: model_loss(model, x, y, c, loss_fn, contract))
        counter = OpCounter()
        with counter:
            loss, pred = model_loss(model, x, y, c, loss_fn, contract)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            optimizer_part(x, y, pred)
        flop_counter = FlopCounterMode(display=False)
        with flop_counter:
            loss, _ = model_loss(model, x, y, c, loss_fn, contract)
            loss.backward()
        opt.zero_grad(set_to_none=True)
        flops_step = int(flop_counter.get_total_flops())
        peak = matmul_peak_gflops(dev)
        overhead = op_overhead_us(dev)
        threads_used = torch.get_num_threads()
        determinism = determinism_flags(dev)
    finally:
        torch.set_num_threads(previous_threads)

    med = {k: statistics.median(v) for k, v in parts.items()}
    step_ms = statistics.median([sum(p) for p in zip(*parts.values())])
    batch = int(statistics.median(sizes))
    out_frames = contract.train_out_frames
    compute_ms = med["forward"] + med["backward"]
    compute_floor = flops_step / (peak["gflops"] * 1e9) * 1000 if peak["gflops"] else None
    overhead_floor = counter.total * overhead / 1000
    return {
        "model": exp.model.name,
        "options": dict(exp.model.options),
        "params": count_parameters(model),
        "batch_size": batch,
        "output_frames_per_window": out_frames,
        "steps": steps,
        "warmup": warmup,
        "step_ms": step_ms,
        "ms": med,
        "windows_per_s": batch / (step_ms / 1000),
        "frames_per_s": batch * out_frames / (step_ms / 1000),
        "steps_per_s": 1000 / step_ms,
        "ops_forward": ops_forward,
        "ops_step": counter.total,
        "top_ops_forward": dict(by_name.most_common(8)),
        "flops_step": flops_step,
        "gflops_achieved": flops_step / (compute_ms / 1000) / 1e9 if compute_ms > 0 else None,
        "matmul_peak_gflops": peak["gflops"],
        "matmul_peak_n": peak["n"],
        "op_overhead_us": overhead,
        "compute_floor_ms": compute_floor,
        "overhead_floor_ms": overhead_floor,
        "bound": _bound(compute_floor, overhead_floor, step_ms),
        "device": str(dev),
        "device_name": device_name(dev),
        "threads": threads_used,
        "determinism": determinism,
        "torch_version": torch.__version__,
    }


def _bound(compute_floor: float | None, overhead_floor: float, step_ms: float) -> str:
    """What a step's time is spent on, from the two floors: FLOPs, or per-op overhead, when that floor is at
    least half of the step; otherwise neither, and the time goes to memory traffic and small kernels that
    reach a fraction of the matmul rate (elementwise passes, BatchNorm, small batched products)."""
    if compute_floor is not None and compute_floor >= 0.5 * step_ms:
        return "FLOPs"
    if overhead_floor >= 0.5 * step_ms:
        return "per-op overhead"
    return "memory traffic and small kernels (both floors under half the step)"


def format_training_profile(r: dict[str, Any]) -> str:
    """Two-column text table of a :func:`profile_training` result."""
    ms = r["ms"]
    opts = ", ".join(f"{k}={v}" for k, v in sorted(r["options"].items()))
    rows = [
        ("model", r["model"]),
        ("options", opts),
        ("parameters", f"{r['params']:,}"),
        ("batch", f"{r['batch_size']} windows x {r['output_frames_per_window']} output frame(s)"),
        ("throughput", f"{r['windows_per_s']:,.0f} windows/s, {r['frames_per_s']:,.0f} output frames/s, "
                       f"{r['steps_per_s']:.2f} steps/s"),
        ("ms per step (median)", f"{r['step_ms']:.2f}: batch {ms['batch']:.2f}, forward {ms['forward']:.2f}, "
                                 f"backward {ms['backward']:.2f}, optimizer {ms['optimizer']:.2f}"),
        ("aten ops", f"{r['ops_forward']:,} per forward, {r['ops_step']:,} per step"),
        ("FLOPs per step", f"{r['flops_step'] / 1e9:,.3f} G (forward + backward, 2 x MACs)"),
        ("achieved", f"{r['gflops_achieved']:,.1f} GFLOP/s (forward + backward) against a matmul peak of "
                     f"{r['matmul_peak_gflops']:,.1f} GFLOP/s (n={r['matmul_peak_n']}) = "
                     f"{100 * r['gflops_achieved'] / r['matmul_peak_gflops']:.1f} %"),
        ("floors", f"compute {r['compute_floor_ms']:.2f} ms, per-op overhead {r['overhead_floor_ms']:.2f} ms "
                   f"({r['op_overhead_us']:.1f} us per op) -> bound by {r['bound']}"),
        ("device", f"{r['device']} ({r['device_name']}), {r['threads']} thread(s), torch {r['torch_version']}"),
        ("timing", f"{r['steps']} timed steps after {r['warmup']} warm-up steps"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
