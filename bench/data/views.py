"""Pieces shared by the loaders of the VideoPose3D npz layout (h36m/standin, humaneva, 3dhp)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from bench.camera import Camera, normalize_screen_coordinates, world_to_camera
from bench.data.dataset import check_array
from bench.data.sources import ResolvedSource, resolve
from bench.errors import DataError
from bench.skeleton import Skeleton


def vp3d_files(folder: Path, tag: str, source: str,
               roles: Mapping[str, tuple[str, ...]] | None = None) -> tuple[Path, Path]:
    """``data_3d_<tag>.npz`` and the 2D file ``source`` reads in ``folder``: ``data_2d_<tag>_<source>.npz``
    or, for a role of ``roles``, its file (bench.data.sources). A missing source is one error listing
    the roles and sources that are there."""
    res = resolve_source_files(folder, tag, source, roles)
    return res.file_3d, res.file_2d


def resolve_source_files(folder: Path, tag: str, source: str,
                         roles: Mapping[str, tuple[str, ...]] | None = None) -> ResolvedSource:
    """:func:`bench.data.sources.resolve` (role, raw source, 2D and 3D file)."""
    return resolve(Path(folder), tag, source, roles or {})


def camera_views(world: np.ndarray, views, cams: list[Camera], where: str,
                 layout_of: Callable[[int, str], Skeleton], target: Skeleton):
    """One action seen by every camera: 2D pixels -> normalised ``target``-layout keypoints, world
    3D -> each camera's frame. 2D longer than the mocap is cut to its length (VideoPose3D does this).

    Returns (keypoints list, positions list, 2D layout found in the file).
    """
    if not isinstance(views, (list, tuple)) or len(views) != len(cams):
        raise DataError(f"{where}: expected a list of {len(cams)} camera arrays")
    kp_list, pos_list, layout = [], [], None
    for c, (kp, cam) in enumerate(zip(views, cams)):
        where2 = f"{where}[{c}]"
        kp = check_array(kp, where2, None, 2)
        layout = layout_of(kp.shape[1], where2)
        if len(kp) < len(world):
            raise DataError(f"{where2}: 2D has {len(kp)} frames but the 3D sequence has "
                            f"{len(world)}; lengths must agree")
        kp = normalize_screen_coordinates(kp[: len(world)], cam.res_w, cam.res_h)
        if layout.name != target.name:
            from bench.data.layouts import convert_keypoints  # layouts import the loaders' skeletons
            kp = convert_keypoints(kp, layout, target)
        kp_list.append(np.asarray(kp, dtype=np.float32))
        cam_pos = world_to_camera(world.astype(np.float64), cam.orientation, cam.translation)
        pos_list.append(cam_pos.astype(np.float32))
    return kp_list, pos_list, layout
