"""HumanEva-I in the VideoPose3D files (model-specs.md section 6), loader ``humaneva``.

Files in the folder:

* ``data_3d_humaneva15.npz``
    * ``positions_3d``: subject -> action -> (F, 15, 3) world coordinates in metres. Subjects are
      ``Train/S1..S3`` (training), ``Validate/S1..S3`` (test) and ``Unlabeled/...`` (skipped).
      Actions are chunks of the original takes, e.g. ``'Walking 1 chunk0'``; each chunk is its own
      sequence and its action group is the name up to the first space (``'Walking'``).
    * ``cameras`` (optional, not in VideoPose3D's file): subject without prefix (``'S1'``) -> list of
      3 dicts with ``orientation`` (w, x, y, z quaternion, camera -> world), ``translation``
      (camera centre, **metres**), and optionally ``id``, ``res_w``, ``res_h``, ``center``,
      ``focal_length`` (pixels), ``radial_distortion``, ``tangential_distortion``. When absent,
      the extrinsics VideoPose3D publishes for S1-S3 are used (:data:`HUMANEVA_EXTRINSICS`).
* ``data_2d_humaneva15_<source>.npz``
    * ``positions_2d``: same subjects and actions -> list of 3 camera arrays (F, J, 2) in pixels,
      J = 15 (HumanEva order) or 17 (COCO order, e.g. Mask R-CNN detections; converted to
      HumanEva-15 with the GAST-Net remap, bench.data.layouts). A 17-joint file whose
      ``metadata['layout_name']`` says ``h36m`` is converted from Human3.6M order instead.
    * ``metadata``: dict with ``num_joints``, ``keypoints_symmetry`` and optionally ``layout_name``.

2D points are normalised by each camera's resolution (640x480 unless the ``cameras`` key says
otherwise); 3D goes to each camera's frame; 2D sequences longer than the mocap are cut to its
length, shorter ones are an error. Both keypoints and positions use the HumanEva-15 skeleton.
Without a path the bundled HumanEva-layout stand-in (``bundled/standin_humaneva``) is loaded.

The 2D joint order comes from the 2D file's metadata (``layout_name``, else ``keypoints_symmetry``),
else from the joint count as above (bench.data.validate.Layout2D; a guess is noted). 3D that does
not look like metres is one error (bench.data.validate.units_problem). 2D sources: raw names or the
roles ``gt`` and ``detectron`` (``detectron_pt_coco``, VideoPose3D's HumanEva detections; the
bundled stand-in's ``det``) (bench.data.sources). ``data.actions`` accepts ``Walk`` for the group
``Walking`` (VideoPose3D's README runs HumanEva with ``-a Walk,Jog,Box``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.camera import Camera
from bench.data.actions import match_take
from bench.data.dataset import PoseDataset, SourceTable, check_array, register_loader
from bench.data.sources import HUMANEVA_ROLES
from bench.data.validate import Layout2D, check_metres
from bench.data.views import camera_views, resolve_source_files
from bench.data.npz import expect_dict, load_npz_item
from bench.errors import DataError
from bench.skeleton import COCO_17, H36M_17, HUMANEVA_15, Skeleton

BUNDLED = Path(__file__).resolve().parent / "bundled" / "standin_humaneva"
FILE_TAG = "humaneva15"
HUMANEVA_TRAIN = ["Train/S1", "Train/S2", "Train/S3"]
HUMANEVA_TEST = ["Validate/S1", "Validate/S2", "Validate/S3"]
NUM_CAMERAS = 3
RESOLUTION = (640, 480)  # all three colour cameras C1-C3 (VideoPose3D: res_w 640, res_h 480)
CAMERA_IDS = ("C1", "C2", "C3")
HUMANEVA_2D_BY_COUNT = {15: HUMANEVA_15, 17: COCO_17}
HUMANEVA_2D_EXPECTED = "15 (HumanEva order) or 17 (COCO order)"
# Further names data.actions accepts (bench.data.actions): VideoPose3D's README evaluates HumanEva
# with ``-a Walk,Jog,Box`` (prefix match there; the group is 'Walking').
HUMANEVA_ACTION_ALIASES = {"Walk": "Walking"}

# Published HumanEva-I extrinsics as listed in VideoPose3D's common/humaneva_dataset.py
# (facebookresearch/VideoPose3D): quaternion (w, x, y, z) camera -> world and camera centre in
# MILLIMETRES (converted to metres on use). VideoPose3D gives S3 the same numbers as S1; S4 has none.
HUMANEVA_EXTRINSICS = {
    "S1": [
        ((0.424207, -0.4983646, -0.5802981, 0.4847012), (4062.227, 663.2477, 1528.397)),
        ((0.6503354, -0.7481602, -0.0919284, 0.0941766), (844.8131, -3805.2092, 1504.9929)),
        ((0.0664734, -0.0690535, 0.7416416, -0.6639132), (-797.67377, 3916.3174, 1433.6602)),
    ],
    "S2": [
        ((0.4214752, -0.4961493, -0.5838273, 0.4851187), (4112.9121, 626.4929, 1545.2988)),
        ((0.6501393, -0.7476588, -0.0954617, 0.0959808), (923.5740, -3877.9243, 1504.5518)),
        ((0.0699353, -0.0712403, 0.7421637, -0.662742), (-781.4915, 3838.8853, 1444.9929)),
    ],
    "S3": [
        ((0.424207, -0.4983646, -0.5802981, 0.4847012), (4062.2271, 663.2477, 1528.3970)),
        ((0.6503354, -0.7481602, -0.0919284, 0.0941766), (844.8131, -3805.2092, 1504.9929)),
        ((0.0664734, -0.0690535, 0.7416416, -0.6639132), (-797.6738, 3916.3174, 1433.6602)),
    ],
}


def base_subject(subject: str) -> str:
    """'Train/S1' -> 'S1' (the camera calibration is per actor, whatever the split prefix)."""
    return subject.rsplit("/", 1)[-1]


def _vector(entry: dict, key: str, size: int, where: str, default=None) -> np.ndarray:
    value = entry.get(key, default)
    if value is None:
        raise DataError(f"{where}: missing {key!r}; each camera needs 'orientation' (w,x,y,z) "
                        f"and 'translation' (metres)")
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {key!r} must be {size} numbers, got {value!r}") from None
    if arr.size != size or not np.all(np.isfinite(arr)):
        raise DataError(f"{where}: {key!r} must be {size} finite numbers, got {arr.tolist()}")
    return arr


def camera_from_dict(entry, index: int, where: str) -> Camera:
    """One camera of the ``cameras`` key (see the module docstring); validates units."""
    if not isinstance(entry, dict):
        raise DataError(f"{where}: expected a dict with orientation and translation, "
                        f"got {type(entry).__name__}")
    q = _vector(entry, "orientation", 4, where)
    norm = np.linalg.norm(q)
    if abs(norm - 1) > 1e-2:
        raise DataError(f"{where}: 'orientation' must be a unit quaternion (w,x,y,z), norm is {norm:.4f}")
    t = _vector(entry, "translation", 3, where)
    if np.abs(t).max() > 100:
        raise DataError(f"{where}: 'translation' {t.tolist()} looks like millimetres; store metres")
    res_w = int(entry.get("res_w", RESOLUTION[0]))
    res_h = int(entry.get("res_h", RESOLUTION[1]))
    if res_w <= 0 or res_h <= 0:
        raise DataError(f"{where}: 'res_w'/'res_h' must be positive, got {res_w}x{res_h}")
    # Unknown intrinsics stay NaN: the loader never projects, it only needs extrinsics.
    focal = (_vector(entry, "focal_length", 2, where) if "focal_length" in entry
             else np.full(2, np.nan))
    return Camera(
        id=str(entry.get("id", CAMERA_IDS[index] if index < len(CAMERA_IDS) else index)),
        res_w=res_w, res_h=res_h,
        center=_vector(entry, "center", 2, where, default=(res_w / 2, res_h / 2)),
        focal_length=focal,
        radial_distortion=_vector(entry, "radial_distortion", 3, where, default=(0.0, 0.0, 0.0)),
        tangential_distortion=_vector(entry, "tangential_distortion", 2, where, default=(0.0, 0.0)),
        orientation=q / norm, translation=t,
    )


def humaneva_cameras(subject: str, table: dict | None = None, where: str = "") -> list[Camera]:
    """The 3 cameras of ``subject`` ('Train/S1' or 'S1'): from ``table`` (the npz ``cameras`` key)
    when given, else from the published extrinsics (640x480, intrinsics unknown: NaN focal length)."""
    base = base_subject(subject)
    if table is not None:
        entries = table.get(subject, table.get(base))
        if entries is None:
            raise DataError(f"{where}: no camera entry for subject {base!r} (has: "
                            f"{', '.join(map(str, table)) or 'none'}); add {base!r} -> list of "
                            f"{NUM_CAMERAS} camera dicts")
        if not isinstance(entries, (list, tuple)) or len(entries) != NUM_CAMERAS:
            raise DataError(f"{where}[{base!r}]: expected a list of {NUM_CAMERAS} camera dicts")
        return [camera_from_dict(e, i, f"{where}[{base!r}][{i}]") for i, e in enumerate(entries)]
    if base not in HUMANEVA_EXTRINSICS:
        raise DataError(f"{where}: no camera extrinsics for subject {subject!r}: the published "
                        f"HumanEva extrinsics cover {', '.join(HUMANEVA_EXTRINSICS)}; add a 'cameras' "
                        f"key to the 3D file (see bench/data/humaneva.py)")
    return [Camera(id=CAMERA_IDS[i], res_w=RESOLUTION[0], res_h=RESOLUTION[1],
                   center=np.array(RESOLUTION, dtype=np.float64) / 2,
                   focal_length=np.array([np.nan, np.nan]),
                   radial_distortion=np.zeros(3), tangential_distortion=np.zeros(2),
                   orientation=np.array(q, dtype=np.float64),
                   translation=np.array(t, dtype=np.float64) / 1000.0)
            for i, (q, t) in enumerate(HUMANEVA_EXTRINSICS[base])]


def layout_of_2d(meta, num_joints: int, where: str) -> Skeleton:
    """HumanEva-15 for 15 joints; COCO-17 for 17 (Human3.6M-17 if metadata layout_name says h36m).
    The loader itself uses bench.data.validate.Layout2D (metadata first, whole-file checks)."""
    name = str((meta or {}).get("layout_name", "")).lower() if isinstance(meta, dict) else ""
    if num_joints == 15:
        return HUMANEVA_15
    if num_joints == 17:
        return H36M_17 if name.startswith("h36m") else COCO_17
    raise DataError(f"{where}: 2D keypoints have {num_joints} joints; expected 15 (HumanEva order) "
                    f"or 17 (COCO order)")


def _is_unlabeled(subject: str) -> bool:
    return subject.startswith("Unlabeled/")


@register_loader("humaneva", "HumanEva-I from VideoPose3D's data_3d_humaneva15.npz + "
                             "data_2d_humaneva15_<source>.npz (15 joints, 3 cameras, Train/S1-S3 train, "
                             "Validate/S1-S3 test); default: the bundled HumanEva-layout stand-in",
                 sources=SourceTable(FILE_TAG, HUMANEVA_ROLES, lambda: BUNDLED))
def load_humaneva(path: str | None, source: str = "gt",
                  validation_subjects: tuple[str, ...] = ()) -> PoseDataset:
    """Load HumanEva-I (see the module docstring for the accepted files)."""
    folder = Path(path) if path else BUNDLED
    if not folder.is_dir():
        hint = ("the bundled HumanEva stand-in is missing from this installation" if not path else
                "pass --data humaneva:/path/to/folder")
        raise DataError(f"data folder not found: {folder} ({hint}; it must hold "
                        f"data_3d_{FILE_TAG}.npz and data_2d_{FILE_TAG}_<source>.npz)")
    resolved = resolve_source_files(folder, FILE_TAG, source, HUMANEVA_ROLES)
    f3d, f2d = resolved.file_3d, resolved.file_2d
    pos3d = expect_dict(load_npz_item(f3d, "positions_3d"), f"{f3d}:positions_3d")
    table = load_npz_item(f3d, "cameras", required=False)
    if table is not None and not isinstance(table, dict):
        raise DataError(f"{f3d}:cameras: expected a dict subject -> list of {NUM_CAMERAS} camera "
                        f"dicts, got {type(table).__name__}")
    pos2d = expect_dict(load_npz_item(f2d, "positions_2d"), f"{f2d}:positions_2d")
    meta = load_npz_item(f2d, "metadata", required=False)
    layout_of = Layout2D(f2d, meta, pos2d, HUMANEVA_2D_BY_COUNT, HUMANEVA_15, HUMANEVA_2D_EXPECTED,
                         skip=lambda s: _is_unlabeled(s) or s not in pos3d)
    problem = layout_of.file_problem()
    if problem:
        raise DataError(problem)

    keypoints, positions, resolution = {}, {}, {}
    layout_2d = None
    for subject, actions in sorted(pos3d.items()):
        if _is_unlabeled(subject):
            continue
        actions = expect_dict(actions, f"{f3d}:positions_3d[{subject!r}]")
        cams = humaneva_cameras(subject, table, f"{f3d}:cameras")
        if subject not in pos2d:
            raise DataError(f"{f2d}: subject {subject!r} present in {f3d.name} but missing here")
        subject_2d = expect_dict(pos2d[subject], f"{f2d}:positions_2d[{subject!r}]")
        keypoints[subject], positions[subject] = {}, {}
        resolution[subject] = [c.res_w for c in cams]
        for action, world in sorted(actions.items()):
            where3 = f"{f3d}:positions_3d[{subject!r}][{action!r}]"
            world = check_array(world, where3, HUMANEVA_15.num_joints, 3)
            check_metres(world, HUMANEVA_15.parents, where3)
            key2d = match_take(action, subject_2d)
            if key2d is None:
                raise DataError(f"{f2d}: missing {subject}/{action!r} that {f3d.name} has")
            kp_list, pos_list, layout = camera_views(
                world, subject_2d[key2d], cams, f"{f2d}:positions_2d[{subject!r}][{key2d!r}]",
                layout_of, HUMANEVA_15)
            layout_2d = layout_2d or layout
            keypoints[subject][action] = kp_list
            positions[subject][action] = pos_list

    train = [s for s in HUMANEVA_TRAIN if s in positions]
    test = [s for s in HUMANEVA_TEST if s in positions]
    if not train or not test:
        raise DataError(f"{f3d}: needs at least one training subject ({', '.join(HUMANEVA_TRAIN)}) "
                        f"and one test subject ({', '.join(HUMANEVA_TEST)}); found: "
                        f"{', '.join(sorted(positions)) or 'none'}")
    for s in validation_subjects:
        if s not in train:
            raise DataError(f"validation subject {s!r} is not a training subject of {f3d}; "
                            f"choose from {', '.join(train)}")
    notes = [n for n in (resolved.note(source), layout_of.note()) if n]
    missing = [s for s in HUMANEVA_TRAIN + HUMANEVA_TEST if s not in positions]
    if missing:
        notes.append(f"subjects missing from {f3d.name}: {', '.join(missing)}")
    if table is None:
        notes.append("cameras: published HumanEva extrinsics (VideoPose3D), 640x480")
    if layout_2d is not None and layout_2d is not HUMANEVA_15:
        notes.append(f"2D keypoints converted from {layout_2d.name} to humaneva15")
    return PoseDataset(name="humaneva", source=source, skeleton=HUMANEVA_15,
                       keypoints_layout=HUMANEVA_15, fps=60.0, keypoints=keypoints,
                       positions=positions, train_subjects=train, test_subjects=test,
                       validation_subjects=list(validation_subjects), resolution=resolution,
                       path=str(folder), notes=notes, action_aliases=dict(HUMANEVA_ACTION_ALIASES),
                       source_role=resolved.role or "", source_file=str(f2d), files=[str(f3d), str(f2d)])
