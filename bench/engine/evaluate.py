"""Evaluation over whole test sequences (model-specs.md sections 5.4-5.5).

Convolutional models: each test sequence is edge-padded and run through the model at once (in chunks of
``eval.batch_frames`` output frames, which is exact for convolutional models). Sequence-to-sequence
models (``output_mode == 'seq2seq'``, T = ``receptive_field`` frames in and out): a T-frame window
slides over the sequence with stride ``min(eval.window_step, T)`` (the last window is aligned with the end),
windows are run ``eval.batch_frames // T`` at a time (memory stays flat in the sequence length: only one
batch of windows and the per-frame sums exist at once) and the predictions of each frame are averaged
(``eval.window_merge``: over every window, or over the window(s) whose centre is nearest). With
test-time flip the mirrored copy is run in the same batch, un-mirrored and averaged. Errors are computed
per frame in millimetres on root-relative poses and aggregated action-wise (frame-weighted within an action
group, unweighted across groups) or frame-wise.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from bench import metrics as M
from bench.contract import ModelContract, model_contract
from bench.data.dataset import Sequence
from bench.engine.device import model_device
from bench.engine.windows import flip_context, flip_pose, pad_sequence, root_relative, sequence_context
from bench.skeleton import Skeleton
from bench.typed_config import typed

# Per-frame metric functions on (N, J, 3) arrays in millimetres -> (N,) values.
PER_FRAME = {
    "mpjpe": M.mpjpe_per_frame,
    "p_mpjpe": M.p_mpjpe_per_frame,
    "n_mpjpe": M.n_mpjpe_per_frame,
    "pck": M.pck_per_frame,
    "auc": M.auc_per_frame,
}


def _accumulate(pred: np.ndarray, target: np.ndarray, seq: Sequence, ec, metrics, per_frame: dict,
                groups: list, vel: list, vel_groups: list) -> None:
    """Append one sequence's per-frame errors (mm) and group labels: the one accumulation behind
    :func:`evaluate_sequences` and the reference levels, so both aggregate the same way."""
    for m in per_frame:
        per_frame[m].append(PER_FRAME[m](pred, target))
    group = group_name(seq, ec.group_by)
    groups.append(np.full(len(seq), group, dtype=object))
    if "mpjve" in metrics and len(seq) > 1:
        vel.append(M.mpjve_per_frame(pred, target))
        vel_groups.append(np.full(len(seq) - 1, group, dtype=object))


def window_starts(n: int, t: int, step: int) -> np.ndarray:
    """Starts of T-frame windows over n >= T frames every ``step`` frames, plus one aligned with the end."""
    starts = np.arange(0, n - t + 1, step)
    if starts[-1] != n - t:
        starts = np.append(starts, n - t)
    return starts


def seq2seq_step(contract: ModelContract, step: int | None = None) -> int:
    """Frames between test windows of a sequence-to-sequence model (its ``contract``): ``step``, else the
    model's ``eval_step``; at most T, since a longer stride would leave frames without any prediction."""
    return min(step or contract.eval_step, contract.receptive_field)


MERGES = ("mean", "centre")


def window_weights(starts: np.ndarray, frames: int, t: int, merge: str, per_batch: int):
    """Weight of each (window, position) prediction in a frame's merged prediction, one batch of windows
    at a time: 1 everywhere (``mean``), or 1 only in the window(s) whose centre is nearest to the frame
    (``centre``; ties averaged). Yields (batch of starts, (len, t) weights)."""
    offset = np.abs(np.arange(t) - (t - 1) / 2)
    nearest = None
    if merge == "centre":
        nearest = np.full(frames, np.inf)
        for b in range(0, len(starts), per_batch):
            idx = starts[b:b + per_batch, None] + np.arange(t)
            np.minimum.at(nearest, idx.reshape(-1), np.broadcast_to(offset, idx.shape).reshape(-1))
    for b in range(0, len(starts), per_batch):
        chunk = starts[b:b + per_batch]
        if nearest is None:
            yield chunk, np.ones((len(chunk), t), dtype=np.float32)
        else:
            idx = chunk[:, None] + np.arange(t)
            yield chunk, (offset[None] == nearest[idx]).astype(np.float32)


@torch.inference_mode()
def predict_seq2seq(model: nn.Module, keypoints: np.ndarray, flip: bool, kps_perm, joint_perm,
                    batch_frames: int = 4096, step: int | None = None,
                    context: np.ndarray | None = None, merge: str = "mean") -> np.ndarray:
    """Sliding-window prediction of a sequence-to-sequence model; see the module docstring."""
    if merge not in MERGES:
        raise ValueError(f"unknown window merge {merge!r}; choose from {', '.join(MERGES)}")
    contract = model_contract(model)
    t = contract.receptive_field
    step = seq2seq_step(contract, step)
    n = len(keypoints)
    kp = np.pad(keypoints, ((0, max(t - n, 0)), (0, 0), (0, 0)), mode="edge")  # short video: edge-pad
    x = torch.from_numpy(kp.astype(np.float32))[None]
    ctx = None
    if context is not None:
        ctx = torch.from_numpy(np.pad(context, ((0, max(t - n, 0)), (0, 0)), mode="edge"))[None]
    if flip:
        x = torch.cat([x, flip_pose(x, kps_perm)])
        ctx = None if ctx is None else torch.cat([ctx, flip_context(ctx)])
    copies, frames = x.shape[0], x.shape[1]
    total = torch.zeros(copies, frames, contract.num_joints_out, 3)
    count = torch.zeros(frames)
    per_batch = max(1, batch_frames // t)
    ar = torch.arange(t)
    dev = model_device(model)  # windows are cut in host memory; the merge sums stay there too
    for chunk, w in window_weights(window_starts(frames, t, step), frames, t, merge, per_batch):
        idx = (torch.from_numpy(chunk)[:, None] + ar).reshape(-1)
        w = torch.from_numpy(w).reshape(-1)
        xw = x[:, idx].reshape(copies * len(idx) // t, t, *x.shape[2:]).to(dev)
        if ctx is None:
            y = model(xw)
        else:
            y = model(xw, ctx[:, idx].reshape(copies * len(idx) // t, t, -1).to(dev))
        y = y.cpu().reshape(copies, len(idx), *y.shape[2:]) * w[None, :, None, None]
        total.index_add_(1, idx, y)
        count.index_add_(0, idx, w)
    y = total / count[None, :, None, None]
    if flip:
        y = (y[0] + flip_pose(y[1], joint_perm)) / 2
    else:
        y = y[0]
    return y[:n].numpy()


@torch.inference_mode()
def predict_sequence(model: nn.Module, keypoints: np.ndarray, flip: bool, kps_perm: np.ndarray,
                     joint_perm: np.ndarray, batch_frames: int = 4096, step: int | None = None,
                     context: np.ndarray | None = None, merge: str = "mean") -> np.ndarray:
    """(F, J_in, 2) normalised keypoints -> (F, J_out, 3) root-relative predictions (metres).

    ``step`` and ``merge`` (seq2seq models only): stride of the test windows and how the overlapping
    predictions of a frame are merged; ``context``: (F, 5) per-frame camera context for models with
    ``needs_context``."""
    assert keypoints.ndim == 3 and keypoints.shape[-1] == 2, keypoints.shape
    contract = model_contract(model)
    if contract.seq2seq:
        return predict_seq2seq(model, keypoints, flip, kps_perm, joint_perm, batch_frames, step, context, merge)
    rf, shift = contract.receptive_field, contract.causal_shift
    n = len(keypoints)
    x = torch.from_numpy(pad_sequence(keypoints, rf, shift).astype(np.float32))[None]
    if flip:
        x = torch.cat([x, flip_pose(x, kps_perm)])
    c = None
    if context is not None:
        c = torch.from_numpy(pad_sequence(context[:, None], rf, shift)[:, 0])[None]
        c = torch.cat([c, flip_context(c)]) if flip else c
    outs = []
    dev = model_device(model)
    for s in range(0, n, batch_frames):
        e = min(n, s + batch_frames)
        xs = x[:, s:e + rf - 1].to(dev)
        if c is None:
            outs.append(model(xs).cpu())
        else:
            outs.append(model(xs, c[:, s:e + rf - 1].to(dev)).cpu())
    y = torch.cat(outs, dim=1)
    assert y.shape[1] == n, f"model returned {y.shape[1]} frames for {n}"
    if flip:
        y = (y[0] + flip_pose(y[1], joint_perm)) / 2
    else:
        y = y[0]
    return y.numpy()


def window_latency_ms(model: nn.Module, seq: Sequence, step: int | None = None, warmup: int = 3,
                      repeats: int = 20) -> float:
    """Online latency per frame: the median time of one window of ``seq``'s first frames at batch 1 (no
    flip), divided by the frames it contributes as evaluated: 1 for a convolutional model (its strided
    single-frame path where it has one), the window step for a sequence-to-sequence model (DG-Net: a
    window every frame, so the whole window's time per frame). The other reading of "time per frame",
    whole test sequences in batches of windows, is ``ms_per_frame``."""
    from bench.timing import time_calls

    contract = model_contract(model)
    rf = contract.receptive_field
    per_window = seq2seq_step(contract, step) if contract.seq2seq else 1
    kp = np.pad(seq.keypoints[:rf], ((0, max(rf - len(seq), 0)), (0, 0), (0, 0)), mode="edge")
    dev = model_device(model)
    x = torch.from_numpy(kp.astype(np.float32))[None].to(dev)
    args = (x,)
    if contract.needs_context:
        ctx = np.pad(sequence_context(seq)[:rf], ((0, max(rf - len(seq), 0)), (0, 0)), mode="edge")
        args = (x, torch.from_numpy(ctx)[None].to(dev))
    with torch.inference_mode():
        timing = time_calls(lambda: model(*args), warmup, repeats, dev)
    return timing["median"] / per_window


def group_name(seq: Sequence, group_by: str) -> str:
    """The breakdown group of a sequence: its action group, or 'action subject' ('Walking S1')."""
    if group_by == "subject_action":
        return f"{seq.group} {seq.subject.split('/')[-1]}"
    return seq.group


def add_pixel_noise(keypoints: np.ndarray, sigma_px: float, res_w: int, rng: np.random.RandomState):
    """Gaussian noise of ``sigma_px`` pixels, added in pixel units before normalisation
    (1 pixel = 2 / res_w normalised units)."""
    return (keypoints + rng.normal(0.0, sigma_px, keypoints.shape) * 2.0 / res_w).astype(np.float32)


def evaluate_sequences(model: nn.Module, sequences: list[Sequence], cfg,
                       keypoints_layout: Skeleton, skeleton: Skeleton, metrics=None,
                       variant: dict | None = None) -> dict:
    """Metrics (mm; PCK/AUC in %) over ``sequences`` with the evaluation settings of ``cfg``
    (``variant`` = dotted eval overrides already merged into cfg by the caller, kept for logging).

    Returns {metric: value, ..., "per_action": {group: {metric: value}}, "frames": n}.
    """
    ec = typed(cfg).eval
    metrics = list(metrics or ec.metrics)
    was_training = model.training
    model.eval()
    sigma = float(ec.noise_sigma)
    # One generator per sigma and seed: the same noise for every model tested at that sigma.
    rng = np.random.RandomState([ec.noise_seed, int(round(sigma * 1000))])
    kps_perm, joint_perm = keypoints_layout.flip_permutation(), skeleton.flip_permutation()
    per_frame: dict[str, list[np.ndarray]] = {m: [] for m in metrics if m != "mpjve"}
    vel, groups, vel_groups = [], [], []
    needs_context = model_contract(model).needs_context
    forward_s = 0.0
    for seq in sequences:
        kp = seq.keypoints
        if sigma > 0:
            kp = add_pixel_noise(kp, sigma, seq.res_w, rng)
        ctx = sequence_context(seq) if needs_context else None
        t0 = time.perf_counter()
        pred = predict_sequence(model, kp, ec.flip, kps_perm, joint_perm, ec.batch_frames,
                                ec.window_step, ctx, ec.window_merge) * 1000
        forward_s += time.perf_counter() - t0
        target = root_relative(seq.positions) * 1000
        _accumulate(pred, target, seq, ec, metrics, per_frame, groups, vel, vel_groups)
    out: dict = {"per_action": {}, "frames": int(sum(len(s) for s in sequences))}
    if ec.latency:
        out["latency_ms_per_frame"] = window_latency_ms(model, sequences[0], ec.window_step)
    if was_training:
        model.train()
    if ec.latency:
        # Wall time of the forward passes only (flip copy and window overlap included, as evaluated).
        out["ms_per_frame"] = 1000 * forward_s / max(out["frames"], 1)

    values = {m: np.concatenate(v) for m, v in per_frame.items()}
    if vel:
        values["mpjve"] = np.concatenate(vel)
    out.update(aggregate(values, np.concatenate(groups), np.concatenate(vel_groups) if vel else None,
                         ec.averaging, out["per_action"]))
    return out


def aggregate(values: dict[str, np.ndarray], groups: np.ndarray, vel_groups: np.ndarray | None,
              averaging: str, per_action: dict | None = None) -> dict[str, float]:
    """Per-frame values (``values[m]``: one per test frame, MPJVE one per frame step) -> one number per
    metric: the mean per group (``groups``, ``vel_groups`` for MPJVE), then unweighted over groups
    (``averaging == 'action'``) or the mean over every frame (``'frame'``). The per-group means are
    written into ``per_action`` ({group: {metric: value}}) when given."""
    out = {}
    for m, v in values.items():
        g = vel_groups if m == "mpjve" else groups
        per_group = {k: float(v[g == k].mean()) for k in sorted(set(g))}
        if per_action is not None:
            for k, val in per_group.items():
                per_action.setdefault(k, {})[m] = val
        if averaging == "action":
            out[m] = float(np.mean(list(per_group.values())))
        else:
            out[m] = float(v.mean())
    return out


def mean_training_pose(train_seqs: list[Sequence]) -> np.ndarray:
    """(J, 3) mean of the training sequences' root-relative 3D poses (metres) over every training frame,
    as the model sees them as targets (root-relative, camera frame; the mirrored copies of flip
    augmentation and train.window_stride are not applied: every frame once)."""
    total, n = None, 0
    for seq in train_seqs:
        rel = root_relative(seq.positions).astype(np.float64)
        total = rel.sum(0) if total is None else total + rel.sum(0)
        n += len(rel)
    return total / n


def reference_levels(train_seqs: list[Sequence], test_seqs: list[Sequence], cfg,
                     metrics=None) -> dict[str, dict[str, float]]:
    """The error of two constant predictions on the test frames, with the same per-frame metrics, action
    groups and averaging as :func:`evaluate_sequences` (so they compare with a cell's numbers):

    * ``mean_pose``: the training mean pose (:func:`mean_training_pose`) for every test frame;
    * ``zero_pose``: every joint at the root (all zeros, root-relative).

    Returns {"mean_pose": {metric: value}, "zero_pose": {metric: value}} for the metrics of ``metrics``
    (default ``eval.metrics``). Every metric is defined for a constant prediction: MPJVE is then the
    mean joint speed of the test targets (the prediction does not move); for the zero pose P-MPJPE is the
    spread of each target about its centroid (bench.metrics aligns a pose collapsed to one point to the
    target's centroid) and N-MPJPE equals MPJPE (the least-squares scale of a zero pose is 0). Test-time
    flip and input noise do not apply (the prediction ignores the input). Nothing is skipped today; a
    metric without a per-frame function would be left out.
    """
    ec = typed(cfg).eval
    metrics = [m for m in (metrics or ec.metrics) if m in PER_FRAME or m == "mpjve"]
    constants = {"mean_pose": mean_training_pose(train_seqs) * 1000,
                 "zero_pose": np.zeros((test_seqs[0].positions.shape[1], 3))}
    out = {}
    for name, pose in constants.items():
        per_frame: dict[str, list[np.ndarray]] = {m: [] for m in metrics if m != "mpjve"}
        vel, groups, vel_groups = [], [], []
        for seq in test_seqs:
            target = root_relative(seq.positions) * 1000
            _accumulate(np.broadcast_to(pose, target.shape), target, seq, ec, metrics, per_frame, groups, vel,
                        vel_groups)
        values = {m: np.concatenate(v) for m, v in per_frame.items()}
        if vel:
            values["mpjve"] = np.concatenate(vel)
        out[name] = aggregate(values, np.concatenate(groups), np.concatenate(vel_groups) if vel else None,
                              ec.averaging)
    return out
