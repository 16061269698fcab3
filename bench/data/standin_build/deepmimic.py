"""DeepMimic motion clips (pybullet 3.2.7 ``pybullet_data/data/motions``): parser, looping, resampling
and quaternion forward kinematics (docs/data-sources.md section 3).

A clip is JSON with ``Loop`` ("wrap" for cyclic clips, "none" otherwise) and ``Frames``; each frame is
[duration, root position (3), root quaternion (w,x,y,z), chest quat, neck quat, right hip quat,
right knee angle, right ankle quat, right shoulder quat, right elbow angle, left hip quat, left knee
angle, left ankle quat, left shoulder quat, left elbow angle] (44 numbers); 1-DoF joints rotate about
their local z axis. Y is up; the character faces +x at rest and its right side is +z.

Rest offsets (metres, parent frame; the humanoid URDF's numbers / 4, as data-sources.md gives them)
are in :data:`OFFSETS`. Resampling to another rate interpolates the root position linearly, every
quaternion by slerp and the 1-DoF angles linearly, as DeepMimic's own player does.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import DataError

# Slices of the 44-number frame.
ROOT_POS = slice(1, 4)
QUATS = {"root": 4, "chest": 8, "neck": 12, "r_hip": 16, "r_ankle": 21, "r_shoulder": 25, "l_hip": 30,
         "l_ankle": 35, "l_shoulder": 39}
ANGLES = {"r_knee": 20, "r_elbow": 29, "l_knee": 34, "l_elbow": 43}
FRAME_LEN = 44
SEAM_WINDOW = 0.25  # seconds blended at each seam of a looped clip

# Rest offsets in the parent's frame (metres, Y up, right = +z).
OFFSETS = {
    "chest": (0.0, 0.236151, 0.0),
    "neck": (0.0, 0.223894, 0.0),
    "head": (0.0, 0.175, 0.0),
    "r_hip": (0.0, 0.0, 0.084887), "l_hip": (0.0, 0.0, -0.084887),
    "knee": (0.0, -0.421546, 0.0),
    "ankle": (0.0, -0.409870, 0.0),
    "r_shoulder": (-0.02405, 0.2435, 0.18311), "l_shoulder": (-0.02405, 0.2435, -0.18311),
    "elbow": (0.0, -0.274788, 0.0),
    "wrist": (0.0, -0.258947, 0.0),
}


@dataclass
class DeepMimicClip:
    """Frames (F, 44) with their start times (F,) in seconds, and the clip's loop mode."""

    frames: np.ndarray
    times: np.ndarray
    loop: str

    @property
    def duration(self) -> float:
        return float(self.times[-1])


def parse_deepmimic_text(text: str, where: str = "<deepmimic>") -> DeepMimicClip:
    """Parse a DeepMimic JSON clip; the last frame's duration is not used (it ends the clip)."""
    try:
        data = json.loads(text)
        frames = np.asarray(data["Frames"], dtype=np.float64)
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"{where}: not a DeepMimic clip ({type(e).__name__}: {e})") from None
    if frames.ndim != 2 or frames.shape[1] != FRAME_LEN or len(frames) < 2:
        raise DataError(f"{where}: expected frames of {FRAME_LEN} numbers, got shape {frames.shape}")
    times = np.concatenate([[0.0], np.cumsum(frames[:-1, 0])])
    if np.any(np.diff(times) <= 0):
        raise DataError(f"{where}: non-positive frame duration")
    loop = str(data.get("Loop", "none")).lower()
    frames = frames.copy()
    for k in QUATS.values():
        frames[:, k:k + 4] /= np.linalg.norm(frames[:, k:k + 4], axis=1, keepdims=True)
    return DeepMimicClip(frames, times, loop)


def load_deepmimic(path: str | Path) -> DeepMimicClip:
    """Read a DeepMimic clip file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise DataError(f"cannot read DeepMimic clip {path}: {e}") from None
    return parse_deepmimic_text(text, str(path))


# ---------------------------------------------------------------------------------------------
# Quaternions (w, x, y, z).

def qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b (rotation b first, then a)."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def qmat(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of unit quaternions (..., 4)."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)


def qslerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between unit quaternions a and b (..., 4) at fractions t (...)."""
    dot = np.sum(a * b, axis=-1)
    b = np.where((dot < 0)[..., None], -b, b)
    dot = np.abs(dot)
    t = t[..., None]
    theta = np.arccos(np.clip(dot, -1.0, 1.0))[..., None]
    sin = np.sin(theta)
    small = sin < 1e-8
    wa = np.where(small, 1 - t, np.sin((1 - t) * theta) / np.where(small, 1, sin))
    wb = np.where(small, t, np.sin(t * theta) / np.where(small, 1, sin))
    out = wa * a + wb * b
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def qaxis(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Quaternions of rotations by ``angle`` (...) about unit ``axis`` (3,)."""
    half = np.asarray(angle)[..., None] / 2
    return np.concatenate([np.cos(half), np.sin(half) * np.asarray(axis)], axis=-1)


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched 3x3 matrix product (einsum: the same summation order on every machine)."""
    return np.einsum("fab,fbc->fac", a, b)


def heading(q: np.ndarray) -> np.ndarray:
    """Heading angle (about +y) of root quaternions: the angle of the rotated +x axis in the x-z plane."""
    fwd = qmat(q)[..., :, 0]
    return np.arctan2(-fwd[..., 2], fwd[..., 0])


# ---------------------------------------------------------------------------------------------

def _conj(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def _blend_into(frames: np.ndarray, times: np.ndarray, target: np.ndarray, window: float) -> np.ndarray:
    """Bend the end of ``frames`` so that its last frame becomes ``target`` (a frame vector).

    Over the last ``window`` seconds a raised-cosine weight w goes from 0 to 1; each quaternion
    channel is pre-multiplied by slerp(identity, delta, w) with delta = target * last^-1, and the root
    position and the 1-DoF angles get w * (target - last).
    """
    out = frames.copy()
    w = np.clip((times - (times[-1] - window)) / window, 0.0, 1.0)
    w = 0.5 - 0.5 * np.cos(np.pi * w)
    last = frames[-1]
    out[:, ROOT_POS] += w[:, None] * (target[ROOT_POS] - last[ROOT_POS])
    for k in ANGLES.values():
        out[:, k] += w * (target[k] - last[k])
    ident = np.array([1.0, 0.0, 0.0, 0.0])
    for k in QUATS.values():
        delta = qmul(target[k:k + 4], _conj(last[k:k + 4]))
        d = qslerp(np.broadcast_to(ident, (len(w), 4)), np.broadcast_to(delta, (len(w), 4)), w)
        out[:, k:k + 4] = qmul(d, out[:, k:k + 4])
    return out


def loop_clip(clip: DeepMimicClip, cycles: int, seam_window: float = SEAM_WINDOW) -> DeepMimicClip:
    """Repeat a cyclic clip ``cycles`` times without seams.

    Each repetition starts where the previous one ended: the rigid horizontal transform (heading
    rotation about +y and x-z translation) that takes the first frame's root to the last frame's is
    applied once more per cycle to root positions and root rotations (DeepMimic adds only the
    translation; carrying the heading too keeps turning clips continuous). The clips' last frame does
    not exactly repeat the first (pose jumps of up to 10x the median joint speed at the seam), so the
    last ``seam_window`` seconds of every repetition but the final one are blended into the next
    repetition's first frame (see :func:`_blend_into`), whose duplicate is then dropped.
    """
    assert cycles >= 1
    if cycles == 1:
        return clip
    r = QUATS["root"]
    f = clip.frames
    d_head = heading(f[-1, r:r + 4]) - heading(f[0, r:r + 4])
    rot_q = qaxis(np.array([0.0, 1.0, 0.0]), d_head)
    rot_m = qmat(rot_q)
    reps = [f.copy()]
    for _ in range(1, cycles):
        cur = reps[-1]
        p0, p1 = cur[0, ROOT_POS].copy(), cur[-1, ROOT_POS].copy()
        nxt = cur.copy()
        moved = np.einsum("ab,fb->fa", rot_m, cur[:, ROOT_POS] - p0) + p1
        moved[:, 1] = cur[:, ROOT_POS][:, 1]  # heights are kept
        nxt[:, ROOT_POS] = moved
        nxt[:, r:r + 4] = qmul(np.broadcast_to(rot_q, (len(cur), 4)), cur[:, r:r + 4])
        reps.append(nxt)
    frames, times = [], []
    period = clip.times[-1]
    for c, rep in enumerate(reps):
        if c < cycles - 1:
            rep = _blend_into(rep, clip.times, reps[c + 1][0], seam_window)[:-1]
            t = clip.times[:-1]
        else:
            t = clip.times
        frames.append(rep)
        times.append(t + c * period)
    return DeepMimicClip(np.concatenate(frames), np.concatenate(times), clip.loop)


def resample_clip(clip: DeepMimicClip, rate: float) -> DeepMimicClip:
    """Frames at ``rate`` Hz from t = 0 to the clip's end (slerp for rotations, linear otherwise)."""
    n = int(np.floor(clip.duration * rate + 1e-9)) + 1
    t = np.arange(n) / rate
    i1 = np.clip(np.searchsorted(clip.times, t, side="right"), 1, len(clip.times) - 1)
    i0 = i1 - 1
    u = np.clip((t - clip.times[i0]) / (clip.times[i1] - clip.times[i0]), 0.0, 1.0)
    a, b = clip.frames[i0], clip.frames[i1]
    out = a + (b - a) * u[:, None]
    for k in QUATS.values():
        out[:, k:k + 4] = qslerp(a[:, k:k + 4], b[:, k:k + 4], u)
    out[:, 0] = 1.0 / rate
    return DeepMimicClip(out, t, clip.loop)


def forward_kinematics(frames: np.ndarray) -> dict[str, np.ndarray]:
    """World positions (F, 3) of the humanoid's joints (Y up) plus the head's world rotation.

    Returns keys pelvis (root), chest, neck, head (head centre), {l,r}_{hip,knee,ankle,shoulder,
    elbow,wrist} and head_rot (F, 3, 3).
    """
    assert frames.ndim == 2 and frames.shape[1] == FRAME_LEN, f"expected (F, 44), got {frames.shape}"
    n = len(frames)
    z_axis = np.array([0.0, 0.0, 1.0])

    def q(name):
        return frames[:, QUATS[name]:QUATS[name] + 4]

    def off(name):
        return np.asarray(OFFSETS[name])

    def child(parent_pos, parent_rot, offset):
        return parent_pos + np.einsum("fab,b->fa", parent_rot, offset)

    out = {}
    root_r = qmat(q("root"))
    out["pelvis"] = frames[:, ROOT_POS].copy()
    chest_r = _mm(root_r, qmat(q("chest")))
    out["chest"] = child(out["pelvis"], root_r, off("chest"))
    neck_r = _mm(chest_r, qmat(q("neck")))
    out["neck"] = child(out["chest"], chest_r, off("neck"))
    out["head"] = child(out["neck"], neck_r, off("head"))
    out["head_rot"] = neck_r
    for side in "rl":
        hip_r = _mm(root_r, qmat(q(f"{side}_hip")))
        out[f"{side}_hip"] = child(out["pelvis"], root_r, off(f"{side}_hip"))
        knee_r = _mm(hip_r, qmat(qaxis(z_axis, frames[:, ANGLES[f"{side}_knee"]])))
        out[f"{side}_knee"] = child(out[f"{side}_hip"], hip_r, off("knee"))
        out[f"{side}_ankle"] = child(out[f"{side}_knee"], knee_r, off("ankle"))
        sh_r = _mm(chest_r, qmat(q(f"{side}_shoulder")))
        out[f"{side}_shoulder"] = child(out["chest"], chest_r, off(f"{side}_shoulder"))
        el_r = _mm(sh_r, qmat(qaxis(z_axis, frames[:, ANGLES[f"{side}_elbow"]])))
        out[f"{side}_elbow"] = child(out[f"{side}_shoulder"], sh_r, off("elbow"))
        out[f"{side}_wrist"] = child(out[f"{side}_elbow"], el_r, off("wrist"))
    assert all(v.shape[0] == n for v in out.values())
    return out
