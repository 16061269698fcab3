"""Retargeting clips onto the stand-in's bodies and placing them in front of the cameras.

docs/data-sources.md ("What this means"): every clip is performed by several bodies of different
proportions. Retargeting keeps each bone's *direction* frame by frame and sets its *length* from the
body (:class:`Body`); the root trajectory is scaled by the ratio of leg lengths (body / source actor),
heights included, so that steps and jumps keep their proportion to the legs. Then:

* floor: the whole clip is shifted vertically so that the 1st percentile over frames of the lower
  ankle height equals the body's ankle height (feet on the z = 0 floor, Z up, metres); frames where
  any joint would still be below the floor (hands on the ground while crawling, after the change of
  proportions) are lifted by a smoothed amount (moving maximum over 15 frames, Gaussian sigma 3 frames,
  never less than the frame's own penetration);
* elevated frames: Human3.6M's cameras see up to about 2.3 m above the floor at the middle of the
  volume, but the climbing and playground clips stand on boxes and bars with raised arms (up to
  2.9 m for the tallest body). Where the highest joint exceeds :data:`Z_CAP` the body is lowered by
  the excess, but never by more than the height of its lower ankle above the body's standing ankle
  height (so feet never go below the floor); the lowering is smoothed like the floor lift. This
  keeps every pose and shortens the step-ups; frames still too high are left to the placement,
  which cuts them out (see build.py);
* placement: each sequence is rotated about the vertical axis and moved horizontally so that every
  joint of every frame projects inside the image of every camera with a margin. The rotation is
  drawn from a seed of (subject, sequence); the translation is drawn among grid positions (0.2 m)
  whose worst-case margin (pinhole model on the convex hull of the points) is at least
  :data:`GOOD_MARGIN_PX`; the final placement is checked with the full distortion model on every
  point. If no rotation of the seeded sequence of 12 works, the caller cuts the sequence in two.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d
from scipy.spatial import ConvexHull, QhullError

from bench.camera import Camera, project_to_2d, world_to_camera
from bench.skeleton import H36M_17

PARENTS = H36M_17.parents

# Bone lengths (metres) of the reference body, 1.75 m tall, close to Human3.6M's average skeleton.
BASE_HEIGHT = 1.75
BASE_LENGTHS = {
    "hip": 0.130,        # Hip -> RHip / LHip
    "thigh": 0.445,      # hip -> knee
    "shin": 0.440,       # knee -> ankle
    "spine": 0.235,      # Hip -> Spine
    "chest": 0.250,      # Spine -> Thorax
    "neck": 0.115,       # Thorax -> Neck/Nose
    "head": 0.115,       # Neck/Nose -> Head
    "shoulder": 0.150,   # Thorax -> shoulder
    "upper_arm": 0.280,  # shoulder -> elbow
    "forearm": 0.250,    # elbow -> wrist
}
BASE_ANKLE_HEIGHT = 0.075  # ankle joint centre above the floor when standing
# Which length each H36M joint's bone (joint <- parent) takes, and which body factor scales it.
BONE_OF_JOINT = {1: "hip", 2: "thigh", 3: "shin", 4: "hip", 5: "thigh", 6: "shin", 7: "spine", 8: "chest",
                 9: "neck", 10: "head", 11: "shoulder", 12: "upper_arm", 13: "forearm", 14: "shoulder",
                 15: "upper_arm", 16: "forearm"}
FACTOR_OF_BONE = {"hip": "hips", "thigh": "legs", "shin": "legs", "spine": "trunk", "chest": "trunk",
                  "neck": "head", "head": "head", "shoulder": "shoulders", "upper_arm": "arms", "forearm": "arms"}

Z_CAP = 2.10
GOOD_MARGIN_PX = 60.0
MIN_MARGIN_PX = 15.0
MIN_DEPTH_M = 1.0


@dataclass(frozen=True)
class Body:
    """A body: nominal height (m) and per-part length factors on top of the height scaling."""

    name: str
    height: float
    legs: float = 1.0
    trunk: float = 1.0
    arms: float = 1.0
    shoulders: float = 1.0
    hips: float = 1.0
    head: float = 1.0

    def lengths(self) -> dict[str, float]:
        """Bone lengths in metres."""
        s = self.height / BASE_HEIGHT
        return {b: BASE_LENGTHS[b] * s * getattr(self, FACTOR_OF_BONE[b]) for b in BASE_LENGTHS}

    def joint_lengths(self) -> np.ndarray:
        """(17,) length of the bone ending at each joint (0 for the root)."""
        lens = self.lengths()
        out = np.zeros(17)
        for j, b in BONE_OF_JOINT.items():
            out[j] = lens[b]
        return out

    @property
    def leg_length(self) -> float:
        lens = self.lengths()
        return lens["thigh"] + lens["shin"]

    @property
    def ankle_height(self) -> float:
        return BASE_ANKLE_HEIGHT * self.height / BASE_HEIGHT * self.legs


# Seven bodies, 1.57-1.88 m, with plausible variation of proportions (wider hips / narrower shoulders
# on the smaller bodies, longer legs or trunk on others). S1, S5-S8 train; S9, S11 test.
BODIES = {
    "S1": Body("S1", 1.60, legs=1.02, trunk=0.98, arms=1.00, shoulders=0.96, hips=1.05, head=1.00),
    "S5": Body("S5", 1.66, legs=0.98, trunk=1.02, arms=0.98, shoulders=1.00, hips=1.02, head=1.02),
    "S6": Body("S6", 1.85, legs=1.03, trunk=0.99, arms=1.03, shoulders=1.04, hips=0.98, head=0.98),
    "S7": Body("S7", 1.71, legs=1.00, trunk=1.00, arms=1.02, shoulders=1.02, hips=1.00, head=1.01),
    "S8": Body("S8", 1.78, legs=0.97, trunk=1.03, arms=0.99, shoulders=1.05, hips=0.97, head=1.00),
    "S9": Body("S9", 1.88, legs=1.01, trunk=1.00, arms=1.01, shoulders=1.03, hips=0.99, head=0.99),
    "S11": Body("S11", 1.57, legs=0.99, trunk=1.01, arms=0.98, shoulders=0.96, hips=1.04, head=1.02),
}


def seed_of(*parts: object) -> int:
    """A 64-bit seed from the SHA-256 of the parts joined by '|': the same on every machine."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "little")


def source_leg_length(joints: np.ndarray) -> float:
    """Median over frames of the mean (thigh + shin) of both legs of a (F, 17, 3) clip."""
    assert joints.ndim == 3 and joints.shape[1:] == (17, 3), joints.shape
    n = lambda a, b: np.linalg.norm(joints[:, a] - joints[:, b], axis=1)  # noqa: E731
    return float(np.median((n(1, 2) + n(2, 3) + n(4, 5) + n(5, 6)) / 2))


def retarget(joints: np.ndarray, body: Body) -> np.ndarray:
    """Bone directions of ``joints`` (F, 17, 3) with ``body``'s lengths, root scaled, on the floor."""
    assert joints.ndim == 3 and joints.shape[1:] == (17, 3), joints.shape
    scale = body.leg_length / source_leg_length(joints)
    lens = body.joint_lengths()
    out = np.empty_like(joints)
    out[:, 0] = joints[:, 0] * scale
    for j in range(1, 17):
        p = PARENTS[j]
        d = joints[:, j] - joints[:, p]
        d = d / np.linalg.norm(d, axis=1, keepdims=True)
        out[:, j] = out[:, p] + lens[j] * d
    ankle = np.minimum(out[:, 3, 2], out[:, 6, 2])
    out[..., 2] += body.ankle_height - np.percentile(ankle, 1.0)
    pen = np.maximum(0.0, -out[..., 2].min(axis=1))
    if pen.any():
        out[..., 2] += np.maximum(pen, _smooth_max(pen))[:, None]
    excess = np.maximum(0.0, out[..., 2].max(axis=1) - Z_CAP)
    if excess.any():
        support = np.maximum(0.0, np.minimum(out[:, 3, 2], out[:, 6, 2]) - body.ankle_height)
        out[..., 2] -= np.minimum(_smooth_max(excess), support)[:, None]
    return out


def _smooth_max(x: np.ndarray) -> np.ndarray:
    """Moving maximum over 15 frames, then Gaussian smoothing (sigma 3 frames)."""
    return gaussian_filter1d(maximum_filter1d(x, size=15, mode="nearest"), sigma=3, mode="nearest")


def rot_z(theta: float) -> np.ndarray:
    """Rotation matrix about +z."""
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _margins(points: np.ndarray, cams: list[Camera], offsets: np.ndarray) -> np.ndarray:
    """Worst pixel margin (T,) of ``points`` (K, 3) moved by each of ``offsets`` (T, 3), pinhole model."""
    worst = np.full(len(offsets), np.inf)
    for cam in cams:
        a = world_to_camera(points, cam.orientation, cam.translation)            # (K, 3)
        b = world_to_camera(offsets, cam.orientation, np.zeros(3))               # (T, 3) rotation only
        xc = a[None] + b[:, None]                                                # (T, K, 3)
        z = xc[..., 2]
        f, c = cam.focal_length, cam.center
        with np.errstate(divide="ignore", invalid="ignore"):
            u = f[0] * xc[..., 0] / z + c[0]
            v = f[1] * xc[..., 1] / z + c[1]
        m = np.minimum(np.minimum(u, cam.res_w - u), np.minimum(v, cam.res_h - v))
        m = np.where(z > MIN_DEPTH_M, m, -np.inf)
        worst = np.minimum(worst, m.min(axis=1))
    return worst


def image_margin(world: np.ndarray, cams: list[Camera]) -> float:
    """Smallest distance (px) of any projected point to its image border, with distortion."""
    worst = np.inf
    for cam in cams:
        xc = world_to_camera(world.reshape(-1, 3).astype(np.float64), cam.orientation, cam.translation)
        if xc[:, 2].min() <= MIN_DEPTH_M:
            return -np.inf
        a = xc[:, :2] / xc[:, 2:]
        if np.abs(a).max() >= 1.0:  # outside the range where the distortion model is applied
            return -np.inf
        uv = project_to_2d(xc, cam.intrinsic_pixels)
        m = min(uv[:, 0].min(), cam.res_w - uv[:, 0].max(), uv[:, 1].min(), cam.res_h - uv[:, 1].max())
        worst = min(worst, float(m))
    return worst


def place(world: np.ndarray, cams: list[Camera], seed: int, extent: float = 2.4,
          step: float = 0.2) -> tuple[np.ndarray, dict] | None:
    """Rotate about z and translate ``world`` (F, 17, 3) so that it is seen whole by ``cams``.

    Returns (placed positions, info) or None when no tried placement fits (see the module docstring).
    """
    assert world.ndim == 3 and world.shape[1:] == (17, 3), world.shape
    rng = np.random.default_rng(seed)
    theta0 = float(rng.uniform(0, 2 * np.pi))
    centre = np.array([(world[:, 0, 0].min() + world[:, 0, 0].max()) / 2,
                       (world[:, 0, 1].min() + world[:, 0, 1].max()) / 2, 0.0])
    pts = world.reshape(-1, 3) - centre
    try:
        hull = pts[ConvexHull(pts).vertices]
    except QhullError:
        hull = pts
    g = np.arange(-extent, extent + 1e-9, step)
    grid = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    grid = np.concatenate([grid, np.zeros((len(grid), 1))], axis=1)
    best = None
    for k in range(12):
        theta = theta0 + k * np.pi / 6
        r = rot_z(theta)
        rot_pts = np.einsum("ab,kb->ka", r, hull)
        score = _margins(rot_pts, cams, grid)
        good = np.flatnonzero(score >= GOOD_MARGIN_PX)
        if len(good):
            pick = int(good[rng.integers(len(good))])
        else:
            pick = int(np.argmax(score))
            if not np.isfinite(score[pick]) or score[pick] < MIN_MARGIN_PX:
                continue
        t = grid[pick]
        placed = np.einsum("ab,fjb->fja", r, world - centre) + t
        margin = image_margin(placed, cams)
        if margin >= MIN_MARGIN_PX:
            return placed, {"theta_deg": float(np.degrees(theta) % 360), "t": t[:2].tolist(),
                            "margin_px": margin}
        if best is None or margin > best:
            best = margin
    return None
