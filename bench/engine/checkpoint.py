"""Checkpoints that carry the model options and refuse a mismatched config loudly."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from bench.config import diff
from bench.errors import ConfigError, DataError


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, cfg: dict, epoch: int) -> None:
    """Write {config, model name/options, state_dict, epoch} atomically."""
    from bench.records import write_atomic

    payload = {"config": cfg, "model": cfg["model"], "epoch": epoch, "state_dict": model.state_dict(),
               "format": 1}
    write_atomic(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | os.PathLike, expected_model: dict | None = None):
    """Load a checkpoint and rebuild its model. If ``expected_model`` ({name, options}) is given and
    differs, raise ConfigError listing every differing option."""
    from bench.registry import create_model

    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint not found: {path}")
    try:
        # weights_only: tensors and plain containers only, so a crafted file cannot run code on load
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for corrupt or refused files
        raise DataError(f"{path}: not a readable bench checkpoint ({type(e).__name__}; only tensors and plain "
                        f"values are loaded, never code)") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != 1 or "model" not in ckpt:
        raise DataError(f"{path}: not a bench checkpoint (missing model options)")
    if expected_model is not None:
        d = diff({"model": ckpt["model"]}, {"model": expected_model})
        if d:
            what = "; ".join(f"{k}: checkpoint {a!r} vs requested {b!r}" for k, a, b in d)
            raise ConfigError(f"{path}: checkpoint does not match the requested model ({what})")
    model = create_model(ckpt["model"]["name"], **ckpt["model"]["options"])
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise ConfigError(f"{path}: weights do not fit the model options "
                          f"({str(e).splitlines()[0]})") from None
    return model, ckpt["config"]
