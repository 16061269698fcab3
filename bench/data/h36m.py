"""Human3.6M in the VideoPose3D files, and the bundled stand-in that uses the same layout.

Real files: ``data_3d_h36m.npz`` (32 joints, world metres) and ``data_2d_h36m_<source>.npz``.
The 32-joint mocap is reduced to the 17 joints every lifting paper uses; 3D goes to each camera's
frame with the published extrinsics (bench.camera); 2D is normalised per camera resolution; 2D
sequences longer than the mocap are cut to its length (as VideoPose3D does).

* **Excluded take.** Only S11 ``'Directions'`` (exact name) is dropped, as VideoPose3D's
  preparation does (``data/prepare_data_h36m.py``: ``if subject == 'S11' and action ==
  'Directions': continue # Discard corrupted video``, in each of its three conversion branches;
  the same line in ``data/prepare_data_2d_h36m_sh.py`` and
  ``data/tools/prepare_data_2d_h36m_generic.py``). S11 ``'Directions 1'`` is kept: the real file
  has it. ``bench data check`` skips exactly the same take (:data:`H36M_EXCLUDED`).
* **Take names.** S1's raw names (``TakingPhoto``, ``WalkingDog``) are kept as take names and belong
  to the groups ``Photo`` / ``WalkDog`` (bench.data.actions); a take whose 2D is stored under the
  other spelling ('TakingPhoto 1' in 3D, 'Photo 1' in 2D) is matched (bench.data.actions.match_take).
* **2D layout** from the 2D file's metadata, else from its joint count (bench.data.validate.Layout2D).
* **Units**: 3D that does not look like metres is one error (bench.data.validate.units_problem).
* **2D sources** by role or raw name (bench.data.sources): ``gt``, ``cpn`` (cpn_ft_h36m_dbb), ``sh``
  (sh_ft_h36m, else sh_pt_mpii), ``detectron`` (detectron_ft_h36m, else detectron_pt_coco).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from bench.camera import Camera, h36m_cameras
from bench.data.actions import match_take
from bench.data.dataset import PoseDataset, SourceTable, check_array, register_loader
from bench.data.npz import expect_dict, load_npz_item
from bench.data.sources import H36M_ROLES
from bench.data.validate import Layout2D, check_metres
from bench.data.views import camera_views, resolve_source_files
from bench.errors import DataError
from bench.skeleton import H36M_17, MPII_16

# The 17 of the 32 Human3.6M mocap joints kept by VideoPose3D (the others are duplicates or
# finger/toe ends).
H36M_32_TO_17 = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]

H36M_TRAIN = ["S1", "S5", "S6", "S7", "S8"]
H36M_TEST = ["S9", "S11"]

# (subject, take) pairs the h36m loader drops by default (exact take names; see the module docstring).
H36M_EXCLUDED = (("S11", "Directions"),)

# The 2D layout guessed from the joint count when the file's metadata names none.
H36M_2D_BY_COUNT = {17: H36M_17, 16: MPII_16}
H36M_2D_EXPECTED = "17 (H36M) or 16 (MPII order)"


def reduce_to_17(world: np.ndarray, where: str, reduce_32: bool = True) -> np.ndarray:
    """32-joint mocap -> the 17 joints (17-joint input passes); other counts are one error."""
    if reduce_32 and world.shape[1] == 32:
        world = world[:, H36M_32_TO_17]
    if world.shape[1] != 17:
        raise DataError(f"{where}: expected 17 or 32 joints, got {world.shape[1]}")
    return world


def build_vp3d_dataset(name: str, folder: Path, file_tag: str, source: str,
                       cameras: dict[str, list[Camera]], train: list[str], test: list[str],
                       validation: list[str], fps: float, exclude: list[tuple[str, str]] = (),
                       reduce_32: bool = True,
                       roles: Mapping[str, tuple[str, ...]] | None = None) -> PoseDataset:
    """Read a VideoPose3D-layout folder into a :class:`PoseDataset`. ``exclude``: (subject, take)
    pairs to drop, exact names; ``roles``: the loader's 2D source roles (bench.data.sources)."""
    if not folder.is_dir():
        raise DataError(f"data folder not found: {folder}")
    resolved = resolve_source_files(folder, file_tag, source, roles)
    f3d, f2d = resolved.file_3d, resolved.file_2d
    pos3d = expect_dict(load_npz_item(f3d, "positions_3d"), f"{f3d}:positions_3d")
    pos2d = expect_dict(load_npz_item(f2d, "positions_2d"), f"{f2d}:positions_2d")
    meta = load_npz_item(f2d, "metadata", required=False)
    # the file's joint count over the subjects read here (3D and extrinsics; not the unlabeled S2-S4)
    layout_of = Layout2D(f2d, meta, pos2d, H36M_2D_BY_COUNT, H36M_17, H36M_2D_EXPECTED,
                         skip=lambda s: s not in pos3d or s not in cameras)
    problem = layout_of.file_problem()
    if problem:
        raise DataError(problem)
    excluded = set(exclude)
    dropped = []
    keypoints, positions = {}, {}
    layout_2d = None
    for subject, actions in sorted(pos3d.items()):
        if subject not in cameras:
            continue  # no extrinsics (e.g. S2-S4): cannot build camera-frame targets
        actions = expect_dict(actions, f"{f3d}:positions_3d[{subject!r}]")
        if subject not in pos2d:
            raise DataError(f"{f2d}: subject {subject!r} present in {f3d.name} but missing here")
        subject_2d = expect_dict(pos2d[subject], f"{f2d}:positions_2d[{subject!r}]")
        keypoints[subject], positions[subject] = {}, {}
        for action, world in sorted(actions.items()):
            if (subject, action) in excluded:
                dropped.append(f"{subject} {action!r}")
                continue
            where3 = f"{f3d}:positions_3d[{subject!r}][{action!r}]"
            world = reduce_to_17(check_array(world, where3, None, 3), where3, reduce_32)
            check_metres(world, H36M_17.parents, where3)
            key2d = match_take(action, subject_2d)
            if key2d is None:
                raise DataError(f"{f2d}: missing {subject}/{action!r} that {f3d.name} has")
            kp_list, pos_list, layout = camera_views(
                world, subject_2d[key2d], cameras[subject],
                f"{f2d}:positions_2d[{subject!r}][{key2d!r}]", layout_of, H36M_17)
            layout_2d = layout_2d or layout
            keypoints[subject][action] = kp_list
            positions[subject][action] = pos_list
    if not positions:
        raise DataError(f"{f3d}: no subject with camera extrinsics found")
    known = set(positions)
    for group, subjects in (("train", train), ("test", test)):
        missing = [s for s in subjects if s not in known]
        if missing:
            raise DataError(f"{f3d}: {group} subject(s) {', '.join(missing)} missing")
    notes = []
    role_note = resolved.note(source)
    if role_note:
        notes.append(role_note)
    guess = layout_of.note()
    if guess:
        notes.append(guess)
    if layout_2d is not None and layout_2d is not H36M_17:
        notes.append(f"2D keypoints converted from {layout_2d.name} to h36m17")
    if dropped:
        notes.append(f"excluded take(s): {', '.join(dropped)} (corrupted video; VideoPose3D drops it)")
    return PoseDataset(name=name, source=source, skeleton=H36M_17, keypoints_layout=H36M_17,
                       fps=fps, keypoints=keypoints, positions=positions, train_subjects=list(train),
                       test_subjects=list(test), validation_subjects=list(validation),
                       resolution={s: [c.res_w for c in cameras[s]] for s in positions},
                       intrinsics={s: [c.intrinsic[:4].astype(np.float32) for c in cameras[s]]
                                   for s in positions},
                       path=str(folder), notes=notes, source_role=resolved.role or "",
                       source_file=str(f2d), files=[str(f3d), str(f2d)])


NO_PATH_MESSAGE = ("the h36m loader needs a folder: --data h36m:/path/to/folder "
                   "(with data_3d_h36m.npz and data_2d_h36m_<source>.npz)")


@register_loader("h36m", "Human3.6M from VideoPose3D's data_3d_h36m.npz + data_2d_h36m_<source>.npz "
                         "(17 joints, 4 cameras, S1,S5-S8 train / S9,S11 test; 2D roles gt, cpn, sh, "
                         "detectron)",
                 sources=SourceTable("h36m", H36M_ROLES, None, NO_PATH_MESSAGE))
def load_h36m(path: str | None, source: str = "cpn_ft_h36m_dbb", exclude_s11_directions: bool = True,
              validation_subjects: tuple[str, ...] = ()) -> PoseDataset:
    """Load Human3.6M. ``exclude_s11_directions`` drops the corrupted S11 'Directions' take (that exact
    name; 'Directions 1' stays), as VideoPose3D's preparation does; a protocol switch here."""
    if path is None:
        raise DataError(NO_PATH_MESSAGE)
    cams = {s: h36m_cameras(s) for s in H36M_TRAIN + H36M_TEST}
    exclude = list(H36M_EXCLUDED) if exclude_s11_directions else []
    return build_vp3d_dataset("h36m", Path(path), "h36m", source, cams, H36M_TRAIN, H36M_TEST,
                              list(validation_subjects), fps=50.0, exclude=exclude, roles=H36M_ROLES)
