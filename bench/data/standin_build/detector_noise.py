"""A documented 2D detector imitation: the ``det`` source of the stand-in (docs/data-sources.md,
"What this means": noise robustness is one of the orderings the stand-in can check).

Real detections (CPN, Detectron, Stacked Hourglass on Human3.6M) differ from the projected mocap by
temporally correlated jitter that is larger at the extremities, occasional gross errors and
left/right confusions. The model, in pixels of a 1000 x 1000 Human3.6M image (``px_scale`` multiplies
every displacement, e.g. for smaller images):

1. jitter: per joint and image axis an AR(1) process e_t = RHO e_{t-1} + sqrt(1 - RHO^2) s_j xi_t with
   xi ~ N(0, 1), started from its stationary law, so its std is s_j = SIGMA_PX * JOINT_SCALE[j]
   and its lag-1 autocorrelation RHO (correlation time about 1 / (1 - RHO) frames);
2. outliers: for each joint, events start with probability OUTLIER_RATE * JOINT_SCALE[j] per frame,
   last OUTLIER_FRAMES (uniform, inclusive) frames and move the joint by a fixed vector of random
   direction and length uniform in OUTLIER_PX;
3. left/right swaps: events start with probability SWAP_RATE per frame, last SWAP_FRAMES frames and
   exchange the keypoints of one left/right limb pair drawn from SWAP_GROUPS (whole legs, lower legs,
   whole arms, forearms);
4. the result is clipped to the image.

Every random draw comes from numpy's PCG64 seeded by the SHA-256 of (source tag, subject, action,
camera), so the same sequence always gets the same noise.
"""
from __future__ import annotations

import numpy as np

RHO = 0.8
SIGMA_PX = 2.5
# H36M-17 order: Hip RHip RKnee RFoot LHip LKnee LFoot Spine Thorax Nose Head LSho LElb LWri RSho RElb RWri
JOINT_SCALE_H36M = np.array([1.0, 1.2, 1.3, 1.6, 1.2, 1.3, 1.6, 0.9, 0.8, 0.8, 0.9,
                             0.9, 1.4, 2.0, 0.9, 1.4, 2.0])
OUTLIER_RATE = 0.001
OUTLIER_FRAMES = (3, 8)
OUTLIER_PX = (15.0, 50.0)
SWAP_RATE = 0.002
SWAP_FRAMES = (2, 6)
SWAP_GROUPS_H36M = (((1, 2, 3), (4, 5, 6)), ((2, 3), (5, 6)), ((14, 15, 16), (11, 12, 13)), ((15, 16), (12, 13)))


def ar1_jitter(rng: np.random.Generator, n_frames: int, scale: np.ndarray, rho: float = RHO) -> np.ndarray:
    """Stationary AR(1) noise (F, J, 2) with per-joint std ``scale`` (J,) and lag-1 correlation ``rho``."""
    assert scale.ndim == 1
    xi = rng.standard_normal((n_frames, len(scale), 2))
    e = np.empty_like(xi)
    e[0] = xi[0]
    k = np.sqrt(1 - rho * rho)
    for t in range(1, n_frames):
        e[t] = rho * e[t - 1] + k * xi[t]
    return e * scale[None, :, None]


def _events(rng: np.random.Generator, n_frames: int, rate: float, length: tuple[int, int]) -> list[tuple[int, int]]:
    """Start/stop frames of events starting with probability ``rate`` per frame."""
    starts = np.flatnonzero(rng.random(n_frames) < rate)
    lens = rng.integers(length[0], length[1] + 1, size=len(starts))
    return [(int(s), int(min(n_frames, s + n))) for s, n in zip(starts, lens)]


def detector_noise(kp: np.ndarray, seed: int, res: tuple[int, int], joint_scale: np.ndarray = JOINT_SCALE_H36M,
                   swap_groups=SWAP_GROUPS_H36M, px_scale: float = 1.0) -> tuple[np.ndarray, dict]:
    """Noisy copy of clean keypoints ``kp`` (F, J, 2) in pixels, plus event counts.

    Args:
        kp: clean 2D keypoints in pixels.
        seed: the sequence's seed (see the module docstring).
        res: (width, height) of the image, for the final clipping.
    """
    assert kp.ndim == 3 and kp.shape[2] == 2 and kp.shape[1] == len(joint_scale), kp.shape
    rng = np.random.default_rng(seed)
    n, n_j = kp.shape[:2]
    out = kp.astype(np.float64) + ar1_jitter(rng, n, SIGMA_PX * px_scale * joint_scale)
    n_out = 0
    for j in range(n_j):
        for a, b in _events(rng, n, OUTLIER_RATE * joint_scale[j], OUTLIER_FRAMES):
            ang = rng.uniform(0, 2 * np.pi)
            mag = rng.uniform(*OUTLIER_PX) * px_scale
            out[a:b, j] += mag * np.array([np.cos(ang), np.sin(ang)])
            n_out += 1
    swaps = _events(rng, n, SWAP_RATE, SWAP_FRAMES)
    for a, b in swaps:
        right, left = swap_groups[int(rng.integers(len(swap_groups)))]
        r, l_ = list(right), list(left)
        seg = out[a:b].copy()
        out[a:b, r], out[a:b, l_] = seg[:, l_], seg[:, r]
    out[..., 0] = np.clip(out[..., 0], 0, res[0] - 1)
    out[..., 1] = np.clip(out[..., 1], 0, res[1] - 1)
    return out, {"outliers": n_out, "swaps": len(swaps)}


def describe() -> dict:
    """The model's constants, for PROVENANCE.md."""
    return {"rho": RHO, "sigma_px": SIGMA_PX, "joint_scale_h36m": JOINT_SCALE_H36M.tolist(),
            "outlier_rate_per_frame": OUTLIER_RATE, "outlier_frames": OUTLIER_FRAMES,
            "outlier_px": OUTLIER_PX, "swap_rate_per_frame": SWAP_RATE, "swap_frames": SWAP_FRAMES}
