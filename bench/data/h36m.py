"""Human3.6M in the VideoPose3D files, and the bundled stand-in that uses the same layout.

Real files: ``data_3d_h36m.npz`` (32 joints, world metres) and ``data_2d_h36m_<source>.npz``.
The 32-joint mocap is reduced to the 17 joints every lifting paper uses; 3D goes to each camera's
frame with the published extrinsics (bench.camera); 2D is normalised per camera resolution; 2D
sequences longer than the mocap are cut to its length (as VideoPose3D does).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.camera import Camera, h36m_cameras
from bench.data.dataset import PoseDataset, check_array, register_loader
from bench.data.views import camera_views, vp3d_files
from bench.data.npz import expect_dict, load_npz_item
from bench.errors import DataError
from bench.skeleton import H36M_17, MPII_16, Skeleton

# The 17 of the 32 Human3.6M mocap joints kept by VideoPose3D (the others are duplicates or
# finger/toe ends).
H36M_32_TO_17 = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]

H36M_TRAIN = ["S1", "S5", "S6", "S7", "S8"]
H36M_TEST = ["S9", "S11"]


def _layout_of_2d(meta: dict | None, num_joints: int, where: str) -> Skeleton:
    name = (meta or {}).get("layout_name", "")
    if num_joints == 17:
        return H36M_17
    if num_joints == 16:
        return MPII_16
    raise DataError(f"{where}: 2D keypoints have {num_joints} joints; expected 17 (H36M) or 16 "
                    f"(MPII order){' for layout ' + repr(name) if name else ''}")


def build_vp3d_dataset(name: str, folder: Path, file_tag: str, source: str,
                       cameras: dict[str, list[Camera]], train: list[str], test: list[str],
                       validation: list[str], fps: float, exclude: list[tuple[str, str]] = (),
                       reduce_32: bool = True) -> PoseDataset:
    """Read a VideoPose3D-layout folder into a :class:`PoseDataset`."""
    if not folder.is_dir():
        raise DataError(f"data folder not found: {folder}")
    f3d, f2d = vp3d_files(folder, file_tag, source)
    pos3d = expect_dict(load_npz_item(f3d, "positions_3d"), f"{f3d}:positions_3d")
    pos2d = expect_dict(load_npz_item(f2d, "positions_2d"), f"{f2d}:positions_2d")
    meta = load_npz_item(f2d, "metadata", required=False)
    excluded = set(exclude)
    keypoints, positions = {}, {}
    layout_2d = None
    for subject, actions in sorted(pos3d.items()):
        if subject not in cameras:
            continue  # no extrinsics (e.g. S2-S4): cannot build camera-frame targets
        actions = expect_dict(actions, f"{f3d}:positions_3d[{subject!r}]")
        if subject not in pos2d:
            raise DataError(f"{f2d}: subject {subject!r} present in {f3d.name} but missing here")
        keypoints[subject], positions[subject] = {}, {}
        for action, world in sorted(actions.items()):
            if (subject, action) in excluded or (subject, action.split(" ")[0]) in excluded:
                continue
            where3 = f"{f3d}:positions_3d[{subject!r}][{action!r}]"
            world = check_array(world, where3, None, 3)
            if reduce_32 and world.shape[1] == 32:
                world = world[:, H36M_32_TO_17]
            if world.shape[1] != 17:
                raise DataError(f"{where3}: expected 17 or 32 joints, got {world.shape[1]}")
            if action not in pos2d[subject]:
                raise DataError(f"{f2d}: missing {subject}/{action!r} that {f3d.name} has")
            kp_list, pos_list, layout = camera_views(
                world, pos2d[subject][action], cameras[subject],
                f"{f2d}:positions_2d[{subject!r}][{action!r}]",
                lambda j, where: _layout_of_2d(meta, j, where), H36M_17)
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
    if layout_2d is not None and layout_2d is not H36M_17:
        notes.append(f"2D keypoints converted from {layout_2d.name} to h36m17")
    return PoseDataset(name=name, source=source, skeleton=H36M_17, keypoints_layout=H36M_17,
                       fps=fps, keypoints=keypoints, positions=positions, train_subjects=list(train),
                       test_subjects=list(test), validation_subjects=list(validation),
                       resolution={s: [c.res_w for c in cameras[s]] for s in positions},
                       intrinsics={s: [c.intrinsic[:4].astype(np.float32) for c in cameras[s]]
                                   for s in positions},
                       path=str(folder), notes=notes)


@register_loader("h36m", "Human3.6M from VideoPose3D's data_3d_h36m.npz + data_2d_h36m_<source>.npz "
                         "(17 joints, 4 cameras, S1,S5-S8 train / S9,S11 test)")
def load_h36m(path: str | None, source: str = "cpn_ft_h36m_dbb", exclude_s11_directions: bool = True,
              validation_subjects: tuple[str, ...] = ()) -> PoseDataset:
    """Load Human3.6M. ``exclude_s11_directions`` drops the corrupted S11 'Directions' video
    (VideoPose3D drops it at preparation time; a protocol switch here)."""
    if path is None:
        raise DataError("the h36m loader needs a folder: --data h36m:/path/to/folder "
                        "(with data_3d_h36m.npz and data_2d_h36m_<source>.npz)")
    cams = {s: h36m_cameras(s) for s in H36M_TRAIN + H36M_TEST}
    exclude = [("S11", "Directions")] if exclude_s11_directions else []
    return build_vp3d_dataset("h36m", Path(path), "h36m", source, cams, H36M_TRAIN, H36M_TEST,
                              list(validation_subjects), fps=50.0, exclude=exclude)
