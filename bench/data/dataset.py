"""The dataset container every loader returns, and loader lookup.

A :class:`PoseDataset` holds, per subject and action, one 2D keypoint sequence per camera
(normalised screen coordinates, model-specs.md section 5.4) and the matching 3D joint positions in
that camera's frame (metres). Loaders do the format-specific work (npz layout, world -> camera,
joint reduction); the engine only sees :class:`Sequence` objects.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

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
        ('Walking 1' -> 'Walking'), as in VideoPose3D."""
        return self.action.split(" ")[0]

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

    def subjects(self) -> list[str]:
        return sorted(self.positions)

    def actions(self, subject: str | None = None) -> list[str]:
        subjects = [subject] if subject else self.subjects()
        return sorted({a for s in subjects for a in self.positions.get(s, {})})

    def action_groups(self) -> list[str]:
        return sorted({a.split(" ")[0] for a in self.actions()})

    def num_cameras(self, subject: str) -> int:
        first = next(iter(self.positions[subject].values()))
        return len(first)

    def sequences(self, subjects: list[str], actions: list[str] | None = None,
                  cameras: list[int] | None = None, downsample: int = 1) -> list[Sequence]:
        """The sequences of ``subjects``; ``actions`` are matched as whole names or group prefixes
        ('Walk' matches 'Walking 1'), as VideoPose3D's ``-a`` flag does."""
        out = []
        for s in subjects:
            if s not in self.positions:
                raise ConfigError(f"unknown subject {s!r} in dataset {self.name}; "
                                  f"known: {', '.join(self.subjects())}")
        if actions:
            known = self.actions()
            for a in actions:
                if not any(k == a or k.startswith(a) for k in known):
                    raise ConfigError(f"unknown action {a!r} in dataset {self.name}; "
                                      f"known: {', '.join(self.action_groups())}")
        for s in subjects:
            for action in sorted(self.positions[s]):
                if actions and not any(action == a or action.startswith(a) for a in actions):
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


# ---------------------------------------------------------------------------------------------
# Loader lookup: ``--data NAME[:PATH]``.

_LOADERS: dict[str, Callable[..., PoseDataset]] = {}
_LOADER_DOCS: dict[str, str] = {}


def register_loader(name: str, doc: str) -> Callable:
    def wrap(fn):
        _LOADERS[name] = fn
        _LOADER_DOCS[name] = doc
        return fn
    return wrap


def _ensure_loaders() -> None:
    from bench.data import loaders  # noqa: F401  (registers the loaders)


def list_datasets() -> dict[str, str]:
    _ensure_loaders()
    return dict(_LOADER_DOCS)


def load_dataset(spec: str = "standin", source: str = "gt", **options) -> PoseDataset:
    """Load ``spec`` = ``NAME`` or ``NAME:PATH`` (e.g. ``h36m:/data/h36m``) with 2D ``source``."""
    _ensure_loaders()
    name, _, path = spec.partition(":")
    if name not in _LOADERS:
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(sorted(_LOADERS))} "
                          f"(use NAME or NAME:PATH)")
    return _LOADERS[name](path or None, source=source, **options)


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
