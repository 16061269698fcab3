"""A small Human3.6M folder in the exact layout of VideoPose3D's real files, generated (no real data).

``write_h36m_fixture(folder)`` writes, in well under a second:

* ``data_3d_h36m.npz``: ``positions_3d[subject][take]`` = (F, 32, 3) float32 **world** positions in
  metres for S1, S5-S9, S11 with the real take names (:data:`H36M_TAKES`): 30 takes per subject,
  S1's raw ``TakingPhoto``/``TakingPhoto 1``/``WalkingDog``/``WalkingDog 1``, S11 without
  ``Directions`` (VideoPose3D's preparation drops that corrupted take) but with ``Directions 1``,
  ``Sitting``/``Sitting 1`` next to ``SittingDown``/``SittingDown 1``. Takes differ in length.
* ``data_2d_h36m_<source>.npz``: ``positions_2d[subject][take]`` = list of 4 (F', J, 2) float32 pixel
  arrays (camera order 54138969, 55011271, 58860488, 60457274) and ``metadata``, for

  ==================  ======  ==========================================  =====================
  source              joints  metadata (as VideoPose3D's scripts write)    S1 take names
  ==================  ======  ==========================================  =====================
  gt                  17      num_joints, keypoints_symmetry (no layout)  raw (computed from 3D)
  cpn_ft_h36m_dbb     17      layout_name 'h36m', num_joints, symmetry    canonical (Photo ...)
  sh_pt_mpii          16      num_joints, MPII symmetry (no layout)       raw
  detectron_ft_h36m   17      layout_name 'h36m', num_joints, symmetry    canonical
  sh_ft_h36m          16      as sh_pt_mpii (only when asked for)         raw
  detectron_pt_coco   17      layout_name 'coco' (only when asked for)    canonical
  ==================  ======  ==========================================  =====================

  Evidence: ``data/prepare_data_h36m.py`` writes the gt metadata without ``layout_name``;
  ``data/prepare_data_2d_h36m_sh.py`` writes ``{'num_joints': 16, 'keypoints_symmetry':
  [[3, 4, 5, 13, 14, 15], [0, 1, 2, 10, 11, 12]]}`` (MPII order) and does not rename S1's takes;
  ``data/tools/prepare_data_2d_h36m_generic.py`` takes the metadata from the output name
  (``data/data_utils.py`` ``suggest_metadata``: 'h36m' in ``detectron_ft_h36m`` -> the h36m
  metadata, 'coco' in ``detectron_pt_coco`` -> the coco metadata) and renames S1's takes
  (TakingPhoto -> Photo, WalkingDog -> WalkDog). How the released CPN file spells S1's takes could
  not be checked here; it is assumed to follow the generic converter (``canonical_s1``).
  The detection files also hold the unlabeled subjects S2-S4 (DATASETS.md), and some of their
  sequences are 2 frames longer than the mocap ("some videos in H3.6M contain extra frames", run.py).

2D is the distorted projection of the motion through the published cameras (bench.camera), so 2D and
3D agree: exactly for ``gt``, within ``noise_px`` pixels of seeded Gaussian noise for the detectors.
The motion is a standing skeleton swinging its limbs and drifting (as tests/conftest.py's), per
subject scaled and per take phased.

Import it from any test by path (the test suite runs with ``--import-mode=importlib``)::

    spec = importlib.util.spec_from_file_location("h36m_fixture", ROOT / "tests/data/h36m_fixture.py")

or, under ``python -m pytest`` from the repository root, ``from tests.data.h36m_fixture import ...``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from bench.camera import h36m_cameras
from bench.data.npz import save_npz_atomic
from bench.skeleton import COCO_17, H36M_17, MPII_16

SUBJECTS = ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]
UNLABELED = ["S2", "S3", "S4"]

# The real take names (Human3.6M's own file names: two recordings per action per subject).
H36M_TAKES = {
    "S1": ["Directions", "Directions 1", "Discussion", "Discussion 1", "Eating", "Eating 2", "Greeting",
           "Greeting 1", "Phoning", "Phoning 1", "Posing", "Posing 1", "Purchases", "Purchases 1",
           "Sitting 1", "Sitting 2", "SittingDown", "SittingDown 2", "Smoking", "Smoking 1", "TakingPhoto",
           "TakingPhoto 1", "Waiting", "Waiting 1", "Walking", "Walking 1", "WalkingDog", "WalkingDog 1",
           "WalkTogether", "WalkTogether 1"],
    "S5": ["Directions 1", "Directions 2", "Discussion 2", "Discussion 3", "Eating", "Eating 1", "Greeting 1",
           "Greeting 2", "Phoning", "Phoning 1", "Posing", "Posing 1", "Purchases", "Purchases 1", "Sitting",
           "Sitting 1", "SittingDown", "SittingDown 1", "Smoking", "Smoking 1", "Photo", "Photo 2", "Waiting 1",
           "Waiting 2", "Walking", "Walking 1", "WalkDog", "WalkDog 1", "WalkTogether", "WalkTogether 1"],
    "S6": ["Directions", "Directions 1", "Discussion", "Discussion 1", "Eating 1", "Eating 2", "Greeting",
           "Greeting 1", "Phoning", "Phoning 1", "Posing", "Posing 2", "Purchases", "Purchases 1", "Sitting 1",
           "Sitting 2", "SittingDown", "SittingDown 1", "Smoking", "Smoking 1", "Photo", "Photo 1", "Waiting",
           "Waiting 3", "Walking", "Walking 1", "WalkDog", "WalkDog 1", "WalkTogether", "WalkTogether 1"],
    "S7": ["Directions", "Directions 1", "Discussion", "Discussion 1", "Eating", "Eating 1", "Greeting",
           "Greeting 1", "Phoning", "Phoning 2", "Posing", "Posing 1", "Purchases", "Purchases 1", "Sitting",
           "Sitting 1", "SittingDown", "SittingDown 1", "Smoking", "Smoking 1", "Photo", "Photo 1", "Waiting 1",
           "Waiting 2", "Walking 1", "Walking 2", "WalkDog", "WalkDog 1", "WalkTogether", "WalkTogether 1"],
    "S8": ["Directions", "Directions 1", "Discussion", "Discussion 1", "Eating", "Eating 1", "Greeting",
           "Greeting 1", "Phoning", "Phoning 1", "Posing", "Posing 1", "Purchases", "Purchases 1", "Sitting",
           "Sitting 1", "SittingDown", "SittingDown 1", "Smoking", "Smoking 1", "Photo", "Photo 1", "Waiting",
           "Waiting 1", "Walking", "Walking 1", "WalkDog", "WalkDog 1", "WalkTogether 1", "WalkTogether 2"],
    "S9": ["Directions", "Directions 1", "Discussion 1", "Discussion 2", "Eating", "Eating 1", "Greeting",
           "Greeting 1", "Phoning", "Phoning 1", "Posing", "Posing 1", "Purchases", "Purchases 1", "Sitting",
           "Sitting 1", "SittingDown", "SittingDown 1", "Smoking", "Smoking 1", "Photo", "Photo 1", "Waiting",
           "Waiting 1", "Walking", "Walking 1", "WalkDog", "WalkDog 1", "WalkTogether", "WalkTogether 1"],
    "S11": ["Directions 1", "Discussion 1", "Discussion 2", "Eating", "Eating 1", "Greeting", "Greeting 2",
            "Phoning 2", "Phoning 3", "Posing", "Posing 1", "Purchases", "Purchases 1", "Sitting", "Sitting 1",
            "SittingDown", "SittingDown 1", "Smoking", "Smoking 2", "Photo", "Photo 1", "Waiting", "Waiting 1",
            "Walking", "Walking 1", "WalkDog", "WalkDog 1", "WalkTogether", "WalkTogether 1"],
}
UNLABELED_TAKES = ["Directions", "Eating 1", "Walking", "Walking 1"]

DEFAULT_SOURCES = ("gt", "cpn_ft_h36m_dbb", "sh_pt_mpii", "detectron_ft_h36m")
ALL_SOURCES = DEFAULT_SOURCES + ("sh_ft_h36m", "detectron_pt_coco")
CANONICAL_S1 = ("cpn_ft_h36m_dbb", "detectron_ft_h36m", "detectron_pt_coco")
DETECTIONS_WITH_UNLABELED = ("cpn_ft_h36m_dbb", "detectron_ft_h36m", "detectron_pt_coco")

_SYM = {"h36m": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
        "mpii": [[3, 4, 5, 13, 14, 15], [0, 1, 2, 10, 11, 12]],
        "coco": [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]}
METADATA = {
    "gt": {"num_joints": 17, "keypoints_symmetry": _SYM["h36m"]},
    "cpn_ft_h36m_dbb": {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": _SYM["h36m"]},
    "detectron_ft_h36m": {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": _SYM["h36m"]},
    "detectron_pt_coco": {"layout_name": "coco", "num_joints": 17, "keypoints_symmetry": _SYM["coco"]},
    "sh_pt_mpii": {"num_joints": 16, "keypoints_symmetry": _SYM["mpii"]},
    "sh_ft_h36m": {"num_joints": 16, "keypoints_symmetry": _SYM["mpii"]},
}

# The 32 mocap joints: parents (model-specs.md 5.1) and where the 17 kept joints sit among them.
PARENTS_32 = [-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12, 16, 17, 18, 19, 20, 19, 22, 12, 24,
              25, 26, 27, 28, 27, 30]
KEPT_32 = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]

# A standing pose (metres, Z up) in H36M-17 order (tests/conftest.py's).
REST = np.array([
    [0, 0, 0.95], [-0.13, 0, 0.95], [-0.13, 0, 0.52], [-0.13, 0, 0.1], [0.13, 0, 0.95], [0.13, 0, 0.52],
    [0.13, 0, 0.1], [0, 0, 1.18], [0, 0, 1.42], [0, 0.05, 1.52], [0, 0, 1.62], [0.18, 0, 1.4],
    [0.2, 0, 1.12], [0.21, 0, 0.88], [-0.18, 0, 1.4], [-0.2, 0, 1.12], [-0.21, 0, 0.88]])

_H = {n: i for i, n in enumerate(H36M_17.joint_names)}
# MPII-16 (Stacked Hourglass) joints from the H36M-17 ones (the inverse of bench.data.layouts'
# mpii16 -> h36m17 on the joints both have).
MPII_FROM_H36M = [_H["RFoot"], _H["RKnee"], _H["RHip"], _H["LHip"], _H["LKnee"], _H["LFoot"], _H["Hip"],
                  _H["Thorax"], _H["Neck/Nose"], _H["Head"], _H["RWrist"], _H["RElbow"], _H["RShoulder"],
                  _H["LShoulder"], _H["LElbow"], _H["LWrist"]]
assert len(MPII_FROM_H36M) == MPII_16.num_joints


def motion_17(frames: int, subject_index: int, take_index: int) -> np.ndarray:
    """(frames, 17, 3) world metres: limbs swinging, the body drifting, per subject/take."""
    t = np.arange(frames) / 50.0
    phase = 0.3 * subject_index + 0.7 * take_index
    speed = 0.5 + 0.1 * (take_index % 5)
    pose = np.repeat(REST[None] * (1 + 0.03 * subject_index), frames, axis=0)
    swing = 0.25 * np.sin(2 * np.pi * speed * t + phase)
    for j, sign in ((12, 1), (13, 1), (15, -1), (16, -1), (2, -1), (3, -1), (5, 1), (6, 1)):
        pose[:, j, 1] += sign * swing * (1.5 if j in (13, 16, 3, 6) else 1.0)
    pose[:, :, 0] += 0.3 * np.sin(2 * np.pi * 0.2 * t + phase)[:, None]
    pose[:, :, 1] += 0.2 * np.cos(2 * np.pi * 0.1 * t + phase)[:, None]
    return pose


def to_32(pose17: np.ndarray) -> np.ndarray:
    """The 17 joints placed at their mocap indices; the 15 others (toes, hand ends, duplicates) a few
    centimetres from their parent, as in the real mocap where they are dropped."""
    out = np.zeros(pose17.shape[:-2] + (32, 3))
    out[..., KEPT_32, :] = pose17
    kept = set(KEPT_32)
    for j, p in enumerate(PARENTS_32):
        if j not in kept:
            out[..., j, :] = out[..., p, :] + np.array([0.0, 0.04, -0.02])
    return out


def coco_from_h36m(pose17: np.ndarray) -> np.ndarray:
    """(..., 17, 3) H36M joints -> (..., 17, 3) COCO joints (eyes and ears around the head)."""
    h = {n: pose17[..., i, :] for n, i in _H.items()}
    head, nose = h["Head"], h["Neck/Nose"]
    side = np.array([0.035, 0.0, 0.0])
    pts = {"Nose": nose + [0, 0.04, 0.0], "LEye": 0.5 * (head + nose) + side + [0, 0.05, 0],
           "REye": 0.5 * (head + nose) - side + [0, 0.05, 0], "LEar": 0.5 * (head + nose) + 2 * side,
           "REar": 0.5 * (head + nose) - 2 * side}
    for n in ("LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist", "RWrist", "LHip", "RHip",
              "LKnee", "RKnee"):
        pts[n] = h[n]
    pts["LAnkle"], pts["RAnkle"] = h["LFoot"], h["RFoot"]
    return np.stack([pts[n] for n in COCO_17.joint_names], axis=-2)


def canonical(take: str) -> str:
    return take.replace("TakingPhoto", "Photo").replace("WalkingDog", "WalkDog")


def h36m_fixture_arrays(frames: int = 6, sources: Iterable[str] = DEFAULT_SOURCES, seed: int = 0,
                        s11_directions: bool = False, canonical_s1: Iterable[str] = CANONICAL_S1,
                        noise_px: float = 1.0, scale_3d: float = 1.0) -> dict[str, dict]:
    """The items of every file: {file name: {npz key: value}} (see :func:`write_h36m_fixture`)."""
    sources = list(sources)
    unknown = [s for s in sources if s not in METADATA]
    if unknown:
        raise ValueError(f"unknown fixture source(s) {unknown}; known: {list(METADATA)}")
    rng = np.random.default_rng(seed)
    takes = {s: list(v) for s, v in H36M_TAKES.items()}
    if s11_directions:
        takes["S11"] = ["Directions"] + takes["S11"]
    pos3d: dict = {}
    pos2d: dict = {src: {} for src in sources}
    want_coco = "detectron_pt_coco" in sources
    for i, subject in enumerate(SUBJECTS):
        cams = h36m_cameras(subject)
        pos3d[subject] = {}
        for src in sources:
            pos2d[src][subject] = {}
        lengths = [(frames + k % 3, 2 if k % 5 == 0 else 0) for k in range(len(takes[subject]))]
        poses = [motion_17(n + extra, i, k) for k, (n, extra) in enumerate(lengths)]
        cuts = np.cumsum([len(p) for p in poses])[:-1]
        allpose = np.concatenate(poses)
        # One projection per camera for all takes of the subject (then cut per take).
        uv17 = [np.split(c.project_world(allpose), cuts) for c in cams]
        uvcoco = ([np.split(c.project_world(coco_from_h36m(allpose)), cuts) for c in cams]
                  if want_coco else None)
        for k, take in enumerate(takes[subject]):
            n, extra = lengths[k]
            pos3d[subject][take] = (to_32(poses[k][:n]) * scale_3d).astype(np.float32)
            for src in sources:
                key = canonical(take) if subject == "S1" and src in canonical_s1 else take
                length = n if src == "gt" else n + extra
                views = []
                for c in range(len(cams)):
                    if src == "detectron_pt_coco":
                        uv = uvcoco[c][k]
                    elif src.startswith("sh_"):
                        uv = uv17[c][k][:, MPII_FROM_H36M]
                    else:
                        uv = uv17[c][k]
                    uv = uv[:length]
                    if src != "gt" and noise_px:
                        uv = uv + rng.normal(scale=noise_px, size=uv.shape)
                    views.append(uv.astype(np.float32))
                pos2d[src][subject][key] = views
    # Unlabeled subjects (no extrinsics, no 3D) in the detection files.
    s1_cams = h36m_cameras("S1")
    for src in sources:
        if src not in DETECTIONS_WITH_UNLABELED:
            continue
        for u, subject in enumerate(UNLABELED):
            pos2d[src][subject] = {}
            for k, take in enumerate(UNLABELED_TAKES):
                pose = motion_17(frames, 7 + u, k)
                pts = coco_from_h36m(pose) if src == "detectron_pt_coco" else pose
                pos2d[src][subject][take] = [c.project_world(pts).astype(np.float32) for c in s1_cams]
    files = {"data_3d_h36m.npz": {"positions_3d": pos3d}}
    for src in sources:
        files[f"data_2d_h36m_{src}.npz"] = {"positions_2d": pos2d[src], "metadata": dict(METADATA[src])}
    return files


_KEEP = object()


def write_h36m_fixture(folder, frames: int = 6, sources: Iterable[str] = DEFAULT_SOURCES, *, seed: int = 0,
                       s11_directions: bool = False, canonical_s1: Iterable[str] = CANONICAL_S1,
                       noise_px: float = 1.0, scale_3d: float = 1.0, metadata: dict | None = None,
                       mutate: Callable[[dict], None] | None = None) -> Path:
    """Write the fixture folder (module docstring) and return it.

    Args:
        frames: frames of the shortest take (takes have ``frames`` to ``frames + 2``).
        sources: the 2D files to write (:data:`ALL_SOURCES` for every one).
        s11_directions: also write S11 'Directions' (the take VideoPose3D drops) to every file.
        canonical_s1: the 2D sources whose S1 takes are named 'Photo'/'WalkDog' instead of the raw
            'TakingPhoto'/'WalkingDog' of the 3D file.
        noise_px: SD of the Gaussian pixel noise of the detection sources (``gt`` is exact).
        scale_3d: factor on the 3D positions (1000: a file in millimetres).
        metadata: source -> the ``metadata`` dict to write instead (None: write no metadata key).
        mutate: called with {file name: {npz key: value}} before writing, to damage anything.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = h36m_fixture_arrays(frames, sources, seed, s11_directions, canonical_s1, noise_px, scale_3d)
    for src, meta in (metadata or {}).items():
        items = files[f"data_2d_h36m_{src}.npz"]
        if meta is None:
            items.pop("metadata", None)
        else:
            items["metadata"] = meta
    if mutate is not None:
        mutate(files)
    for name, items in files.items():
        save_npz_atomic(folder / name, **items)
    return folder
