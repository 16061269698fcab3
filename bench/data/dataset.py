"""The dataset container every loader returns, and loader lookup.

A :class:`PoseDataset` holds, per subject and action, one 2D keypoint sequence per camera
(normalised screen coordinates, model-specs.md section 5.4) and the matching 3D joint positions in
that camera's frame (metres). Loaders do the format-specific work (npz layout, world -> camera,
joint reduction); the engine only sees :class:`Sequence` objects.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from bench.data.actions import action_group, action_groups, select_takes
from bench.errors import ConfigError, DataError
from bench.skeleton import Skeleton


@dataclass
class Sequence:
    """One video: a subject, an action, one camera.

    Attributes:
        keypoints: (F, J_in, 2) float32, normalised screen coordinates.
        positions: (F, J_out, 3) float32, camera frame, metres (absolute; the engine makes it
            root-relative).
    """

    subject: str
    action: str
    camera: int
    keypoints: np.ndarray
    positions: np.ndarray
    res_w: int = 1000  # image width in pixels: 1 pixel = 2 / res_w normalised units
    intrinsics: np.ndarray | None = None  # normalised [fx, fy, cx, cy] of the camera, where known

    @property
    def group(self) -> str:
        """Action group used for action-wise averaging: the name up to the first space
        ('Walking 1' -> 'Walking'), as in VideoPose3D, with Human3.6M S1's raw names mapped onto the
        papers' groups ('TakingPhoto 1' -> 'Photo', 'WalkingDog' -> 'WalkDog'; bench.data.actions)."""
        return action_group(self.action)

    def __len__(self) -> int:
        return len(self.keypoints)


@dataclass
class PoseDataset:
    """Per-camera 2D/3D data of one dataset and one 2D source.

    Attributes:
        keypoints: subject -> action -> list (one per camera) of (F, J_in, 2) normalised arrays.
        positions: subject -> action -> list (one per camera) of (F, J_out, 3) camera-frame arrays.
        train_subjects / test_subjects: the dataset's standard split.
        validation_subjects: training subjects held out for best-epoch selection (never test ones).
        action_aliases: further names ``sequences(actions=...)`` accepts for a group (HumanEva:
            'Walk' -> 'Walking'); see bench.data.actions.
        source_role / source_file: the role the 2D source plays (bench.data.sources; '' for a raw
            source with no role) and the 2D file read.
        files: every file the loader read (3D and 2D): what :func:`fingerprint` hashes.
    """

    name: str
    source: str
    skeleton: Skeleton
    keypoints_layout: Skeleton
    fps: float
    keypoints: dict[str, dict[str, list[np.ndarray]]]
    positions: dict[str, dict[str, list[np.ndarray]]]
    train_subjects: list[str]
    test_subjects: list[str]
    validation_subjects: list[str] = field(default_factory=list)
    resolution: dict[str, list[int]] = field(default_factory=dict)  # subject -> res_w per camera
    # subject -> per camera normalised [fx, fy, cx, cy] (model-specs.md 5.4); empty where unknown
    intrinsics: dict[str, list[np.ndarray]] = field(default_factory=dict)
    path: str = ""
    notes: list[str] = field(default_factory=list)
    action_aliases: dict[str, str] = field(default_factory=dict)
    source_role: str = ""
    source_file: str = ""
    files: list[str] = field(default_factory=list)

    def fingerprint(self) -> dict:
        """What identifies the data of a run beyond its config: the files read, by name, size and
        content hash (sha256 of the files concatenated in order; cached per file and modification
        time, so a sweep hashes each file once)."""
        return data_fingerprint(self.files)

    def subjects(self) -> list[str]:
        return sorted(self.positions)

    def actions(self, subject: str | None = None) -> list[str]:
        subjects = [subject] if subject else self.subjects()
        return sorted({a for s in subjects for a in self.positions.get(s, {})})

    def action_groups(self) -> list[str]:
        """The sorted action groups of every take (bench.data.actions.action_group)."""
        return action_groups(self.actions())

    def num_cameras(self, subject: str) -> int:
        first = next(iter(self.positions[subject].values()))
        return len(first)

    def sequences(self, subjects: list[str], actions: list[str] | None = None,
                  cameras: list[int] | None = None, downsample: int = 1) -> list[Sequence]:
        """The sequences of ``subjects``. ``actions`` select takes exactly, never by prefix: an action
        group selects all its takes ('Sitting' -> 'Sitting', 'Sitting 1', not 'SittingDown'), a
        take name that take only; Human3.6M S1's raw names and the dataset's ``action_aliases`` name
        their group (bench.data.actions). An unknown name is one ConfigError listing the groups."""
        out = []
        for s in subjects:
            if s not in self.positions:
                raise ConfigError(f"unknown subject {s!r} in dataset {self.name}; "
                                  f"known: {', '.join(self.subjects())}")
        chosen = (select_takes(self.actions(), list(actions), self.name, self.action_aliases)
                  if actions else None)
        for s in subjects:
            for action in sorted(self.positions[s]):
                if chosen is not None and action not in chosen:
                    continue
                n_cam = len(self.positions[s][action])
                cams = range(n_cam) if cameras is None else cameras
                for c in cams:
                    if not 0 <= c < n_cam:
                        raise ConfigError(f"unknown camera {c} for {s}/{action} in {self.name}; "
                                          f"valid: 0..{n_cam - 1}")
                    res_w = self.resolution.get(s, [1000] * n_cam)[c]
                    intr = self.intrinsics.get(s)
                    out.append(Sequence(s, action, c,
                                        self.keypoints[s][action][c][::downsample],
                                        self.positions[s][action][c][::downsample], res_w,
                                        None if intr is None else intr[c]))
        return out

    def num_frames(self, subjects: list[str]) -> int:
        return sum(len(v[0]) * len(v) for s in subjects for v in self.positions[s].values())


_HASHES: dict[tuple, str] = {}


def _file_sha256(path: str) -> str:
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def data_fingerprint(files: list[str]) -> dict:
    """``{"files": [{"name", "bytes", "sha256"}], "sha256": <of the files' hashes in order>}``."""
    entries = [{"name": os.path.basename(f), "bytes": os.path.getsize(f), "sha256": _file_sha256(f)}
               for f in files]
    whole = hashlib.sha256("".join(e["sha256"] for e in entries).encode()).hexdigest()
    return {"files": entries, "sha256": whole}


# ---------------------------------------------------------------------------------------------
# What a loader declares (bench.data.loaders looks the loaders up: ``--data NAME[:PATH]``).

@dataclass(frozen=True)
class SourceTable:
    """Where a loader's 2D sources live: files ``data_2d_<tag>_<source>.npz`` in the folder (or
    ``default_folder`` when the spec has no path), and its roles (bench.data.sources)."""

    tag: str
    roles: Mapping[str, tuple[str, ...]]
    default_folder: Callable[[], Path] | None = None  # called when the spec has no path
    needs_path: str = ""  # the error when there is neither a path nor a default folder


def register_loader(name: str, doc: str, sources: SourceTable | None = None) -> Callable:
    """Marks a loader function with its dataset name, one-line description and 2D source table;
    bench.data.loaders collects the marked functions of the loader modules (no registry state here,
    so the loader modules and this one import nothing of each other's in a circle)."""
    def wrap(fn):
        fn.dataset_name, fn.dataset_doc, fn.dataset_sources = name, doc, sources
        return fn
    return wrap

# ---------------------------------------------------------------------------------------------
# Array checks shared by the loaders: one clear line naming the file and the key.

def check_array(arr, where: str, joints: int | None, dims: int) -> np.ndarray:
    """Validate one pose array (F, J, dims): numeric, finite, expected joints; returns float32."""
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise DataError(f"{where}: expected a numeric array, got {type(arr).__name__}")
    if arr.ndim != 3 or arr.shape[-1] != dims:
        raise DataError(f"{where}: expected shape (frames, joints, {dims}), got {arr.shape}")
    if joints is not None and arr.shape[1] != joints:
        raise DataError(f"{where}: expected {joints} joints, got {arr.shape[1]}")
    if len(arr) == 0:
        raise DataError(f"{where}: sequence has no frames")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise DataError(f"{where}: non-finite coordinate (NaN or inf) at frame {bad[0]}, joint {bad[1]}")
    return arr.astype(np.float32, copy=False)
