"""Data-parallel training of one experiment over several processes (``bench train --ddp``).

torchrun starts N processes; each builds the same data, model (same seed) and window batcher, and draws
the same batch order from the same numpy RNG, so every process sees the same global batch. Process r
trains on its contiguous share of each global batch (:func:`shard`); its loss is scaled by
``world * n_local / n_global`` so that the all-reduced gradient divided by ``world``
(:func:`average_gradients`) is the gradient of the mean loss over the whole global batch, also for the
uneven last batch and for a process whose share is empty (it contributes zero gradients). Gradient
clipping, the optimiser step and the models' max-norm constraint then run on identical gradients, so the
weights stay identical on every process.

The gradients are all-reduced by hand rather than by wrapping the model in
``torch.nn.parallel.DistributedDataParallel``: several models compute their loss through
``model.loss_terms(...)``, which calls ``self(...)`` / ``self.forward_all(...)`` internally and so would
bypass DDP's forward hooks, and the engine calls model methods (``set_bn_momentum``,
``apply_max_norm``, ``receptive_field``...) that a DDP wrapper hides. One flattened buffer per step
keeps the reduction to a single collective call.

Why the result is not bit-for-bit single-process training:

* BatchNorm: in training mode each process normalises its share with the share's own batch statistics
  (the single-process run uses the whole batch's). ``torch.nn.SyncBatchNorm`` would fix that, but it
  only runs on CUDA (or a privateuse1 device): on CPU its forward raises "SyncBatchNorm expected input
  tensor to be on GPU" (torch 2.13). CPU and GPU runs share one code path, so there is no
  ``--sync-bn``, not even on CUDA: a GPU run's BatchNorm means what a CPU run's does. The running
  statistics are averaged over the processes after every epoch (:func:`average_bn_stats`; the running
  averages are linear in the batch statistics, so this is the running average of the per-share
  statistics averaged over the processes), which leaves every process with the same model for
  validation and evaluation.
* Dropout draws other masks (each process draws for its share only).
* Floating-point sums are taken in another order (per share, then across processes).

Backends: ``gloo`` works with CPU and CUDA tensors, ``nccl`` with CUDA tensors only and with one GPU per
process (NCCL refuses two ranks on one GPU). ``auto`` takes nccl when the experiment trains on CUDA
(``train.device``) and the machine has a GPU for every local process, else gloo. On CUDA each process
uses its own GPU, ``cuda:(LOCAL_RANK mod GPUs)`` (bench/engine/device.py).
"""
from __future__ import annotations

import os
import subprocess
import sys

import torch
from torch import nn

from bench.errors import BenchError, ConfigError

BACKENDS = ("auto", "gloo", "nccl")


def world() -> tuple[int, int]:
    """(rank, world size) of this process as torchrun's environment gives them; (0, 1) outside torchrun."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def under_torchrun() -> bool:
    """True inside a process started by torchrun (``torch.distributed.run``)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def active() -> tuple[int, int]:
    """(rank, world size) of the initialised process group; (0, 1) when there is none."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def resolve_backend(backend: str, device: str = "cpu", nproc: int = 1) -> str:
    """The backend for ``nproc`` local processes training on ``train.device`` = ``device``: ``auto`` ->
    nccl on CUDA with a GPU for every process, else gloo; an explicit choice is checked (ConfigError)."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    on_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    gpus = torch.cuda.device_count() if on_cuda else 0
    if backend == "nccl":
        if not on_cuda:
            raise ConfigError(f"--backend nccl needs CUDA tensors but train.device={device} trains on CPU; "
                              f"use --backend gloo (or auto), or --device cuda")
        if device.startswith("cuda:") and nproc > 1:
            raise ConfigError(f"--backend nccl needs one GPU per process, but train.device={device} puts all "
                              f"{nproc} on one; use train.device=cuda (each process its own GPU)")
        if nproc > gpus:
            raise ConfigError(f"--backend nccl needs one GPU per process: {nproc} processes but {gpus} "
                              f"GPU(s) here; use --backend gloo (or auto), which can share a GPU")
        return "nccl"
    if backend == "auto" and on_cuda and not device.startswith("cuda:") and nproc <= gpus:
        return "nccl"
    return "gloo"


def init(backend: str = "gloo") -> str:
    """Join torchrun's process group (env:// rendezvous) with ``backend`` (already resolved); returns it."""
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"init needs a resolved backend (gloo or nccl), got {backend!r}")
    if not torch.distributed.is_available():
        raise ConfigError("this torch build has no torch.distributed; --ddp is not available")
    if not torch.distributed.is_initialized():
        if backend == "nccl":
            # bind the process to its GPU first: NCCL picks its device from the current one
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        torch.distributed.init_process_group(backend=backend)
    return backend


def shutdown() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def shard(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """[lo, hi) of process ``rank``'s contiguous share of a global batch of ``n`` windows.

    The batch is split evenly over ``k = min(world_size, n // 2)`` processes (at least one), so no share
    holds a single window while the batch has more (BatchNorm cannot normalise one window whose output
    is one frame); processes past ``k`` get an empty share."""
    k = max(1, min(world_size, n // 2))
    if rank >= k:
        return n, n
    return rank * n // k, (rank + 1) * n // k


def average_gradients(model: nn.Module, world_size: int | None = None) -> None:
    """All-reduce every parameter's gradient (one flattened buffer) and divide by the world size.

    A parameter without a gradient on this process (``None``: an empty share, or unused in this
    forward) contributes zeros; one without a gradient on every process keeps ``None``, as in a
    single-process run, so the optimisers skip the same parameters everywhere."""
    world_size = world_size or torch.distributed.get_world_size()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return
    parts = [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), dtype=p.dtype,
                                                                        device=p.device)
             for p in params]
    flags = torch.tensor([float(p.grad is not None) for p in params], dtype=parts[0].dtype,
                         device=parts[0].device)
    buf = torch.cat(parts + [flags])
    torch.distributed.all_reduce(buf)
    total = sum(p.numel() for p in params)
    buf[:total] /= world_size
    seen = buf[total:]
    offset = 0
    for i, p in enumerate(params):
        n = p.numel()
        if seen[i] > 0:
            g = buf[offset:offset + n].view_as(p).to(p.dtype)
            if p.grad is None:
                p.grad = g.clone()
            else:
                p.grad.copy_(g)
        offset += n


def broadcast_parameters(model: nn.Module, src: int = 0) -> None:
    """Copy process ``src``'s parameters and buffers to every process."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            torch.distributed.broadcast(t.data, src)


def average_bn_stats(model: nn.Module, world_size: int | None = None) -> None:
    """Average the BatchNorm running mean / variance over the processes (see the module docstring)."""
    world_size = world_size or torch.distributed.get_world_size()
    stats = [t for m in model.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
             for t in (m.running_mean, m.running_var) if t is not None]
    if not stats:
        return
    buf = torch.cat([t.reshape(-1).to(torch.float64) for t in stats])
    torch.distributed.all_reduce(buf)
    buf /= world_size
    offset = 0
    with torch.no_grad():
        for t in stats:
            n = t.numel()
            t.copy_(buf[offset:offset + n].view_as(t))
            offset += n


def all_sum(values: list[float]) -> list[float]:
    """Element-wise sum of a few numbers over the processes (float64)."""
    dev = torch.device("cuda", torch.cuda.current_device()) if _backend() == "nccl" else "cpu"
    buf = torch.tensor(values, dtype=torch.float64, device=dev)  # nccl reduces CUDA tensors only
    torch.distributed.all_reduce(buf)
    return buf.tolist()


def _backend() -> str:
    return torch.distributed.get_backend() if torch.distributed.is_initialized() else "gloo"


def launch(argv: list[str], nproc: int) -> int:
    """Run ``bench <argv>`` (a ``train ... --ddp`` command) under torchrun with ``nproc`` processes on
    this machine; returns its exit code.

    The workers' stdout (rank 0's progress) is passed through. Their stderr is collected: on success it
    is printed as it was; on failure the workers' own ``error: ...`` line becomes this command's error
    (torchrun's failure report would bury it), or, when there is none, the collected output is printed
    before a one-line error."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           "-m", "bench.cli", *argv]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate()
    except KeyboardInterrupt:  # Ctrl-C reached torchrun and its workers too: let them stop
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.communicate()
        raise
    if proc.returncode == 0:
        if stderr:
            sys.stderr.write(stderr)
        return 0
    errors = []
    for line in stderr.splitlines():
        if line.startswith("error: ") and line[7:] not in errors:
            errors.append(line[7:])
    if errors:
        raise BenchError(errors[0])
    sys.stderr.write(stderr)
    raise BenchError(f"distributed training failed: torchrun exited with code {proc.returncode} "
                     f"(its output is above)")
