"""One definition of each Human3.6M joint for every source (docs/data-sources.md, "spine joint").

The sources disagree on where their trunk and head joints sit (pelvis->spine is 0.12 m in CMU, 0.24 m
in DeepMimic, about 0.08 m in the others; CMU's "Neck" is below the shoulders, Boxing's above). Each
source is therefore first reduced to the same *landmarks* (:class:`Landmarks`): the 12 limb joint
centres, a trunk *midline* polyline (the source's spine/neck joints, bottom-up, ending at the skull
base), a head centre and a head frame. The 17 joints (bench.skeleton.H36M_17 order) are then defined
the same way for all sources:

* Hip (0) = midpoint of the two hip joint centres (Human3.6M's RHip/LHip are a pure sideways offset of
  the root); RHip/LHip, knees, ankles (RFoot/LFoot), shoulders, elbows, wrists = joint centres;
* the midline polyline P = [Hip, source midline points..., head centre];
* Thorax (8) = the point of P at a fixed fraction of P's length: the per-clip median over frames of
  the fraction where P passes closest to the midpoint of the shoulder centres (the thorax sits at
  shoulder level, on the body midline, rigidly on the trunk: shrugging does not move it);
* Spine (7) = the point of P at :data:`SPINE_FRACTION` of the arc length from Hip to Thorax
  (Human3.6M: pelvis->spine 0.23 m, spine->thorax 0.26 m);
* Neck/Nose (9) = head centre + :data:`NOSE_FORWARD` along the head's forward axis - :data:`NOSE_DOWN`
  along its up axis; Head (10) = head centre + :data:`HEAD_UP` along the up axis. Where a source has no
  head orientation (holosoma) the trunk's forward axis is used, orthogonalised against the neck
  direction.

Only the directions of the resulting bones matter downstream: retargeting (retarget.py) sets every
bone length per subject.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LIMBS = ("l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
         "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist")

SPINE_FRACTION = 0.48
NOSE_FORWARD = 0.085
NOSE_DOWN = 0.03
HEAD_UP = 0.10


@dataclass
class Landmarks:
    """What every source is reduced to first (metres, Z up, source frame rate).

    Attributes:
        limbs: the 12 limb joint centres, each (F, 3).
        midline: (F, K, 3) trunk/neck points above the pelvis, bottom-up, ending at the skull base.
        head_centre: (F, 3).
        head_up: (F, 3) unit vectors.
        head_forward: (F, 3) unit vectors, or None when the source has no head orientation.
    """

    limbs: dict[str, np.ndarray]
    midline: np.ndarray
    head_centre: np.ndarray
    head_up: np.ndarray
    head_forward: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.head_centre)
        assert set(self.limbs) == set(LIMBS), sorted(self.limbs)
        assert all(v.shape == (n, 3) for v in self.limbs.values())
        assert self.midline.ndim == 3 and self.midline.shape[0] == n and self.midline.shape[2] == 3
        assert self.head_up.shape == (n, 3)
        assert self.head_forward is None or self.head_forward.shape == (n, 3)

    def __len__(self) -> int:
        return len(self.head_centre)


def unit(v: np.ndarray) -> np.ndarray:
    """Row-wise unit vectors."""
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def yup_to_zup(v: np.ndarray) -> np.ndarray:
    """Rotate Y-up coordinates (x, y, z) to Z-up (x, -z, y), a proper rotation about +x."""
    return np.stack([v[..., 0], -v[..., 2], v[..., 1]], axis=-1)


def point_at_arc(poly: np.ndarray, arc: np.ndarray) -> np.ndarray:
    """Points (F, 3) at arc length ``arc`` (F,) along polylines ``poly`` (F, K, 3)."""
    assert poly.ndim == 3 and arc.shape == poly.shape[:1]
    seg = np.linalg.norm(np.diff(poly, axis=1), axis=2)
    cum = np.concatenate([np.zeros((len(poly), 1)), np.cumsum(seg, axis=1)], axis=1)
    out = np.empty((len(poly), 3))
    for f in range(len(poly)):
        k = int(np.clip(np.searchsorted(cum[f], arc[f], side="right") - 1, 0, seg.shape[1] - 1))
        u = 0.0 if seg[f, k] <= 1e-12 else float(np.clip((arc[f] - cum[f, k]) / seg[f, k], 0.0, 1.0))
        out[f] = poly[f, k] + u * (poly[f, k + 1] - poly[f, k])
    return out


def closest_arc(poly: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Arc length (F,) of the point of each polyline (F, K, 3) closest to ``points`` (F, 3)."""
    assert poly.ndim == 3 and points.shape == (poly.shape[0], 3)
    a, b = poly[:, :-1], poly[:, 1:]
    ab = b - a
    seg2 = np.sum(ab * ab, axis=2)
    u = np.sum((points[:, None] - a) * ab, axis=2) / np.where(seg2 > 1e-24, seg2, 1.0)
    u = np.clip(u, 0.0, 1.0)
    proj = a + u[..., None] * ab
    dist = np.linalg.norm(proj - points[:, None], axis=2)
    k = np.argmin(dist, axis=1)
    rows = np.arange(len(poly))
    seg = np.sqrt(seg2)
    cum = np.concatenate([np.zeros((len(poly), 1)), np.cumsum(seg, axis=1)], axis=1)
    return cum[rows, k] + u[rows, k] * seg[rows, k]


def to_h36m17(lm: Landmarks) -> tuple[np.ndarray, dict]:
    """The 17 Human3.6M joints (F, 17, 3) from landmarks, plus a dict of the per-clip constants used."""
    L = lm.limbs
    pelvis = (L["l_hip"] + L["r_hip"]) / 2
    poly = np.concatenate([pelvis[:, None], lm.midline, lm.head_centre[:, None]], axis=1)
    total = np.sum(np.linalg.norm(np.diff(poly, axis=1), axis=2), axis=1)
    shoulder_mid = (L["l_shoulder"] + L["r_shoulder"]) / 2
    thorax_frac = float(np.median(closest_arc(poly, shoulder_mid) / total))
    thorax = point_at_arc(poly, thorax_frac * total)
    spine = point_at_arc(poly, SPINE_FRACTION * thorax_frac * total)
    up = unit(lm.head_up)
    if lm.head_forward is not None:
        fwd = lm.head_forward
    else:
        left = unit(L["l_hip"] - L["r_hip"]) + unit(L["l_shoulder"] - L["r_shoulder"])
        fwd = np.cross(left, thorax - pelvis)
    fwd = unit(fwd - np.sum(fwd * up, axis=1, keepdims=True) * up)
    nose = lm.head_centre + NOSE_FORWARD * fwd - NOSE_DOWN * up
    head = lm.head_centre + HEAD_UP * up
    joints = np.stack([pelvis, L["r_hip"], L["r_knee"], L["r_ankle"], L["l_hip"], L["l_knee"], L["l_ankle"],
                       spine, thorax, nose, head, L["l_shoulder"], L["l_elbow"], L["l_wrist"],
                       L["r_shoulder"], L["r_elbow"], L["r_wrist"]], axis=1)
    return joints, {"thorax_fraction": thorax_frac}
