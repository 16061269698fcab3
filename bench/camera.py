"""Camera geometry in the Human3.6M / VideoPose3D conventions (model-specs.md section 5.4).

All functions take numpy arrays or torch tensors of matching kind, with coordinates in the last axis.
Units: pixels for image points, metres for 3D points after :func:`h36m_cameras` converts the
published millimetres.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from bench.camera_data import H36M_EXTRINSICS, H36M_INTRINSICS
from bench.errors import DataError


def normalize_screen_coordinates(x: np.ndarray, w: int, h: int) -> np.ndarray:
    """Map pixels to [-1, 1] along x keeping the aspect ratio: x_n = 2x/w - 1, y_n = 2y/w - h/w."""
    assert x.shape[-1] == 2, f"expected (..., 2) points, got {x.shape}"
    return x / w * 2 - np.array([1, h / w], dtype=x.dtype)


def image_coordinates(x: np.ndarray, w: int, h: int) -> np.ndarray:
    """Inverse of :func:`normalize_screen_coordinates`."""
    assert x.shape[-1] == 2, f"expected (..., 2) points, got {x.shape}"
    return (x + np.array([1, h / w], dtype=x.dtype)) * w / 2


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4) = (w, x, y, z).

    v' = v + 2 (w (u x v) + u x (u x v)), with u the vector part of q.
    """
    assert q.shape[-1] == 4 and v.shape[-1] == 3
    q = np.broadcast_to(q, v.shape[:-1] + (4,))
    u = q[..., 1:]
    uv = np.cross(u, v)
    uuv = np.cross(u, uv)
    return v + 2 * (q[..., :1] * uv + uuv)


def qinverse(q: np.ndarray) -> np.ndarray:
    """Inverse of a unit quaternion: (w, -u)."""
    out = np.array(q, copy=True)
    out[..., 1:] *= -1
    return out


def world_to_camera(x: np.ndarray, orientation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """X_cam = rotate(q^-1, X_world - t)."""
    orientation = np.asarray(orientation, dtype=x.dtype)
    translation = np.asarray(translation, dtype=x.dtype)
    return qrot(qinverse(orientation), x - translation)


def camera_to_world(x: np.ndarray, orientation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """X_world = rotate(q, X_cam) + t."""
    orientation = np.asarray(orientation, dtype=x.dtype)
    translation = np.asarray(translation, dtype=x.dtype)
    return qrot(orientation, x) + translation


def project_to_2d(x: np.ndarray, intrinsic: np.ndarray) -> np.ndarray:
    """Project camera-space points (..., 3) with the Human3.6M distortion model.

    ``intrinsic`` is the 9-vector [fx, fy, cx, cy, k1, k2, k3, p1, p2] in normalised units (or pixels,
    the formula is the same); the output is in the same units as f and c.
    """
    assert x.shape[-1] == 3 and np.shape(intrinsic)[-1] == 9
    intrinsic = np.asarray(intrinsic, dtype=x.dtype)
    f, c, k, p = intrinsic[..., :2], intrinsic[..., 2:4], intrinsic[..., 4:7], intrinsic[..., 7:9]
    a = np.clip(x[..., :2] / x[..., 2:], -1, 1)
    r2 = np.sum(a**2, axis=-1, keepdims=True)
    radial = 1 + k[..., 0:1] * r2 + k[..., 1:2] * r2**2 + k[..., 2:3] * r2**3
    tan = np.sum(p * a, axis=-1, keepdims=True)
    a = a * (radial + tan) + p * r2
    return f * a + c


def project_to_2d_linear(x: np.ndarray, intrinsic: np.ndarray) -> np.ndarray:
    """Pinhole projection without distortion: uv = f * X_xy / Z + c."""
    assert x.shape[-1] == 3 and np.shape(intrinsic)[-1] >= 4
    intrinsic = np.asarray(intrinsic, dtype=x.dtype)
    a = np.clip(x[..., :2] / x[..., 2:], -1, 1)
    return intrinsic[..., :2] * a + intrinsic[..., 2:4]


@dataclass
class Camera:
    """One calibrated camera. Pixel-unit intrinsics plus extrinsics in metres."""

    id: str
    res_w: int
    res_h: int
    center: np.ndarray  # pixels
    focal_length: np.ndarray  # pixels
    radial_distortion: np.ndarray
    tangential_distortion: np.ndarray
    orientation: np.ndarray | None = None  # quaternion camera->world, (w, x, y, z)
    translation: np.ndarray | None = None  # metres, camera centre in world
    azimuth: float = 0.0

    @property
    def intrinsic_pixels(self) -> np.ndarray:
        """[fx, fy, cx, cy, k1, k2, k3, p1, p2] in pixels."""
        return np.concatenate([self.focal_length, self.center, self.radial_distortion,
                               self.tangential_distortion]).astype(np.float64)

    @property
    def intrinsic(self) -> np.ndarray:
        """The same 9-vector with f and c in normalised screen units (as VideoPose3D stores it)."""
        f = self.focal_length / self.res_w * 2
        c = normalize_screen_coordinates(self.center.astype(np.float64), self.res_w, self.res_h)
        return np.concatenate([f, c, self.radial_distortion, self.tangential_distortion])

    def project_world(self, x_world: np.ndarray, distort: bool = True) -> np.ndarray:
        """World points in metres (..., 3) -> pixels (..., 2)."""
        if self.orientation is None:
            raise DataError(f"camera {self.id} has no extrinsics; cannot project world points")
        x_cam = world_to_camera(x_world.astype(np.float64), self.orientation, self.translation)
        proj = project_to_2d if distort else project_to_2d_linear
        return proj(x_cam, self.intrinsic_pixels)


def h36m_cameras(subject: str) -> list[Camera]:
    """The 4 published Human3.6M cameras of ``subject`` (translation converted to metres)."""
    if subject not in H36M_EXTRINSICS:
        raise DataError(f"no Human3.6M extrinsics for subject {subject!r}; "
                        f"known: {', '.join(H36M_EXTRINSICS)}")
    cams = []
    for intr, extr in zip(copy.deepcopy(H36M_INTRINSICS), H36M_EXTRINSICS[subject]):
        cams.append(Camera(
            id=intr["id"], res_w=intr["res_w"], res_h=intr["res_h"],
            center=np.array(intr["center"]), focal_length=np.array(intr["focal_length"]),
            radial_distortion=np.array(intr["radial_distortion"]),
            tangential_distortion=np.array(intr["tangential_distortion"]),
            orientation=np.array(extr["orientation"]),
            translation=np.array(extr["translation"]) / 1000.0,
            azimuth=intr["azimuth"],
        ))
    return cams
