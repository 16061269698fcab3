"""Pose-error metrics and their aggregation (model-specs.md sections 5.4 and 7).

Every metric takes a prediction and a target of the same shape ``(N, J, 3)`` (N poses or frames,
J joints) and returns the mean in the input units: metres in give metres out, multiply by 1000 for
millimetres. The thresholded metrics (PCK, AUC) take a ``scale`` that converts the input units to
the units of the thresholds (``scale=1000`` for metre inputs and millimetre thresholds).

* P1  :func:`mpjpe`    mean over frames and joints of ||p - g||_2 (no alignment).
* P2  :func:`p_mpjpe`  MPJPE after a per-frame similarity (Procrustes) alignment of p to g.
* P3  :func:`n_mpjpe`  MPJPE after a per-frame least-squares scale of p to g.
* MPJVE :func:`mpjve`  MPJPE of the first temporal differences along one sequence.
* 3DPCK :func:`pck`    percentage of joints whose error is strictly below a threshold (150 mm).
* AUC  :func:`auc`     mean PCK over the thresholds 0, 5, ..., 150 mm (31 thresholds).

``mpjpe`` and ``n_mpjpe`` also accept torch tensors and then return a differentiable 0-d tensor, so
they serve as training losses. The ``*_per_frame`` variants return one value per frame (``(N,)``);
:func:`aggregate` turns per-frame errors of many sequences into one number with either action-wise
averaging (frame-weighted within an action group, unweighted across groups, as VideoPose3D reports
Human3.6M) or frame-wise averaging (every frame weighs the same), and :func:`per_action` gives the
per-group breakdown.

Root alignment is the caller's business: VideoPose3D evaluates root-relative targets (root = 0)
against raw predictions; 3DHP's PCK is defined on root-relative poses.
"""
from __future__ import annotations

import sys
from typing import Callable, Hashable, Mapping

import numpy as np

from bench.errors import ConfigError

# The 14 joints of the MPI-INF-3DHP per-group breakdown (head-top, neck, shoulders, elbows, wrists,
# hips, knees, ankles; model-specs.md section 7) expressed in the Human3.6M-17 order that the 3dhp
# loader produces: Head(top)=10, Thorax(neck)=8, shoulders 11/14, elbows 12/15, wrists 13/16,
# hips 4/1, knees 5/2, ankles 6/3. Pass as ``joints=`` to :func:`pck` / :func:`auc` for a 14-joint
# score; the default (all 17 joints) is what the lifting papers' Python ports report.
PCK14_JOINTS_H36M = (1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 14, 15, 16)

AGGREGATION_MODES = ("action", "frame")


# ---------------------------------------------------------------------------------------------
# Helpers

def _is_tensor(x) -> bool:
    """True for a torch tensor, without importing torch when the caller never did."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _check_pair(pred, target, name: str, min_ndim: int = 2) -> None:
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"{name}: prediction shape {tuple(pred.shape)} differs from target shape "
                         f"{tuple(target.shape)}")
    if pred.ndim < min_ndim or pred.shape[-1] != 3:
        raise ValueError(f"{name}: expected poses of shape (..., joints, 3), got {tuple(pred.shape)}")


def _as_float_arrays(pred, target, name: str) -> tuple[np.ndarray, np.ndarray]:
    if _is_tensor(pred) or _is_tensor(target):
        raise TypeError(f"{name} works on numpy arrays; call .detach().cpu().numpy() first")
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    _check_pair(pred, target, name)
    return pred, target


def _frames(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reshape (..., J, 3) to (N, J, 3)."""
    j = pred.shape[-2]
    return pred.reshape(-1, j, 3), target.reshape(-1, j, 3)


def joint_errors(pred, target) -> np.ndarray:
    """Euclidean error of every joint, shape ``pred.shape[:-1]`` (numpy)."""
    pred, target = _as_float_arrays(pred, target, "joint_errors")
    return np.linalg.norm(pred - target, axis=-1)


# ---------------------------------------------------------------------------------------------
# P1: MPJPE

def mpjpe_per_frame(pred, target) -> np.ndarray:
    """Protocol 1 per frame: mean over joints of ||p_j - g_j||_2, shape (N,)."""
    pred, target = _as_float_arrays(pred, target, "mpjpe_per_frame")
    pred, target = _frames(pred, target)
    return np.linalg.norm(pred - target, axis=-1).mean(axis=-1)


def mpjpe(pred, target):
    """Protocol 1 (MPJPE): mean over frames and joints of the Euclidean distance ||p - g||_2.

    No alignment is applied (all J joints count, the root included). Numpy arrays give a float;
    torch tensors give a differentiable 0-d tensor (usable as the training loss).
    """
    if _is_tensor(pred) or _is_tensor(target):
        _check_pair(pred, target, "mpjpe")
        return (pred - target).norm(dim=-1).mean()
    return float(mpjpe_per_frame(pred, target).mean())


# ---------------------------------------------------------------------------------------------
# P2: Procrustes-aligned MPJPE

def procrustes_align(pred, target) -> np.ndarray:
    """Align every predicted pose to its target with the best similarity transform (rotation,
    uniform scale, translation), as Protocol 2 prescribes; returns the aligned poses (N, J, 3).

    Per frame: subtract the per-pose means (mu_P, mu_G); divide each centred pose by its Frobenius
    norm; H = G0^T P0; SVD H = U S V^T; R = V U^T. If det R < 0 (a reflection), flip the sign of
    V's last column and of the last singular value and recompute R, so R is a proper rotation.
    Scale a = (sum S) * ||G0|| / ||P0||; translation t = mu_G - a mu_P R; aligned = a P R + t.
    Vectorised over frames with a batched SVD. A pose collapsed to one point aligns to the target's
    centroid.
    """
    pred, target = _as_float_arrays(pred, target, "procrustes_align")
    shape = pred.shape
    pred, target = _frames(pred, target)
    mu_p = pred.mean(axis=1, keepdims=True)
    mu_g = target.mean(axis=1, keepdims=True)
    p0, g0 = pred - mu_p, target - mu_g
    norm_p = np.sqrt(np.sum(p0**2, axis=(1, 2), keepdims=True))
    norm_g = np.sqrt(np.sum(g0**2, axis=(1, 2), keepdims=True))
    p0 = p0 / np.where(norm_p > 0, norm_p, 1.0)
    g0 = g0 / np.where(norm_g > 0, norm_g, 1.0)
    h = np.matmul(np.swapaxes(g0, 1, 2), p0)  # (N, 3, 3)
    u, s, vt = np.linalg.svd(h)
    v = np.swapaxes(vt, 1, 2)
    r = np.matmul(v, np.swapaxes(u, 1, 2))
    # Reflection fix: make det R = +1 by flipping V's last column and the last singular value.
    sign = np.sign(np.linalg.det(r))
    sign = np.where(sign == 0, 1.0, sign)
    v[:, :, -1] *= sign[:, None]
    s[:, -1] *= sign
    r = np.matmul(v, np.swapaxes(u, 1, 2))
    a = np.sum(s, axis=1)[:, None, None] * norm_g / np.where(norm_p > 0, norm_p, 1.0)
    t = mu_g - a * np.matmul(mu_p, r)
    aligned = a * np.matmul(pred, r) + t
    return aligned.reshape(shape)


def p_mpjpe_per_frame(pred, target) -> np.ndarray:
    """Protocol 2 per frame: MPJPE of the Procrustes-aligned prediction (see
    :func:`procrustes_align`), shape (N,)."""
    aligned = procrustes_align(pred, target)
    return mpjpe_per_frame(aligned, target)


def p_mpjpe(pred, target) -> float:
    """Protocol 2 (P-MPJPE): mean over frames of the MPJPE after aligning each predicted pose to its
    target with rotation (reflections excluded), uniform scale and translation (Procrustes)."""
    return float(p_mpjpe_per_frame(pred, target).mean())


# ---------------------------------------------------------------------------------------------
# P3: scale-normalised MPJPE

def _n_scale_numpy(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    num = np.sum(pred * target, axis=(-2, -1), keepdims=True)
    den = np.sum(pred * pred, axis=(-2, -1), keepdims=True)
    return num / np.maximum(den, np.finfo(np.float64).tiny)


def n_mpjpe_per_frame(pred, target) -> np.ndarray:
    """Protocol 3 per frame: s = sum_j <p_j, g_j> / sum_j <p_j, p_j>; MPJPE(s p, g); shape (N,)."""
    pred, target = _as_float_arrays(pred, target, "n_mpjpe_per_frame")
    pred, target = _frames(pred, target)
    return mpjpe_per_frame(_n_scale_numpy(pred, target) * pred, target)


def n_mpjpe(pred, target):
    """Protocol 3 (N-MPJPE): MPJPE after scaling each predicted pose by the least-squares factor
    s = sum_j <p_j, g_j> / sum_j <p_j, p_j> (per frame, no rotation or translation).

    Numpy arrays give a float; torch tensors give a differentiable 0-d tensor. A prediction that is
    exactly zero gets s = 0 (error = |g|) instead of a division by zero.
    """
    if _is_tensor(pred) or _is_tensor(target):
        _check_pair(pred, target, "n_mpjpe")
        num = (pred * target).sum(dim=(-2, -1), keepdim=True)
        den = (pred * pred).sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
        return mpjpe(num / den * pred, target)
    return float(n_mpjpe_per_frame(pred, target).mean())


# ---------------------------------------------------------------------------------------------
# MPJVE

def mpjve_per_frame(pred, target) -> np.ndarray:
    """Velocity error of one sequence per frame step: for t = 0..T-2, the mean over joints of
    ||(p_{t+1} - p_t) - (g_{t+1} - g_t)||; input (T, J, 3), output (T-1,)."""
    pred, target = _as_float_arrays(pred, target, "mpjve_per_frame")
    if pred.ndim != 3:
        raise ValueError(f"mpjve: expected one sequence of shape (frames, joints, 3), got {pred.shape}")
    if len(pred) < 2:
        raise ValueError(f"mpjve: a sequence needs at least 2 frames, got {len(pred)}")
    return mpjpe_per_frame(np.diff(pred, axis=0), np.diff(target, axis=0))


def mpjve(pred, target) -> float:
    """MPJVE: mean over t and j of ||(p_{t+1} - p_t) - (g_{t+1} - g_t)||_2 along one sequence
    (T, J, 3), in input units per frame (VideoPose3D's velocity error)."""
    return float(mpjve_per_frame(pred, target).mean())


# ---------------------------------------------------------------------------------------------
# PCK and AUC (MPI-INF-3DHP, model-specs.md section 7)

def _selected_errors(pred, target, joints, scale: float, name: str) -> np.ndarray:
    pred, target = _as_float_arrays(pred, target, name)
    pred, target = _frames(pred, target)
    err = np.linalg.norm(pred - target, axis=-1) * float(scale)  # (N, J)
    if joints is not None:
        joints = list(joints)
        if not joints or min(joints) < -err.shape[1] or max(joints) >= err.shape[1]:
            raise ValueError(f"{name}: joint subset {joints} is invalid for {err.shape[1]} joints")
        err = err[:, joints]
    return err


def pck_per_frame(pred, target, threshold: float = 150.0, joints=None, scale: float = 1.0) -> np.ndarray:
    """Per-frame PCK in percent, shape (N,); see :func:`pck`."""
    err = _selected_errors(pred, target, joints, scale, "pck")
    return 100.0 * np.mean(err < threshold, axis=1)


def pck(pred, target, threshold: float = 150.0, joints=None, scale: float = 1.0) -> float:
    """3DPCK: percentage of joints whose error is strictly below ``threshold``.

    The error of joint j in frame n is scale * ||p_nj - g_nj||_2 and counts as correct when it is
    < threshold (strict, as every port of the MPI-INF-3DHP evaluation does). ``threshold`` is in
    the units of ``scale * input``: with millimetre inputs use the defaults (150 mm); with metre
    inputs pass either ``threshold=0.15`` or ``scale=1000``. ``joints`` selects a joint subset
    (e.g. :data:`PCK14_JOINTS_H36M`); default all joints. Poses should be root-relative.
    """
    return float(pck_per_frame(pred, target, threshold, joints, scale).mean())


def auc_thresholds(max_threshold: float = 150.0, num_thresholds: int = 31) -> np.ndarray:
    """The evenly spaced thresholds 0 .. max_threshold used by :func:`auc` (0, 5, ..., 150)."""
    if num_thresholds < 2 or max_threshold <= 0:
        raise ValueError(f"auc: need max_threshold > 0 and num_thresholds >= 2, got "
                         f"{max_threshold}, {num_thresholds}")
    return np.linspace(0.0, float(max_threshold), int(num_thresholds))


def auc_per_frame(pred, target, max_threshold: float = 150.0, num_thresholds: int = 31,
                  joints=None, scale: float = 1.0) -> np.ndarray:
    """Per-frame AUC in percent, shape (N,); see :func:`auc`."""
    err = _selected_errors(pred, target, joints, scale, "auc")
    thresholds = auc_thresholds(max_threshold, num_thresholds)
    # (T, N, J) -> PCK per threshold and frame -> mean over thresholds.
    hits = err[None] < thresholds[:, None, None]
    return 100.0 * hits.mean(axis=2).mean(axis=0)


def auc(pred, target, max_threshold: float = 150.0, num_thresholds: int = 31, joints=None,
        scale: float = 1.0) -> float:
    """AUC of the PCK curve: the mean of :func:`pck` (percent) over ``num_thresholds`` evenly
    spaced thresholds from 0 to ``max_threshold`` (default 0, 5, ..., 150 mm: 31 thresholds, the
    MPI-INF-3DHP convention; PCK at 0 is always 0 because the comparison is strict).

    Thresholds are in the units of ``scale * input``: for metre inputs call
    ``auc(pred, target, scale=1000)`` (thresholds stay in millimetres) or
    ``auc(pred, target, max_threshold=0.15)``.
    """
    return float(auc_per_frame(pred, target, max_threshold, num_thresholds, joints, scale).mean())


# ---------------------------------------------------------------------------------------------
# Aggregation over sequences

Groups = Mapping[Hashable, str] | Callable[[Hashable], str]


def _group_of(groups: Groups, key) -> str:
    if callable(groups):
        return groups(key)
    try:
        return groups[key]
    except KeyError:
        raise ConfigError(f"aggregate: sequence {key!r} has no action group; give every key of "
                          f"errors_by_sequence a group") from None


def _sums_by_group(errors_by_sequence: Mapping, groups: Groups) -> dict[str, tuple[float, int]]:
    if not errors_by_sequence:
        raise ConfigError("aggregate: no sequences to aggregate; check the subject/action selection")
    sums: dict[str, list] = {}
    for key, errors in errors_by_sequence.items():
        errors = np.asarray(errors, dtype=np.float64).reshape(-1)
        entry = sums.setdefault(_group_of(groups, key), [0.0, 0])
        entry[0] += float(errors.sum())
        entry[1] += errors.size
    return {g: (s, n) for g, (s, n) in sums.items()}


def per_action(errors_by_sequence: Mapping, groups: Groups) -> dict[str, float]:
    """Per-group breakdown: group -> frame-weighted mean of the per-frame errors of its sequences
    (sorted by group name). Groups without frames map to NaN."""
    sums = _sums_by_group(errors_by_sequence, groups)
    return {g: (s / n if n else float("nan")) for g, (s, n) in sorted(sums.items())}


def aggregate(errors_by_sequence: Mapping, groups: Groups, mode: str = "action") -> float:
    """One number from per-frame errors of many sequences.

    Args:
        errors_by_sequence: sequence key (e.g. (subject, action, camera)) -> per-frame errors (F,),
            e.g. from :func:`mpjpe_per_frame`.
        groups: sequence key -> action group (a mapping or a function); VideoPose3D's group is the
            action name up to the first space ('Walking 1' -> 'Walking').
        mode: ``"action"``: frame-weighted mean within each group, then the unweighted mean over
            groups (VideoPose3D's reported Human3.6M number, model-specs.md 5.4);
            ``"frame"``: every frame of every sequence weighs the same.
    """
    if mode not in AGGREGATION_MODES:
        raise ConfigError(f"unknown averaging mode {mode!r}; use one of: {', '.join(AGGREGATION_MODES)}")
    sums = _sums_by_group(errors_by_sequence, groups)
    if mode == "frame":
        total = sum(n for _, n in sums.values())
        return sum(s for s, _ in sums.values()) / total if total else float("nan")
    means = [s / n for s, n in sums.values() if n]
    return float(np.mean(means)) if means else float("nan")
