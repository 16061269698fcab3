"""Evaluation over whole test sequences (model-specs.md sections 5.4-5.5).

Each test sequence is edge-padded and run through the model at once (in chunks of
``eval.batch_frames`` output frames, which is exact for convolutional models); with test-time flip
the mirrored copy is run in the same batch, un-mirrored and averaged. Errors are computed per frame
in millimetres on root-relative poses and aggregated action-wise (frame-weighted within an action
group, unweighted across groups) or frame-wise.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bench import metrics as M
from bench.data.dataset import Sequence
from bench.engine.windows import flip_pose, pad_sequence, root_relative
from bench.skeleton import Skeleton

# Per-frame metric functions on (N, J, 3) arrays in millimetres -> (N,) values.
PER_FRAME = {
    "mpjpe": M.mpjpe_per_frame,
    "p_mpjpe": M.p_mpjpe_per_frame,
    "n_mpjpe": M.n_mpjpe_per_frame,
    "pck": M.pck_per_frame,
    "auc": M.auc_per_frame,
}


@torch.inference_mode()
def predict_sequence(model: nn.Module, keypoints: np.ndarray, flip: bool, kps_perm: np.ndarray,
                     joint_perm: np.ndarray, batch_frames: int = 4096) -> np.ndarray:
    """(F, J_in, 2) normalised keypoints -> (F, J_out, 3) root-relative predictions (metres)."""
    assert keypoints.ndim == 3 and keypoints.shape[-1] == 2, keypoints.shape
    rf, shift = model.receptive_field, model.causal_shift
    n = len(keypoints)
    x = torch.from_numpy(pad_sequence(keypoints, rf, shift).astype(np.float32))[None]
    if flip:
        x = torch.cat([x, flip_pose(x, kps_perm)])
    outs = []
    for s in range(0, n, batch_frames):
        e = min(n, s + batch_frames)
        outs.append(model(x[:, s:e + rf - 1]))
    y = torch.cat(outs, dim=1)
    assert y.shape[1] == n, f"model returned {y.shape[1]} frames for {n}"
    if flip:
        y = (y[0] + flip_pose(y[1], joint_perm)) / 2
    else:
        y = y[0]
    return y.numpy()


def add_pixel_noise(keypoints: np.ndarray, sigma_px: float, res_w: int, rng: np.random.RandomState):
    """Gaussian noise of ``sigma_px`` pixels, added in pixel units before normalisation
    (1 pixel = 2 / res_w normalised units)."""
    return (keypoints + rng.normal(0.0, sigma_px, keypoints.shape) * 2.0 / res_w).astype(np.float32)


def evaluate_sequences(model: nn.Module, sequences: list[Sequence], cfg: dict,
                       keypoints_layout: Skeleton, skeleton: Skeleton, metrics=None,
                       variant: dict | None = None) -> dict:
    """Metrics (mm; PCK/AUC in %) over ``sequences`` with the evaluation settings of ``cfg``
    (``variant`` = dotted eval overrides already merged into cfg by the caller, kept for logging).

    Returns {metric: value, ..., "per_action": {group: {metric: value}}, "frames": n}.
    """
    ec = cfg["eval"]
    metrics = list(metrics or ec["metrics"])
    was_training = model.training
    model.eval()
    sigma = float(ec["noise_sigma"])
    # One generator per sigma and seed: the same noise for every model tested at that sigma.
    rng = np.random.RandomState([ec["noise_seed"], int(round(sigma * 1000))])
    kps_perm, joint_perm = keypoints_layout.flip_permutation(), skeleton.flip_permutation()
    per_frame: dict[str, list[np.ndarray]] = {m: [] for m in metrics if m != "mpjve"}
    vel, groups, vel_groups = [], [], []
    for seq in sequences:
        kp = seq.keypoints
        if sigma > 0:
            kp = add_pixel_noise(kp, sigma, seq.res_w, rng)
        pred = predict_sequence(model, kp, ec["flip"], kps_perm, joint_perm, ec["batch_frames"]) * 1000
        target = root_relative(seq.positions) * 1000
        for m in per_frame:
            per_frame[m].append(PER_FRAME[m](pred, target))
        groups.append(np.full(len(seq), seq.group, dtype=object))
        if "mpjve" in metrics and len(seq) > 1:
            vel.append(M.mpjve_per_frame(pred, target))
            vel_groups.append(np.full(len(seq) - 1, seq.group, dtype=object))
    if was_training:
        model.train()
    out: dict = {"per_action": {}, "frames": int(sum(len(s) for s in sequences))}
    all_groups = np.concatenate(groups)
    values = {m: np.concatenate(v) for m, v in per_frame.items()}
    if vel:
        values["mpjve"] = np.concatenate(vel)
    for m, v in values.items():
        g = np.concatenate(vel_groups) if m == "mpjve" else all_groups
        per_group = {k: float(v[g == k].mean()) for k in sorted(set(g))}
        for k, val in per_group.items():
            out["per_action"].setdefault(k, {})[m] = val
        if ec["averaging"] == "action":
            out[m] = float(np.mean(list(per_group.values())))
        else:
            out[m] = float(v.mean())
    return out
