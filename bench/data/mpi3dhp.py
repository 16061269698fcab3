"""MPI-INF-3DHP prepared for lifting, loader ``3dhp`` (model-specs.md section 7).

MPI-INF-3DHP is licence-gated and cannot be bundled: convert your copy into the layout below and load
it with ``--data 3dhp:/path/to/folder``. The layout follows the VideoPose3D npz convention the other
loaders use, with the 3D already in each camera's frame (3DHP annotates per camera).

Accepted layout
---------------

``data_3d_3dhp.npz``
    ``positions_3d`` (required): subject -> sequence -> list, one entry per camera, of (F, 17, 3)
        float arrays: camera-frame joint positions in **metres** (the ``univ_annot3`` annotations
        divided by 1000). Subjects ``S1``..``S8`` are training subjects (sequences such as
        ``'Seq1'``, ``'Seq2'``; any subset of cameras, the same list order in 2D and 3D) and
        ``TS1``..``TS6`` test subjects (one sequence each, usually one camera; name it e.g.
        ``'TS1'``). The action group used for action-wise averaging is the sequence name up to the
        first space.
    ``valid_frames`` (optional): subject -> sequence -> (F,) boolean (or 0/1) mask shared by all
        cameras of the sequence: the test set's ``valid_frame`` flags. Applied at load (see the
        ``valid_frames`` option below).
    ``layout`` (optional): joint order of ``positions_3d``: ``'h36m17'`` (default) or
        ``'mpi3dhp17'``.

``data_2d_3dhp_<source>.npz`` (e.g. ``<source>`` = ``gt``: the ``annot2`` projections)
    ``positions_2d`` (required): the same subjects and sequences -> list per camera of (F', 17, 2)
        pixel coordinates, F' >= F (longer 2D is cut to the 3D length, shorter is an error).
    ``metadata`` (optional dict): ``layout_name`` (joint order of the 2D, as ``layout`` above),
        ``resolution``: subject -> list per camera of ``{'res_w': W, 'res_h': H}`` (or ``(W, H)``),
        ``fps``, ``num_joints``, ``keypoints_symmetry``. Without ``resolution`` the published frame
        sizes are used: 2048x2048 for S1-S8 and TS1-TS4, 1920x1080 for TS5-TS6.

Joint order
-----------
Default (``h36m17``): the 17 Human3.6M joints (bench.skeleton.H36M_17) mapped from the 17 "relevant"
univ_annot3 joints of the test set: Hip = pelvis, RHip/RKnee/RFoot = right hip/knee/ankle,
LHip/LKnee/LFoot = left hip/knee/ankle, Spine = spine, Thorax = neck, Neck/Nose = head, Head = head
top, then left and right shoulder/elbow/wrist. Files stored in the native 3DHP order (head_top,
neck, R shoulder, R elbow, R wrist, L shoulder, L elbow, L wrist, R hip, R knee, R ankle, L hip,
L knee, L ankle, pelvis, spine, head; ``layout='mpi3dhp17'``) are reordered to that at load
(bench.data.layouts). For the training subjects take the same 17 of the 28 univ_annot3 joints.

Options: ``valid_frames='drop'`` (default) keeps only the valid frames of each sequence (so every
evaluated frame is annotated, but temporal neighbours may be far apart), ``'split'`` cuts a sequence
into its contiguous valid runs (named ``'<sequence> chunk<i>'``, as HumanEva's chunks), ``'keep'``
ignores the mask. 2D is normalised by each camera's resolution; ``fps`` defaults to 25 (TS5-TS6
were filmed at 50 fps: store ``metadata['fps']`` if that matters for your use).

3D that does not look like metres (median bone length, bench.data.validate.units_problem) is one
error. 2D sources: raw names, or the role ``gt`` (bench.data.sources).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.camera import normalize_screen_coordinates
from bench.data.dataset import PoseDataset, SourceTable, check_array, register_loader
from bench.data.layouts import MPI3DHP_17, convert_keypoints
from bench.data.npz import expect_dict, load_npz_item
from bench.data.sources import MPI3DHP_ROLES
from bench.data.validate import check_metres
from bench.data.views import resolve_source_files
from bench.errors import ConfigError, DataError
from bench.skeleton import H36M_17, Skeleton

FILE_TAG = "3dhp"
TRAIN_SUBJECTS = [f"S{i}" for i in range(1, 9)]
TEST_SUBJECTS = [f"TS{i}" for i in range(1, 7)]
VALID_FRAME_MODES = ("drop", "split", "keep")
DEFAULT_FPS = 25.0

# Frame sizes of the published videos: training cameras and the studio test sequences 2048x2048,
# the outdoor test sequences TS5-TS6 1920x1080.
DEFAULT_RESOLUTION = {**{s: (2048, 2048) for s in TRAIN_SUBJECTS},
                      **{f"TS{i}": (2048, 2048) for i in range(1, 5)},
                      "TS5": (1920, 1080), "TS6": (1920, 1080)}

NO_PATH_MESSAGE = ("the 3dhp loader needs a folder: --data 3dhp:/path/to/folder holding "
                   "data_3d_3dhp.npz and data_2d_3dhp_<source>.npz (MPI-INF-3DHP is licence-gated "
                   "and not bundled; the accepted layout is documented in bench/data/mpi3dhp.py)")


def joint_layout(name, where: str) -> Skeleton:
    """h36m17 (default) or mpi3dhp17 from a ``layout`` / ``layout_name`` value."""
    name = str(name or "h36m17").lower()
    if name in ("h36m", "h36m17"):
        return H36M_17
    if name in ("3dhp", "mpi3dhp", "mpi3dhp17"):
        return MPI3DHP_17
    raise DataError(f"{where}: unknown joint order {name!r}; use 'h36m17' or 'mpi3dhp17'")


def camera_resolutions(meta, subject: str, num_cameras: int, where: str) -> list[tuple[int, int]]:
    """(res_w, res_h) per camera of ``subject`` from ``metadata['resolution']`` or the defaults."""
    table = meta.get("resolution") if isinstance(meta, dict) else None
    if table is None or subject not in table:
        if subject not in DEFAULT_RESOLUTION:
            raise DataError(f"{where}: no resolution for subject {subject!r}; add "
                            f"metadata['resolution'][{subject!r}] = list of {{'res_w', 'res_h'}} "
                            f"per camera")
        return [DEFAULT_RESOLUTION[subject]] * num_cameras
    entries = table[subject]
    if not isinstance(entries, (list, tuple)) or len(entries) < num_cameras:
        raise DataError(f"{where}:metadata['resolution'][{subject!r}]: expected a list of at least "
                        f"{num_cameras} camera resolutions")
    out = []
    for c, e in enumerate(entries[:num_cameras]):
        try:
            w, h = (e["res_w"], e["res_h"]) if isinstance(e, dict) else e
            w, h = int(w), int(h)
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{where}:metadata['resolution'][{subject!r}][{c}]: expected "
                            f"{{'res_w': W, 'res_h': H}} or (W, H), got {e!r}") from None
        if w <= 0 or h <= 0:
            raise DataError(f"{where}:metadata['resolution'][{subject!r}][{c}]: sizes must be "
                            f"positive, got {w}x{h}")
        out.append((w, h))
    return out


def valid_mask(masks, subject: str, sequence: str, frames: int, where: str) -> np.ndarray | None:
    """The (frames,) boolean mask of one sequence, or None when the file has none for it."""
    if masks is None or subject not in masks or sequence not in masks[subject]:
        return None
    mask = np.asarray(masks[subject][sequence]).reshape(-1)
    if mask.dtype.kind not in "biuf" or (mask.dtype.kind != "b" and not np.isin(mask, (0, 1)).all()):
        raise DataError(f"{where}: valid_frames must be booleans or 0/1 values")
    if len(mask) != frames:
        raise DataError(f"{where}: valid_frames has {len(mask)} entries but the sequence has "
                        f"{frames} frames")
    return mask.astype(bool)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True in ``mask``."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[0::2], edges[1::2]))


@register_loader("3dhp", "MPI-INF-3DHP in the documented npz layout (data_3d_3dhp.npz + "
                         "data_2d_3dhp_<source>.npz; 17 H36M-order joints, camera frame; S1-S8 train, "
                         "TS1-TS6 test); needs a path: --data 3dhp:/path",
                 sources=SourceTable(FILE_TAG, MPI3DHP_ROLES, None, NO_PATH_MESSAGE))
def load_3dhp(path: str | None, source: str = "gt", valid_frames: str = "drop",
              validation_subjects: tuple[str, ...] = ()) -> PoseDataset:
    """Load MPI-INF-3DHP from the layout documented in this module's docstring."""
    if path is None:
        raise DataError(NO_PATH_MESSAGE)
    if valid_frames not in VALID_FRAME_MODES:
        raise ConfigError(f"unknown valid_frames mode {valid_frames!r} for the 3dhp loader; use one "
                          f"of: {', '.join(VALID_FRAME_MODES)}")
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"data folder not found: {folder} (it must hold data_3d_{FILE_TAG}.npz and "
                        f"data_2d_{FILE_TAG}_<source>.npz)")
    resolved = resolve_source_files(folder, FILE_TAG, source, MPI3DHP_ROLES)
    f3d, f2d = resolved.file_3d, resolved.file_2d
    pos3d = expect_dict(load_npz_item(f3d, "positions_3d"), f"{f3d}:positions_3d")
    masks = load_npz_item(f3d, "valid_frames", required=False)
    if masks is not None:
        masks = expect_dict(masks, f"{f3d}:valid_frames")
    layout_3d = joint_layout(load_npz_item(f3d, "layout", required=False), f"{f3d}:layout")
    pos2d = expect_dict(load_npz_item(f2d, "positions_2d"), f"{f2d}:positions_2d")
    meta = load_npz_item(f2d, "metadata", required=False)
    meta = meta if isinstance(meta, dict) else {}
    layout_2d = joint_layout(meta.get("layout_name"), f"{f2d}:metadata['layout_name']")

    keypoints, positions, resolution = {}, {}, {}
    notes, dropped = [], 0
    for subject, sequences in sorted(pos3d.items()):
        sequences = expect_dict(sequences, f"{f3d}:positions_3d[{subject!r}]")
        if subject not in pos2d:
            raise DataError(f"{f2d}: subject {subject!r} present in {f3d.name} but missing here")
        subject_2d = expect_dict(pos2d[subject], f"{f2d}:positions_2d[{subject!r}]")
        keypoints[subject], positions[subject] = {}, {}
        n_cams = None
        for seq, views3d in sorted(sequences.items()):
            where3 = f"{f3d}:positions_3d[{subject!r}][{seq!r}]"
            if not isinstance(views3d, (list, tuple)) or not views3d:
                raise DataError(f"{where3}: expected a non-empty list of per-camera (F, 17, 3) arrays")
            if n_cams is not None and len(views3d) != n_cams:
                raise DataError(f"{where3}: has {len(views3d)} cameras but other sequences of "
                                f"{subject} have {n_cams}; use the same camera list per subject")
            n_cams = len(views3d)
            if seq not in subject_2d:
                raise DataError(f"{f2d}: missing {subject}/{seq!r} that {f3d.name} has")
            views2d = subject_2d[seq]
            if not isinstance(views2d, (list, tuple)) or len(views2d) != n_cams:
                raise DataError(f"{f2d}:positions_2d[{subject!r}][{seq!r}]: expected a list of "
                                f"{n_cams} camera arrays (as in {f3d.name})")
            res = camera_resolutions(meta, subject, n_cams, str(f2d))
            kp_list, pos_list = [], []
            for c in range(n_cams):
                pos = check_array(views3d[c], f"{where3}[{c}]", 17, 3)
                check_metres(pos, layout_3d.parents, f"{where3}[{c}]")
                if np.abs(pos).max() > 100:
                    raise DataError(f"{where3}[{c}]: coordinates up to {np.abs(pos).max():.0f} look "
                                    f"like millimetres; store metres (univ_annot3 / 1000)")
                where2 = f"{f2d}:positions_2d[{subject!r}][{seq!r}][{c}]"
                kp = check_array(views2d[c], where2, 17, 2)
                if len(kp) < len(pos):
                    raise DataError(f"{where2}: 2D has {len(kp)} frames but the 3D sequence has "
                                    f"{len(pos)}; lengths must agree")
                if c and len(pos) != len(pos_list[0]):
                    raise DataError(f"{where3}[{c}]: {len(pos)} frames but camera 0 has "
                                    f"{len(pos_list[0])}; cameras of one sequence must agree")
                kp = normalize_screen_coordinates(kp[: len(pos)], *res[c])
                kp_list.append(np.asarray(convert_keypoints(kp, layout_2d, H36M_17), np.float32))
                pos_list.append(np.asarray(convert_keypoints(pos, layout_3d, H36M_17), np.float32))
            mask = valid_mask(masks, subject, seq, len(pos_list[0]),
                              f"{f3d}:valid_frames[{subject!r}][{seq!r}]")
            if mask is None or valid_frames == "keep" or mask.all():
                pieces = [(seq, slice(None))]
            elif valid_frames == "drop":
                pieces = [(seq, mask)] if mask.any() else []
            else:
                runs = _runs(mask)
                pieces = [(f"{seq} chunk{i}", slice(a, b)) for i, (a, b) in enumerate(runs)]
            if mask is not None and valid_frames != "keep":
                dropped += int((~mask).sum())
            for name, sel in pieces:
                keypoints[subject][name] = [k[sel] for k in kp_list]
                positions[subject][name] = [p[sel] for p in pos_list]
        if not positions[subject]:
            del keypoints[subject], positions[subject]
            continue
        resolution[subject] = [w for w, _ in res]
    if not positions:
        raise DataError(f"{f3d}: no sequence with valid frames found")

    train = [s for s in TRAIN_SUBJECTS if s in positions]
    test = [s for s in TEST_SUBJECTS if s in positions]
    other = sorted(set(positions) - set(train) - set(test))
    if other:
        raise DataError(f"{f3d}: unknown subject(s) {', '.join(other)}; use S1-S8 (train) and "
                        f"TS1-TS6 (test)")
    for s in validation_subjects:
        if s not in train:
            raise DataError(f"validation subject {s!r} is not a training subject of {f3d}; "
                            f"choose from {', '.join(train) or 'none'}")
    if not train:
        notes.append("no training subjects (S1-S8): evaluation only")
    if not test:
        notes.append("no test subjects (TS1-TS6)")
    if dropped:
        notes.append(f"valid_frames={valid_frames}: {dropped} invalid frames removed")
    if layout_3d is not H36M_17 or layout_2d is not H36M_17:
        notes.append("joints reordered from mpi3dhp17 to h36m17")
    if "resolution" not in meta:
        notes.append("resolution: published frame sizes (2048x2048; TS5-TS6 1920x1080)")
    return PoseDataset(name="3dhp", source=source, skeleton=H36M_17, keypoints_layout=H36M_17,
                       fps=float(meta.get("fps", DEFAULT_FPS)), keypoints=keypoints,
                       positions=positions, train_subjects=train, test_subjects=test,
                       validation_subjects=list(validation_subjects), resolution=resolution,
                       path=str(folder), notes=notes, source_role=resolved.role or "",
                       source_file=str(f2d), files=[str(f3d), str(f2d)])
