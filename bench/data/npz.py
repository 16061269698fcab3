"""Reading and writing the VideoPose3D npz layout (model-specs.md section 5.2).

``data_3d_<name>.npz``: key ``positions_3d`` -> pickled dict subject -> action -> (F, J, 3) world
metres. ``data_2d_<name>_<source>.npz``: key ``positions_2d`` -> subject -> action -> list (one per
camera) of (F, J, 2) pixels, and key ``metadata`` -> dict (``num_joints``, ``keypoints_symmetry``,
optionally ``layout_name``).
"""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from bench.errors import DataError


def load_npz_item(path: str | os.PathLike, key: str, required: bool = True):
    """Load ``key`` from an npz file and unwrap a pickled dict; one clear error on any problem."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    try:
        with np.load(path, allow_pickle=True) as f:
            if key not in f.files:
                if not required:
                    return None
                raise DataError(f"{path}: missing key {key!r} (found: {', '.join(f.files) or 'none'})")
            value = f[key]
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, pickle.UnpicklingError) as e:
        raise DataError(f"{path}: not a readable npz file ({type(e).__name__}: {e})") from None
    if value.dtype == object and value.shape == ():
        value = value.item()
    return value


def save_npz_atomic(path: str | os.PathLike, **arrays) -> None:
    """Write an npz so that readers never see a half-written file (temp file + rename)."""
    from bench.records import write_atomic

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    write_atomic(path, write)


def expect_dict(obj, where: str) -> dict:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a dict subject -> action -> array, got {type(obj).__name__}")
    return obj
