"""Where an experiment trains and is evaluated (``train.device``).

``cpu`` is the default and the reference: CPU runs are bit-for-bit repeatable, the golden values and
every CI check are CPU numbers, and a GPU run is a different experiment (another id: the key counts in
the hash when it is off its default). ``cuda`` / ``cuda:N`` train on a GPU; ``auto`` takes the GPU when
CUDA is available. Inside a process group started by torchrun a plain ``cuda`` (or ``auto``) means the
process's own GPU, ``cuda:(LOCAL_RANK mod the GPU count)``, so N processes spread over the GPUs of the
machine and share them round-robin when there are fewer GPUs than processes.

The training windows stay in host memory and each batch is copied to the device when it is drawn: the
stand-in and Human3.6M training sets are small next to the model activations, and one code path keeps
the batch order (numpy RNG) identical on every device.
"""
from __future__ import annotations

import os
import platform

import torch

from bench.errors import ConfigError


def resolve_device(device: str, key: str | None = None) -> torch.device:
    """``torch.device`` for a device string, or ConfigError (one line) when it is unknown or unavailable.
    ``key``: the config key the string came from (``train.device``), named in the message instead of the
    ``--device`` flag."""
    said, fix = (f"{key}={device}", f"use {key}=cpu or auto") if key else (f"device {device!r}", "use --device cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device {device!r}; use 'cpu' or 'cuda' (or 'cuda:N')") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{said} requested but CUDA is not available here (torch {torch.__version__}); "
                              f"{fix}")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"{said} does not exist: {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type != "cpu":
        raise ConfigError(f"device {device!r} is not supported by the profiler; use 'cpu' or 'cuda'")
    return dev


def device_name(dev: torch.device) -> str:
    """GPU name from CUDA, or the CPU model name from /proc/cpuinfo (platform string as a fallback)."""
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def training_device(setting: str, local_rank: int | None = None) -> torch.device:
    """``train.device`` -> a ``torch.device``; ConfigError (one line) when it is unknown or unavailable.

    ``local_rank``: this process's index on its machine under torchrun (``LOCAL_RANK``); it picks the GPU
    for a plain ``cuda`` / ``auto``. An explicit ``cuda:N`` is taken as it is."""
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    dev = resolve_device(setting, key="train.device")
    if dev.type == "cuda" and dev.index is None:
        rank = local_rank if local_rank is not None else int(os.environ.get("LOCAL_RANK", 0))
        dev = torch.device("cuda", rank % torch.cuda.device_count())
    return dev


def to_device(dev: torch.device, *tensors: torch.Tensor | None):
    """The tensors on ``dev`` (None stays None); a no-op on CPU. Pinned-memory copies are not worth it
    for batches of a few hundred kilobytes."""
    if dev.type == "cpu":
        return tensors
    return tuple(None if t is None else t.to(dev, non_blocking=False) for t in tensors)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model with neither)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")
