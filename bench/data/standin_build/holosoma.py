"""Joint positions of the holosoma-retargeting 0.1.0 climbing demo (docs/data-sources.md section 2).

Files ``holosoma_retargeting/demo_data/climb/mocap_climb_seq_{0..4}/*_joint_positions_*.npy`` hold
float32 arrays (F, 53, 3) of joint positions in metres, Z up. Their joint order is the list
``MOCAP_DEMO_JOINTS`` in ``holosoma_retargeting/config_types/data_type.py``; it is read from that file
with :mod:`ast` (the package itself, with its heavy dependencies, is not imported).

The recording rate is not stated anywhere in the package; its own loader keeps every 4th frame and
plays the result at 30 fps, so 120 Hz is *assumed* (:data:`ASSUMED_RATE`) and recorded in PROVENANCE.md.
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from bench.errors import DataError

ASSUMED_RATE = 120.0
NAMES_VARIABLE = "MOCAP_DEMO_JOINTS"


def read_joint_names(data_type_py: str | Path) -> list[str]:
    """The ``MOCAP_DEMO_JOINTS`` list literal of holosoma's ``data_type.py``."""
    path = Path(data_type_py)
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError) as e:
        raise DataError(f"cannot read the joint names from {path}: {e}") from None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == NAMES_VARIABLE for t in node.targets):
            try:
                names = ast.literal_eval(node.value)
            except ValueError:
                break
            if isinstance(names, list) and all(isinstance(n, str) for n in names):
                return names
    raise DataError(f"{path}: no list literal {NAMES_VARIABLE} found")


def load_joint_positions(path: str | Path, names: list[str]) -> np.ndarray:
    """One clip as float64 (F, J, 3) metres, checked against the joint-name list."""
    path = Path(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if arr.ndim != 3 or arr.shape[1:] != (len(names), 3):
        raise DataError(f"{path}: expected shape (F, {len(names)}, 3), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{path}: non-finite joint positions")
    return arr.astype(np.float64)
