"""Shared fixtures: a tiny dataset in the stand-in (VideoPose3D) layout built from synthetic motion.

Seven subjects (the Human3.6M names, so the published cameras apply), two actions, short
sequences of a skeleton swinging its limbs; 2D by the real distorted projection.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from bench.camera import h36m_cameras
from bench.data.npz import save_npz_atomic
from bench.skeleton import H36M_17

# Tests write results under their working directory (most chdir to tmp_path first), never into the
# checkout's results/ (the default root, bench/paths.py): a relative BENCH_RESULTS is taken against the
# working directory when a command resolves it. Set here, before any test module is imported, so
# environments that test modules copy at import time (subprocess tests) carry it too.
os.environ["BENCH_RESULTS"] = "results"

SUBJECTS = ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]

# A standing pose (metres, Z up) in H36M-17 order.
REST = np.array([
    [0, 0, 0.95], [-0.13, 0, 0.95], [-0.13, 0, 0.52], [-0.13, 0, 0.1], [0.13, 0, 0.95], [0.13, 0, 0.52],
    [0.13, 0, 0.1], [0, 0, 1.18], [0, 0, 1.42], [0, 0.05, 1.52], [0, 0, 1.62], [0.18, 0, 1.4],
    [0.2, 0, 1.12], [0.21, 0, 0.88], [-0.18, 0, 1.4], [-0.2, 0, 1.12], [-0.21, 0, 0.88]])


def synthetic_motion(frames: int, phase: float, speed: float, scale: float) -> np.ndarray:
    t = np.arange(frames) / 50.0
    pose = np.repeat(REST[None] * scale, frames, axis=0)
    swing = 0.25 * np.sin(2 * np.pi * speed * t + phase)
    for j, sign in ((12, 1), (13, 1), (15, -1), (16, -1), (2, -1), (3, -1), (5, 1), (6, 1)):
        pose[:, j, 1] += sign * swing * (1.5 if j in (13, 16, 3, 6) else 1.0)
    pose[:, :, 0] += 0.3 * np.sin(2 * np.pi * 0.2 * t + phase)[:, None]
    return pose.astype(np.float32)


def write_tiny_dataset(folder, frames: int = 90, nan_at=None) -> None:
    pos3d, pos2d = {}, {}
    for i, s in enumerate(SUBJECTS):
        pos3d[s], pos2d[s] = {}, {}
        cams = h36m_cameras(s)
        for a, (action, speed) in enumerate((("Walk 1", 1.0), ("Wave 1", 0.5))):
            world = synthetic_motion(frames + 7 * a, phase=0.3 * i + a, speed=speed, scale=1 + 0.03 * i)
            pos3d[s][action] = world
            pos2d[s][action] = [c.project_world(world).astype(np.float32) for c in cams]
    if nan_at:
        pos3d[nan_at[0]][nan_at[1]][3, 2, 0] = np.nan
    meta = {"layout_name": "h36m17", "num_joints": 17,
            "keypoints_symmetry": [list(H36M_17.joints_left), list(H36M_17.joints_right)]}
    save_npz_atomic(folder / "data_3d_standin.npz", positions_3d=pos3d)
    save_npz_atomic(folder / "data_2d_standin_gt.npz", positions_2d=pos2d, metadata=meta)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_standin")
    write_tiny_dataset(folder)
    return folder


@pytest.fixture
def dataset_writer():
    """The tiny-dataset writer, for tests that need a damaged copy (e.g. ``nan_at``)."""
    return write_tiny_dataset


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of tiny-tensor tests: on a loaded 2-core machine OpenMP hand-offs
    cost more than the maths (use with ``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def published():
    """``published(paper, table, key)``: the values of the one cell of ``results/reported/<paper>.yaml``'s
    ``table`` whose key is ``key`` (dotted config paths), the one place published numbers live."""
    from bench.report.published import get_reported_table

    def lookup(paper: str, table: str, key: dict) -> dict:
        cells = [c for c in get_reported_table(paper, table).cells if c["key"] == key]
        assert len(cells) == 1, f"{paper}.{table}: {len(cells)} cells with key {key}"
        return cells[0]["values"]

    return lookup
