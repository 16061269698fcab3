"""``bench data build-standin``: the whole pipeline from raw motion capture to the bundled files.

docs/data-sources.md sections 1-4 list the sources and the cameras. Steps (each in its module):

1. find the sources (sources.py), read every clip and reduce it to the 17 Human3.6M joints at 50 Hz
   (clips.py, joints.py, bvh.py, csm.py, deepmimic.py, holosoma.py, resample.py);
2. split every clip by frames into a test segment and training pieces with a 1 s gap (split.py);
3. retarget each clip onto the bodies that perform it and place every sequence in front of the
   cameras (retarget.py): training pieces go to :data:`TRAIN_BODIES_PER_CLIP` of the training
   bodies S1, S5, S6, S7, S8 (rotating over clips), test segments to both test bodies S9 and S11;
   a sequence no placement fits is cut in halves (named "<action> chunk<i>"), down to
   :data:`MIN_CHUNK` frames;
4. project through the subject's 4 Human3.6M cameras with distortion (``gt``) and add the detector
   imitation (``det``, detector_noise.py);
5. the HumanEva-15 export (humaneva.py) of the same clips on 3 bodies (Train = training pieces,
   Validate = test segments of the same bodies), 3 chosen cameras;
6. write the npz files reproducibly with their checksums (checksums.py), PROVENANCE.md
   (provenance.py) and the licence texts.

Values are rounded before storage (3D to 1/4096 m, 2D to 1/16 px): far below any error of interest,
it halves the compressed size and makes the stored numbers insensitive to last-bit differences of
floating-point libraries.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from bench.camera import Camera, h36m_cameras
from bench.data.standin_build import detector_noise as dn
from bench.data.standin_build.checksums import content_sha256, file_sha256, read_sums, write_npz, write_sums
from bench.data.standin_build.clips import Clip, clip_specs, load_clip
from bench.data.standin_build.humaneva import HE_FROM_H36M, camera_dict, humaneva_cameras
from bench.data.standin_build.retarget import BODIES, place, retarget, seed_of
from bench.data.standin_build.sources import SourceSet, find_sources
from bench.data.standin_build.settings import HE_PX_SCALE, MIN_CHUNK, Q2D, Q3D
from bench.data.standin_build.split import split_clip
from bench.errors import DataError
from bench.skeleton import H36M_17, HUMANEVA_15

BUNDLED_ROOT = Path(__file__).resolve().parents[1] / "bundled"
H36M_DIR = "standin"
HE_DIR = "standin_humaneva"

TRAIN_SUBJECTS = ["S1", "S5", "S6", "S7", "S8"]
TEST_SUBJECTS = ["S9", "S11"]
TRAIN_BODIES_PER_CLIP = 2
HE_SUBJECTS = {"S1": "S1", "S2": "S6", "S3": "S9"}  # HumanEva stand-in subject -> body
HE_ALL_SUBJECT_GROUPS = ("Walk", "Run", "Boxing")    # performed by all 3 (HumanEva's benchmark actions)
HE_ACTION_NAMES = {"Walk": "Walking", "Run": "Jog", "Boxing": "Box"}


H36M_META = {"layout_name": "h36m17", "num_joints": 17,
             "keypoints_symmetry": [list(H36M_17.joints_left), list(H36M_17.joints_right)]}
HE_META = {"layout_name": "humaneva15", "num_joints": 15,
           "keypoints_symmetry": [list(HUMANEVA_15.joints_left), list(HUMANEVA_15.joints_right)]}


def training_bodies(clip_index: int) -> list[str]:
    """The training bodies that perform clip ``clip_index``'s training pieces (rotating, stride 2)."""
    n = len(TRAIN_SUBJECTS)
    return [TRAIN_SUBJECTS[(clip_index + 2 * m) % n] for m in range(TRAIN_BODIES_PER_CLIP)]


def humaneva_bodies(clip_index: int, action: str) -> list[str]:
    """The HumanEva stand-in subjects that perform a clip: all 3 for HumanEva's own actions, else one."""
    subjects = list(HE_SUBJECTS)
    if action.split(" ")[0] in HE_ALL_SUBJECT_GROUPS:
        return subjects
    return [subjects[clip_index % len(subjects)]]


def humaneva_action(action: str) -> str:
    """HumanEva-style action name ('Walk 2' -> 'Walking 2', 'Run 1' -> 'Jog 1', 'Boxing 1' -> 'Box 1')."""
    group, _, rest = action.partition(" ")
    return f"{HE_ACTION_NAMES.get(group, group)} {rest}"


def _place_chunks(world: np.ndarray, cams: list[Camera], key: tuple, start: int,
                  stats: dict) -> list[tuple[int, np.ndarray, dict]]:
    """Placed pieces (start frame, positions, info) of one sequence, halving it until each fits."""
    r = place(world, cams, seed_of("place", *key, start, start + len(world)))
    if r is not None:
        return [(start, r[0], r[1])]
    if len(world) < 2 * MIN_CHUNK:
        stats["dropped_frames"] = stats.get("dropped_frames", 0) + len(world)
        stats.setdefault("dropped", []).append(f"{'/'.join(map(str, key))} frames {start}-{start + len(world)}")
        return []
    half = len(world) // 2
    return (_place_chunks(world[:half], cams, key, start, stats)
            + _place_chunks(world[half:], cams, key, start + half, stats))


def _quantise(x: np.ndarray, q: float) -> np.ndarray:
    return (np.round(np.asarray(x, dtype=np.float64) * q) / q).astype(np.float32)


def _sequences(world: np.ndarray, ranges: list[tuple[int, int]], action: str, cams: list[Camera],
               key: tuple, stats: dict) -> list[tuple[str, np.ndarray, tuple[int, int], dict]]:
    """Named, placed sequences (name, positions, clip frame range, placement info) of ``ranges``."""
    pieces = []
    for a, b in ranges:
        for start, placed, info in _place_chunks(world[a:b], cams, key, a, stats):
            pieces.append((start, placed, info))
    if len(pieces) == 1:
        s, p, info = pieces[0]
        return [(action, p, (s, s + len(p)), info)]
    return [(f"{action} chunk{i}", p, (s, s + len(p)), info) for i, (s, p, info) in enumerate(pieces)]


def _project(world: np.ndarray, cams: list[Camera], subject: str, action: str, joint_scale: np.ndarray,
             swap_groups, px_scale: float, tag: str, stats: dict) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """gt and det 2D (lists over cameras) of stored (quantised) world positions."""
    gt, det = [], []
    for c, cam in enumerate(cams):
        uv = _quantise(cam.project_world(world.astype(np.float64), distort=True), Q2D)
        noisy, ev = dn.detector_noise(uv, seed_of(tag, subject, action, c), (cam.res_w, cam.res_h),
                                      joint_scale, swap_groups, px_scale)
        stats["outliers"] = stats.get("outliers", 0) + ev["outliers"]
        stats["swaps"] = stats.get("swaps", 0) + ev["swaps"]
        gt.append(uv)
        det.append(_quantise(noisy, Q2D))
    return gt, det


def _build_h36m(clips: list[Clip], splits: list, stats: dict) -> tuple[dict, dict, dict, list]:
    pos3d: dict = {s: {} for s in TRAIN_SUBJECTS + TEST_SUBJECTS}
    gt2d: dict = {s: {} for s in pos3d}
    det2d: dict = {s: {} for s in pos3d}
    table = []
    cams = {s: h36m_cameras(s) for s in pos3d}
    for ci, (clip, sp) in enumerate(zip(clips, splits)):
        action = clip.spec.action
        for subject in training_bodies(ci) + TEST_SUBJECTS:
            world = retarget(clip.joints, BODIES[subject])
            ranges = sp.train if subject in TRAIN_SUBJECTS else [sp.test]
            for name, placed, rng_, info in _sequences(world, ranges, action, cams[subject],
                                                       ("h36m", subject, action), stats):
                w = _quantise(placed, Q3D)
                pos3d[subject][name] = w
                gt2d[subject][name], det2d[subject][name] = _project(
                    w, cams[subject], subject, name, dn.JOINT_SCALE_H36M, dn.SWAP_GROUPS_H36M, 1.0, "det", stats)
                table.append({"dataset": "standin", "subject": subject, "action": name, "clip": action,
                              "side": "train" if subject in TRAIN_SUBJECTS else "test", "frames": rng_,
                              **info})
    return pos3d, gt2d, det2d, table


HE_JOINT_SCALE = dn.JOINT_SCALE_H36M[HE_FROM_H36M]
HE_SWAP_GROUPS = (((11, 12, 13), (8, 9, 10)), ((12, 13), (9, 10)), ((5, 6, 7), (2, 3, 4)), ((6, 7), (3, 4)))


def _build_humaneva(clips: list[Clip], splits: list, stats: dict) -> tuple[dict, dict, dict, dict, list]:
    pos3d: dict = {}
    gt2d: dict = {}
    det2d: dict = {}
    table = []
    cams = {s: humaneva_cameras(s) for s in HE_SUBJECTS}
    for ci, (clip, sp) in enumerate(zip(clips, splits)):
        action = humaneva_action(clip.spec.action)
        for he_subject in humaneva_bodies(ci, clip.spec.action):
            world = retarget(clip.joints, BODIES[HE_SUBJECTS[he_subject]])
            for part, ranges in (("Train", sp.train), ("Validate", [sp.test])):
                subject = f"{part}/{he_subject}"
                for name, placed, rng_, info in _sequences(world, ranges, action, cams[he_subject],
                                                           ("humaneva", subject, action), stats):
                    w = _quantise(placed[:, HE_FROM_H36M], Q3D)
                    pos3d.setdefault(subject, {})[name] = w
                    g, d = _project(w, cams[he_subject], subject, name, HE_JOINT_SCALE, HE_SWAP_GROUPS,
                                    HE_PX_SCALE, "det-humaneva", stats)
                    gt2d.setdefault(subject, {})[name] = g
                    det2d.setdefault(subject, {})[name] = d
                    table.append({"dataset": "standin_humaneva", "subject": subject, "action": name,
                                  "clip": clip.spec.action, "side": part, "frames": rng_, **info})
    cam_dicts = {s: [camera_dict(c) for c in cs] for s, cs in cams.items()}
    return pos3d, gt2d, det2d, cam_dicts, table


def _sorted(d: dict) -> dict:
    """Nested dict with keys in sorted order (stable pickles and listings)."""
    return {k: (_sorted(v) if isinstance(v, dict) else v) for k, v in sorted(d.items())}


def _frames(pos3d: dict) -> dict:
    return {s: int(sum(len(v) for v in acts.values())) for s, acts in sorted(pos3d.items())}


def _build_into(tmp: Path, src: SourceSet, log=None) -> dict:
    say = log or (lambda msg: None)
    specs = clip_specs(src)
    clips = []
    for spec in specs:
        clips.append(load_clip(spec, src))
        say(f"read {spec.action}: {len(clips[-1].joints)} frames at 50 Hz")
    splits = [split_clip(len(c.joints), seed_of("split", c.spec.action)) for c in clips]
    stats_h: dict = {}
    pos3d, gt2d, det2d, table_h = _build_h36m(clips, splits, stats_h)
    say("placed and projected the Human3.6M-layout sequences")
    stats_e: dict = {}
    he3d, he_gt, he_det, he_cams, table_e = _build_humaneva(clips, splits, stats_e)
    say("placed and projected the HumanEva-layout sequences")
    h_dir, e_dir = tmp / H36M_DIR, tmp / HE_DIR
    h_dir.mkdir()
    e_dir.mkdir()
    write_npz(h_dir / "data_3d_standin.npz", positions_3d=_sorted(pos3d))
    write_npz(h_dir / "data_2d_standin_gt.npz", positions_2d=_sorted(gt2d), metadata=H36M_META)
    write_npz(h_dir / "data_2d_standin_det.npz", positions_2d=_sorted(det2d), metadata=H36M_META)
    write_npz(e_dir / "data_3d_humaneva15.npz", positions_3d=_sorted(he3d), cameras=_sorted(he_cams))
    write_npz(e_dir / "data_2d_humaneva15_gt.npz", positions_2d=_sorted(he_gt), metadata=HE_META)
    write_npz(e_dir / "data_2d_humaneva15_det.npz", positions_2d=_sorted(he_det), metadata=HE_META)
    summary = {
        "clips": [{"action": c.spec.action, "kind": c.spec.kind, "file": c.spec.file, "package": c.spec.package,
                   "source_frames": c.source_frames, "source_rate": c.source_rate, "frames_used": c.frames_used,
                   "frames_50hz": len(c.joints), "cyclic": c.cyclic, "cycles": c.cycles,
                   "test": list(sp.test), "train": [list(t) for t in sp.train], "gap": sp.gap,
                   "train_bodies": training_bodies(i), "humaneva_subjects": humaneva_bodies(i, c.spec.action),
                   "extra": c.extra}
                  for i, (c, sp) in enumerate(zip(clips, splits))],
        "frames": {"standin": _frames(pos3d), "standin_humaneva": _frames(he3d)},
        "sequences": {"standin": sum(len(a) for a in pos3d.values()),
                      "standin_humaneva": sum(len(a) for a in he3d.values())},
        "stats": {"standin": stats_h, "standin_humaneva": stats_e},
        "placements": table_h + table_e,
        "humaneva_cameras": {s: [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in c.items()}
                                 for c in cs] for s, cs in he_cams.items()},
        "sources": src,
    }
    from bench.data.standin_build.provenance import write_provenance  # text only; keeps build.py short
    write_provenance(tmp, summary, src)
    summary["sizes"] = {}
    for folder in (h_dir, e_dir):
        write_sums(folder)
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                summary["sizes"][f"{folder.name}/{p.relative_to(folder).as_posix()}"] = p.stat().st_size
    summary["total_bytes"] = sum(summary["sizes"].values())
    summary.pop("sources")
    return summary


def _resolve_root(folder: str | os.PathLike | None) -> Path:
    """The folder holding ``standin/`` and ``standin_humaneva/`` (a ``standin`` folder itself maps to
    its parent)."""
    root = Path(folder) if folder is not None else BUNDLED_ROOT
    if root.name == H36M_DIR and (root / "data_3d_standin.npz").is_file():
        root = root.parent
    return root


def _install(tmp: Path, root: Path) -> None:
    """Move the built folders into ``root``, replacing old ones: the old folders are first renamed
    aside, then the new ones renamed in; on any failure the old ones are put back."""
    moved = []
    try:
        for name in (H36M_DIR, HE_DIR):
            if (root / name).exists():
                (root / name).rename(tmp / f"{name}.old")
                moved.append(name)
        for name in (H36M_DIR, HE_DIR):
            (tmp / name).rename(root / name)
    except OSError:
        for name in moved:
            if (root / name).exists():
                shutil.rmtree(root / name)
            (tmp / f"{name}.old").rename(root / name)
        raise


def build_standin(out_dir: str | os.PathLike | None = None, sources: str | os.PathLike | None = None,
                  log=None) -> dict:
    """Build the stand-in datasets from the raw sources.

    Args:
        out_dir: folder that receives ``standin/`` and ``standin_humaneva/`` (default: the bundled
            folder bench/data/bundled; a path ending in an existing ``standin`` folder means its parent).
        sources: folder with the wheels (and optionally the assimp models); default
            ``build/standin-sources/`` plus the Debian package's folder (see sources.py).
        log: optional callable receiving one-line progress messages.

    Returns:
        A summary dict: ``clips`` (per clip: source, frames, split, bodies), ``frames`` (per dataset and
        subject), ``sequences``, ``stats`` (dropped frames, detector events), ``sizes`` (bytes per
        file), ``total_bytes``, ``placements`` and ``humaneva_cameras``.

    Everything is written to a temporary folder inside ``out_dir`` first and renamed into place at
    the end, so an error leaves the previous files untouched.
    """
    src = find_sources(sources)
    root = _resolve_root(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".standin-build-", dir=root))
    try:
        summary = _build_into(tmp, src, log)
        _install(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary["out_dir"] = str(root)
    return summary


def verify_standin(folder: str | os.PathLike | None = None, sources: str | os.PathLike | None = None,
                   strict_bytes: bool = True, log=None) -> tuple[bool, list[str]]:
    """Rebuild into a temporary folder and compare with ``folder`` (default: the bundled one).

    Every file listed in the rebuilt ``SHA256SUMS`` files is compared: npz files by the checksum of
    their decoded arrays and, with ``strict_bytes``, also by their bytes (these can differ across
    numpy/zlib versions while the arrays agree); other files by their bytes. A file missing on
    either side is a mismatch. Returns (all equal, sorted list of mismatching paths relative to
    the folder's root).
    """
    root = _resolve_root(folder)
    if not (root / H36M_DIR / "SHA256SUMS").is_file():
        raise DataError(f"no stand-in to verify in {root} (expected {root / H36M_DIR / 'SHA256SUMS'}); "
                        f"build it with: bench data build-standin")
    with tempfile.TemporaryDirectory(prefix="standin-verify-") as tmp:
        build_standin(tmp, sources, log)
        bad = []
        for name in (H36M_DIR, HE_DIR):
            new = read_sums(Path(tmp) / name)
            have = read_sums(root / name) if (root / name / "SHA256SUMS").is_file() else {}
            for f in sorted(set(new) | set(have)):
                path = root / name / f
                if f not in new or not path.is_file():
                    bad.append(f"{name}/{f}")
                    continue
                file_hash, content_hash = new[f]
                same = content_hash is None or content_sha256(path) == content_hash
                if content_hash is None or strict_bytes:
                    same = same and file_sha256(path) == file_hash
                if not same:
                    bad.append(f"{name}/{f}")
    return not bad, sorted(bad)
