"""Run provenance, shared by every record writer (training runs and profile cells): the machine, the git
revision, library versions and the fields every run record starts with."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import torch

from bench.records import SCHEMA


def machine_info(device: torch.device | None = None) -> dict:
    """The host, CPU, Python and platform; with ``device``, also the device the run trained on."""
    from bench.engine.device import device_name

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


def record_base(cfg: dict, *, run_id: str, protocol: str | None, scale: str, cell: dict | None,
                shrinks: list[str] | None, overrides: dict | None, device: torch.device | None = None) -> dict:
    """The fields every run record starts with: identity (id, protocol, scale, cell, seed, config),
    the user's --set, and provenance (machine, versions, git revision)."""
    return {"schema": SCHEMA, "id": run_id, "protocol": protocol, "scale": scale, "cell": cell or {},
            "seed": cfg["seed"], "config": cfg, "shrinks": shrinks or [], "overrides": dict(overrides or {}),
            "machine": machine_info(device), "git": git_revision(),
            "versions": {"torch": torch.__version__, "numpy": np.__version__}}
