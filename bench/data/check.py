"""``bench data check PATH``: find every problem in a data folder before a run trips over the first.

:func:`check_data_folder` recognises the dataset layout from the file names (``data_3d_h36m.npz``,
``data_3d_standin.npz``, ``data_3d_humaneva15.npz``, ``data_3d_3dhp.npz`` and their
``data_2d_<tag>_<source>.npz`` companions), then validates everything the matching loader relies on
and returns one line per problem (file, subject/action/camera, what is wrong and how to fix it):
missing or unreadable files, missing keys, wrong structure, wrong joint counts, NaN/inf (first bad
frame and joint of each sequence), 2D shorter than 3D, subjects/actions present on one side only,
wrong number of cameras and missing camera calibration, 3D that does not look like metres (one line
per file, bench.data.validate.units_problem), 2D metadata that contradicts itself or the arrays and
takes whose joint count differs from the rest of their file (bench.data.validate.Layout2D). Takes
the loader drops are skipped the same way (Human3.6M: exactly S11 'Directions',
bench.data.h36m.H36M_EXCLUDED), and a take stored under S1's other spelling in the 2D file
('TakingPhoto 1' / 'Photo 1') is matched as the loader matches it. An empty list means the loader
will accept the folder with every one of its 2D sources.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from bench.camera_data import H36M_EXTRINSICS
from bench.data import humaneva, mpi3dhp
from bench.data.actions import match_take
from bench.data.h36m import (H36M_2D_BY_COUNT, H36M_2D_EXPECTED, H36M_32_TO_17, H36M_EXCLUDED, H36M_TEST,
                             H36M_TRAIN)
from bench.data.npz import load_npz_item
from bench.data.validate import Layout2D, units_problem
from bench.errors import DataError
from bench.skeleton import H36M_17, HUMANEVA_15, Skeleton


@dataclass
class _Layout:
    name: str
    tag: str
    joints_3d: tuple[int, ...]
    joints_2d: tuple[int, ...]
    cameras: int | None  # None: per-camera lists in the 3D file define the count (3dhp)
    required_subjects: list[str]
    extra_2d_ok: Callable[[str], bool] = lambda s: False  # 2D-only subjects that are expected
    skip_3d: Callable[[str], bool] = lambda s: False  # 3D subjects the loader ignores
    known_subjects: list[str] = field(default_factory=list)  # non-empty: others are flagged
    excluded: tuple[tuple[str, str], ...] = ()  # (subject, take) the loader drops (exact names)
    skeleton_3d: Skeleton | None = None  # for the units check (None: 3dhp, from its layout key)
    layout_2d: tuple[dict, str] | None = None  # (by joint count, expected) for Layout2D; None: 3dhp
    target_2d: Skeleton | None = None


LAYOUTS = {
    "h36m": _Layout("h36m", "h36m", (32, 17), (17, 16), 4, H36M_TRAIN + H36M_TEST,
                    extra_2d_ok=lambda s: s in ("S2", "S3", "S4"),  # unlabeled in VideoPose3D's 2D
                    excluded=tuple(H36M_EXCLUDED), skeleton_3d=H36M_17,
                    layout_2d=(H36M_2D_BY_COUNT, H36M_2D_EXPECTED), target_2d=H36M_17),
    "standin": _Layout("standin", "standin", (32, 17), (17, 16), 4, H36M_TRAIN + H36M_TEST,
                       skeleton_3d=H36M_17, layout_2d=(H36M_2D_BY_COUNT, H36M_2D_EXPECTED),
                       target_2d=H36M_17),
    "humaneva": _Layout("humaneva", humaneva.FILE_TAG, (15,), (15, 17), humaneva.NUM_CAMERAS,
                        humaneva.HUMANEVA_TRAIN + humaneva.HUMANEVA_TEST,
                        extra_2d_ok=lambda s: s.startswith("Unlabeled/"),
                        skip_3d=lambda s: s.startswith("Unlabeled/"), skeleton_3d=HUMANEVA_15,
                        layout_2d=(humaneva.HUMANEVA_2D_BY_COUNT, humaneva.HUMANEVA_2D_EXPECTED),
                        target_2d=HUMANEVA_15),
    "3dhp": _Layout("3dhp", mpi3dhp.FILE_TAG, (17,), (17,), None, [],
                    known_subjects=mpi3dhp.TRAIN_SUBJECTS + mpi3dhp.TEST_SUBJECTS),
}


def detect_layouts(path: str | Path) -> list[str]:
    """Names of the dataset layouts whose 3D or 2D files are in ``path`` (by file name)."""
    folder = Path(path)
    found = []
    for name, lay in LAYOUTS.items():
        if (folder / f"data_3d_{lay.tag}.npz").exists() or any(folder.glob(f"data_2d_{lay.tag}_*.npz")):
            found.append(name)
    return found


def _array_problems(arr, where: str, joints: tuple[int, ...], dims: int) -> list[str]:
    """Problems of one pose array (F, J, dims); reports the first non-finite frame/joint."""
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        return [f"{where}: expected a numeric array (frames, joints, {dims}), got {type(arr).__name__}"]
    if arr.ndim != 3 or arr.shape[-1] != dims:
        return [f"{where}: expected shape (frames, joints, {dims}), got {arr.shape}"]
    out = []
    if arr.shape[1] not in joints:
        out.append(f"{where}: {arr.shape[1]} joints, expected {' or '.join(map(str, joints))}")
    if len(arr) == 0:
        out.append(f"{where}: sequence has no frames")
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        frames = int((~finite.all(axis=(1, 2))).sum())
        out.append(f"{where}: non-finite coordinate (NaN or inf) at frame {bad[0]}, joint {bad[1]} "
                   f"({frames} bad frame(s)); fix or drop those frames")
    return out


def _load(path: Path, key: str, problems: list[str], required: bool = True):
    try:
        return load_npz_item(path, key, required=required)
    except DataError as e:
        problems.append(str(e))
        return None


def _as_dict(obj, where: str, what: str, problems: list[str]) -> dict | None:
    if isinstance(obj, dict):
        return obj
    problems.append(f"{where}: expected a dict {what}, got {type(obj).__name__}")
    return None


def _views(obj, where: str, problems: list[str]) -> list | None:
    if isinstance(obj, (list, tuple)):
        return list(obj)
    problems.append(f"{where}: expected a list of per-camera arrays, got {type(obj).__name__}")
    return None


def _check_cameras(lay: _Layout, f3d: Path, subjects: list[str], problems: list[str]) -> set[str]:
    """Missing camera calibration (extrinsics for h36m/standin/humaneva). Returns the subjects the
    loader skips for lack of cameras (h36m/standin), which need no 2D."""
    skipped = set()
    if lay.name in ("h36m", "standin"):
        for s in subjects:
            if s not in H36M_EXTRINSICS:
                skipped.add(s)
                problems.append(f"{f3d}: subject {s!r} has no Human3.6M camera extrinsics (known: "
                                f"{', '.join(H36M_EXTRINSICS)}); the loader skips it, rename or remove it")
    elif lay.name == "humaneva":
        table = _load(f3d, "cameras", problems, required=False)
        if table is not None and not isinstance(table, dict):
            problems.append(f"{f3d}:cameras: expected a dict subject -> list of {humaneva.NUM_CAMERAS} "
                            f"camera dicts, got {type(table).__name__}")
            return skipped
        seen = set()
        for s in subjects:
            base = humaneva.base_subject(s)
            if base in seen:
                continue
            seen.add(base)
            try:
                humaneva.humaneva_cameras(s, table, f"{f3d}:cameras")
            except DataError as e:
                problems.append(str(e))
    return skipped


def _parents_3d(lay: _Layout, f3d: Path) -> tuple[int, ...] | None:
    """The parents of the 3D skeleton for the units check (3dhp: from the file's ``layout`` key;
    None when that key is unreadable, which is reported elsewhere)."""
    if lay.skeleton_3d is not None:
        return lay.skeleton_3d.parents
    try:
        return mpi3dhp.joint_layout(load_npz_item(f3d, "layout", required=False), "layout").parents
    except DataError:
        return None


def _check_3d(lay: _Layout, f3d: Path, problems: list[str]) -> dict | None:
    """Validates the 3D file; returns subject -> action -> number of frames per camera list
    (3dhp) or frames (others) for the 2D comparison, None when the file is unusable."""
    if not f3d.is_file():
        problems.append(f"{f3d}: missing 3D file; every {lay.name} folder needs data_3d_{lay.tag}.npz")
        return None
    pos3d = _load(f3d, "positions_3d", problems)
    if pos3d is None:
        return None
    pos3d = _as_dict(pos3d, f"{f3d}:positions_3d", "subject -> action -> array", problems)
    if pos3d is None:
        return None
    frames: dict[str, dict[str, list[int]]] = {}
    parents_3d = _parents_3d(lay, f3d)
    units: list[str] = []  # one units problem per offending sequence; reported once for the file
    n_units = 0
    for subject, actions in sorted(pos3d.items(), key=lambda kv: str(kv[0])):
        if lay.skip_3d(subject):
            continue
        where_s = f"{f3d}:positions_3d[{subject!r}]"
        actions = _as_dict(actions, where_s, "action -> array", problems)
        if actions is None:
            continue
        frames[subject] = {}
        if not actions:
            problems.append(f"{where_s}: subject has no sequences")
        for action, value in sorted(actions.items(), key=lambda kv: str(kv[0])):
            if (subject, action) in lay.excluded:
                continue  # the loader drops this take before reading it
            where = f"{where_s}[{action!r}]"
            arrays = _views(value, where, problems) if lay.cameras is None else [value]
            if arrays is None:
                continue
            if lay.cameras is None and not arrays:
                problems.append(f"{where}: empty camera list")
            lengths = []
            for c, arr in enumerate(arrays):
                w = f"{where}[{c}]" if lay.cameras is None else where
                bad = _array_problems(arr, w, lay.joints_3d, 3)
                problems.extend(bad)
                if lay.name == "3dhp" and not bad:  # one line per camera array, as before
                    unit = units_problem(arr, parents_3d, w) if parents_3d is not None else None
                    if unit and "centimetres" in unit:
                        problems.append(unit)
                    elif np.abs(arr).max() > 100:
                        problems.append(f"{w}: coordinates up to {np.abs(arr).max():.0f} look like "
                                        f"millimetres; store metres")
                    elif unit:
                        problems.append(unit)
                elif not bad and parents_3d is not None:
                    n_units += 1
                    pos = arr[:, H36M_32_TO_17] if arr.shape[1] == 32 and lay.joints_3d[0] == 32 else arr
                    unit = units_problem(pos, parents_3d, w)
                    if unit:
                        units.append(unit)
                lengths.append(len(arr) if isinstance(arr, np.ndarray) and arr.ndim == 3 else -1)
            frames[subject][action] = lengths
    if units:
        more = f" ({len(units)} of {n_units} sequences look the same)" if len(units) > 1 else ""
        problems.append(units[0] + more)
    present = set(frames)
    missing = [s for s in lay.required_subjects if s not in present]
    if missing:
        problems.append(f"{f3d}:positions_3d: missing subject(s) {', '.join(missing)} that the "
                        f"{lay.name} split needs")
    if lay.known_subjects:
        unknown = sorted(s for s in present if s not in lay.known_subjects)
        if unknown:
            problems.append(f"{f3d}:positions_3d: unknown subject(s) {', '.join(map(str, unknown))}; "
                            f"use {', '.join(lay.known_subjects)}")
    for s in _check_cameras(lay, f3d, sorted(present, key=str), problems):
        del frames[s]
    if lay.name == "3dhp":
        _check_3dhp_extras(f3d, frames, problems)
    return frames


def _check_3dhp_extras(f3d: Path, frames: dict, problems: list[str]) -> None:
    layout = _load(f3d, "layout", problems, required=False)
    if layout is not None:
        try:
            mpi3dhp.joint_layout(layout, f"{f3d}:layout")
        except DataError as e:
            problems.append(str(e))
    masks = _load(f3d, "valid_frames", problems, required=False)
    if masks is None:
        return
    masks = _as_dict(masks, f"{f3d}:valid_frames", "subject -> sequence -> mask", problems)
    for subject, seqs in (masks or {}).items():
        seqs = _as_dict(seqs, f"{f3d}:valid_frames[{subject!r}]", "sequence -> mask", problems)
        for seq, _ in (seqs or {}).items():
            where = f"{f3d}:valid_frames[{subject!r}][{seq!r}]"
            lengths = frames.get(subject, {}).get(seq)
            if not lengths:
                problems.append(f"{where}: no such sequence in positions_3d; remove the mask or fix its name")
                continue
            try:
                mpi3dhp.valid_mask(masks, subject, seq, lengths[0], where)
            except DataError as e:
                problems.append(str(e))


def _check_2d(lay: _Layout, f2d: Path, frames3d: dict | None, problems: list[str]) -> None:
    pos2d = _load(f2d, "positions_2d", problems)
    if pos2d is None:
        return
    meta = _load(f2d, "metadata", problems, required=False)
    if meta is not None and not isinstance(meta, dict):
        problems.append(f"{f2d}:metadata: expected a dict, got {type(meta).__name__}")
        meta = None
    pos2d = _as_dict(pos2d, f"{f2d}:positions_2d", "subject -> action -> list of camera arrays", problems)
    if pos2d is None:
        return
    if lay.name == "3dhp" and meta is not None:
        try:
            mpi3dhp.joint_layout(meta.get("layout_name"), f"{f2d}:metadata['layout_name']")
        except DataError as e:
            problems.append(str(e))
    layout_of = None
    if lay.layout_2d is not None:
        try:
            # the file's joint count over the subjects the loader reads (those with usable 3D)
            skip = ((lambda s: lay.extra_2d_ok(s)) if frames3d is None  # noqa: E731
                    else (lambda s: s not in frames3d))
            layout_of = Layout2D(f2d, meta, pos2d, *lay.layout_2d[:1], lay.target_2d, lay.layout_2d[1],
                                 skip=skip)
            problem = layout_of.file_problem()
            if problem:
                problems.append(problem)
                layout_of = None  # every array would repeat it
        except DataError as e:
            problems.append(str(e))
    if frames3d is not None:
        for subject in sorted(set(frames3d) - set(pos2d), key=str):
            problems.append(f"{f2d}: subject {subject!r} is in the 3D file but missing here")
        only_2d = [s for s in set(pos2d) - set(frames3d) if not lay.extra_2d_ok(s)]
        for subject in sorted(only_2d, key=str):
            problems.append(f"{f2d}: subject {subject!r} has 2D but no 3D in data_3d_{lay.tag}.npz; "
                            f"add its 3D or remove it")
    for subject, actions in sorted(pos2d.items(), key=lambda kv: str(kv[0])):
        if lay.extra_2d_ok(subject) and (frames3d is None or subject not in frames3d):
            continue
        where_s = f"{f2d}:positions_2d[{subject!r}]"
        actions = _as_dict(actions, where_s, "action -> list of camera arrays", problems)
        if actions is None:
            continue
        want = (frames3d or {}).get(subject, {})
        take_3d = {}  # 2D key -> the 3D take it holds (same name, or S1's other spelling)
        for action in sorted(want):
            key2d = match_take(action, actions)
            if key2d is None:
                problems.append(f"{where_s}: missing action {action!r} that the 3D file has")
            else:
                take_3d[key2d] = action
        n_res = None
        for action, views in sorted(actions.items(), key=lambda kv: str(kv[0])):
            if (subject, action) in lay.excluded:
                continue  # the loader never reads this take
            where = f"{where_s}[{action!r}]"
            views = _views(views, where, problems)
            if views is None:
                continue
            lengths3d = want.get(take_3d.get(action, action))
            read = frames3d is None or action in take_3d  # the loader reads this take's 2D
            n_cams = lay.cameras if lay.cameras is not None else (len(lengths3d) if lengths3d else None)
            if n_cams is not None and len(views) != n_cams:
                problems.append(f"{where}: {len(views)} cameras, expected {n_cams}")
            n_res = max(n_res or 0, len(views))
            for c, arr in enumerate(views):
                w = f"{where}[{c}]"
                bad = _array_problems(arr, w, lay.joints_2d, 2)
                problems.extend(bad)
                if not bad and layout_of is not None and read:
                    try:
                        layout_of(arr.shape[1], w)
                    except DataError as e:
                        problems.append(str(e))
                if bad or not lengths3d:
                    continue
                n3d = lengths3d[c] if lay.cameras is None and c < len(lengths3d) else lengths3d[0]
                if n3d > 0 and len(arr) < n3d:
                    problems.append(f"{w}: 2D has {len(arr)} frames but the 3D sequence has {n3d}; "
                                    f"2D must not be shorter")
        if lay.name == "3dhp" and n_res and (frames3d is None or subject in frames3d):
            try:
                mpi3dhp.camera_resolutions(meta or {}, subject, n_res, str(f2d))
            except DataError as e:
                problems.append(str(e))


def check_data_folder(path: str | Path) -> list[str]:
    """Every problem found in the data folder ``path``, one line each (empty: all good)."""
    folder = Path(path)
    if not folder.is_dir():
        return [f"{folder}: data folder not found; pass the folder that holds the data_3d_*.npz and "
                f"data_2d_*.npz files"]
    names = detect_layouts(folder)
    if not names:
        expected = ", ".join(f"data_3d_{lay.tag}.npz" for lay in LAYOUTS.values())
        return [f"{folder}: no dataset files recognised; expected one of {expected} with "
                f"data_2d_<tag>_<source>.npz files"]
    problems: list[str] = []
    for name in names:
        lay = LAYOUTS[name]
        frames3d = _check_3d(lay, folder / f"data_3d_{lay.tag}.npz", problems)
        files_2d = sorted(folder.glob(f"data_2d_{lay.tag}_*.npz"))
        if not files_2d:
            problems.append(f"{folder}: no 2D file for {name}; add data_2d_{lay.tag}_<source>.npz "
                            f"(e.g. data_2d_{lay.tag}_gt.npz)")
        for f2d in files_2d:
            _check_2d(lay, f2d, frames3d, problems)
    return problems


def format_report(problems: list[str], path: str | Path | None = None) -> str:
    """Human-readable report: 'OK' or a numbered list of problems."""
    where = f" in {path}" if path else ""
    if not problems:
        return f"OK: no problems found{where}"
    lines = [f"{len(problems)} problem(s) found{where}:"]
    lines += [f"  {i}. {p}" for i, p in enumerate(problems, 1)]
    return "\n".join(lines)
