"""The HumanEva-15 export of the stand-in (the clips of docs/data-sources.md sections 1-3): joint
mapping and three plausible 640 x 480 cameras.

HumanEva-I's real calibration is not available here (docs/model-specs.md section 6: VideoPose3D's
code carries extrinsics only), so the three colour cameras C1-C3 are *chosen*: they stand around a
capture volume centred on the world origin, 5.7-6.4 m from it, 1.7-2.0 m high, aimed at a point
1.0 m above the floor (the whole of a 2.1 m tall pose fits in the 480-pixel height), with
focal lengths about 700 px (a 49 deg x 38 deg field of view), principal points a few pixels off
the image centre, and mild barrel distortion (k1 about -0.18). Each subject S1-S3 gets its own
extrinsics: the layout below moved by a few centimetres per subject (seeded), as HumanEva's
per-subject calibrations differ.

The 15 joints (bench.skeleton.HUMANEVA_15) are taken from the 17 Human3.6M joints by name: Hip,
Thorax, shoulders, elbows, wrists, hips, knees, ankles (H36M RFoot/LFoot) and Neck/Nose.
"""
from __future__ import annotations

import numpy as np

from bench.camera import Camera
from bench.data.standin_build.retarget import seed_of
from bench.skeleton import H36M_17, HUMANEVA_15

# HumanEva-15 joint j <- H36M-17 joint HE_FROM_H36M[j], matched by name (ankle = H36M "Foot").
_ALIAS = {"LAnkle": "LFoot", "RAnkle": "RFoot"}
HE_FROM_H36M = [H36M_17.joint_names.index(_ALIAS.get(n, n)) for n in HUMANEVA_15.joint_names]

# (id, azimuth deg of the camera seen from the origin, distance m, height m, fx, fy, cx, cy,
#  k1, k2, k3, p1, p2)
CAMERA_LAYOUT = [
    ("C1", 215.0, 6.1, 1.85, 702.0, 704.5, 323.5, 244.2, -0.182, 0.095, 0.0, 0.0006, -0.0004),
    ("C2", 325.0, 5.7, 1.72, 698.3, 700.1, 316.8, 237.5, -0.176, 0.101, 0.0, -0.0003, 0.0005),
    ("C3", 95.0, 6.4, 1.98, 705.9, 707.0, 320.9, 241.6, -0.189, 0.088, 0.0, 0.0004, 0.0002),
]
AIM_HEIGHT = 1.0
RES = (640, 480)


def _quat_from_matrix(r: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation matrix (w >= 0)."""
    t = np.trace(r)
    if t > 0:
        s = np.sqrt(t + 1.0) * 2
        q = np.array([0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s])
    else:
        i = int(np.argmax(np.diag(r)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = np.sqrt(1.0 + r[i, i] - r[j, j] - r[k, k]) * 2
        q = np.empty(4)
        q[0] = (r[k, j] - r[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (r[j, i] + r[i, j]) / s
        q[1 + k] = (r[k, i] + r[i, k]) / s
    q = q / np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world quaternion of a camera at ``position`` looking at ``target`` (x right, y down,
    z forward in the camera, Z up in the world)."""
    fwd = target - position
    fwd = fwd / np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right = right / np.linalg.norm(right)
    down = np.cross(fwd, right)
    return _quat_from_matrix(np.stack([right, down, fwd], axis=1))


def humaneva_cameras(subject: str) -> list[Camera]:
    """The three cameras of HumanEva stand-in subject ``subject`` ('S1'..'S3')."""
    cams = []
    for (cid, az, dist, height, fx, fy, cx, cy, k1, k2, k3, p1, p2) in CAMERA_LAYOUT:
        rng = np.random.default_rng(seed_of("humaneva-camera", subject, cid))
        a = np.radians(az)
        pos = np.array([dist * np.cos(a), dist * np.sin(a), height]) + rng.uniform(-0.05, 0.05, 3)
        target = np.array([0.0, 0.0, AIM_HEIGHT]) + np.append(rng.uniform(-0.05, 0.05, 2), 0.0)
        # Every number goes through float32, the precision it is stored with, so that projecting
        # with these cameras or with the stored ones gives the same result.
        f32 = lambda v: np.asarray(v, dtype=np.float32).astype(np.float64)  # noqa: E731
        cams.append(Camera(id=cid, res_w=RES[0], res_h=RES[1], center=f32([cx, cy]),
                           focal_length=f32([fx, fy]), radial_distortion=f32([k1, k2, k3]),
                           tangential_distortion=f32([p1, p2]), orientation=f32(look_at(pos, target)),
                           translation=f32(pos)))
    return cams


def camera_dict(cam: Camera) -> dict:
    """A camera as stored under the ``cameras`` key of data_3d_humaneva15.npz."""
    return {"id": cam.id, "res_w": cam.res_w, "res_h": cam.res_h,
            "center": cam.center.astype(np.float32), "focal_length": cam.focal_length.astype(np.float32),
            "radial_distortion": cam.radial_distortion.astype(np.float32),
            "tangential_distortion": cam.tangential_distortion.astype(np.float32),
            "orientation": cam.orientation.astype(np.float32), "translation": cam.translation.astype(np.float32)}
