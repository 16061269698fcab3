"""Seeding and determinism."""
from __future__ import annotations

import os
import random
from contextlib import contextmanager

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch; ask torch for deterministic kernels (CPU runs are then
    bit-for-bit repeatable with the same thread count)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def determinism_flags(device: str | torch.device = "cpu") -> dict:
    """What decides whether a run can be repeated bit for bit, as recorded in every run record. On a CUDA
    device also the settings that make GPU kernels differ from run to run: cuDNN autotuning, TF32 and the
    cuBLAS workspace (``CUBLAS_WORKSPACE_CONFIG``, needed for deterministic cuBLAS)."""
    flags = {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "threads": torch.get_num_threads(),
    }
    device = torch.device(device)
    if device.type == "cuda":
        flags.update(device=str(device), cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                     cublas_workspace_config=os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
                     tf32_matmul=bool(torch.backends.cuda.matmul.allow_tf32),
                     tf32_cudnn=bool(torch.backends.cudnn.allow_tf32))
    return flags


@contextmanager
def deterministic_mode(on: bool | None):
    """Deterministic algorithms and cuDNN on (``True``) or off (``False``, PyTorch's defaults) inside the
    block, restored after; ``None`` leaves the process's settings alone. A sweep process may have trained
    a cell (which turns them on, see :func:`seed_everything`) before it profiles one, so a profile run sets
    them explicitly rather than inherit them from whatever ran before it."""
    if on is None:
        yield
        return
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on, warn_only=True)
    torch.backends.cudnn.deterministic = on
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]
