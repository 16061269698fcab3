"""Training windows with edge padding, and flip augmentation (model-specs.md section 5.5).

Output frame t of a sequence is predicted from input frames [t - pad - shift, t + pad - shift]
where pad = (receptive_field - 1) // 2 and shift = the model's causal shift (0 for centred models,
pad for causal ones). Frames outside the video are filled by repeating the edge frame.
"""
from __future__ import annotations

import numpy as np
import torch

from bench.data.dataset import Sequence
from bench.errors import ConfigError
from bench.skeleton import Skeleton


def root_relative(positions: np.ndarray) -> np.ndarray:
    """(F, J, 3) camera-frame positions -> joints relative to joint 0, with joint 0 set to 0."""
    assert positions.ndim == 3 and positions.shape[-1] == 3, positions.shape
    return (positions - positions[:, :1]).astype(np.float32)


def pad_sequence(keypoints: np.ndarray, receptive_field: int, causal_shift: int,
                 extra: int = 0) -> np.ndarray:
    """Edge-pad (F, J, 2) keypoints so that every output frame has a full window.

    ``extra`` adds frames on the right for models whose window yields several outputs.
    """
    pad = (receptive_field - 1) // 2
    left, right = pad + causal_shift, pad - causal_shift + extra
    return np.pad(keypoints, ((left, right), (0, 0), (0, 0)), mode="edge")


def flip_pose(x: torch.Tensor, perm: np.ndarray) -> torch.Tensor:
    """Mirror poses (..., J, C): negate x and swap left/right joints."""
    out = x[..., perm, :].clone()
    out[..., 0] *= -1
    return out


def sequence_context(seq: Sequence) -> np.ndarray:
    """(F, 5) per-frame camera context: normalised [fx, fy, cx, cy] and the ground-truth root depth (m)."""
    if seq.intrinsics is None:
        raise ConfigError(f"{seq.subject}/{seq.action} camera {seq.camera}: the model needs camera "
                          f"intrinsics (balanced coordinates) but this dataset provides none")
    f = len(seq)
    intr = np.broadcast_to(np.asarray(seq.intrinsics[:4], dtype=np.float32), (f, 4))
    return np.concatenate([intr, seq.positions[:, :1, 2].astype(np.float32)], axis=1)


def flip_context(ctx: torch.Tensor) -> torch.Tensor:
    """Context of a mirrored input: x -> -x mirrors the principal point, cx -> -cx."""
    out = ctx.clone()
    out[..., 2] *= -1
    return out


class WindowBatcher:
    """Shuffled batches of training windows over a set of sequences.

    Arguments:
        sequences -- the training sequences (windows never cross sequence boundaries)
        receptive_field -- input frames per output frame
        causal_shift -- frames the window is shifted into the past
        out_frames -- consecutive output frames per window (1 for single-frame training)
        flip -- every window also appears mirrored (VideoPose3D's augmentation)
        window_stride -- use every k-th window (a recorded budget shrink)
        step -- frames between window starts. ``None``: one window per block of ``out_frames`` output
            frames (convolutional models). An integer: every ``step``-th start that keeps the window inside
            the sequence (sequence-to-sequence models, ``receptive_field = 1`` and ``out_frames = T``);
            a sequence shorter than ``out_frames`` is edge-padded at its end.
        context -- also yield per-frame camera context (F, 5) = normalised [fx, fy, cx, cy] and the
            ground-truth root depth (models with ``needs_context``; the sequences must carry intrinsics)
    """

    def __init__(self, sequences: list[Sequence], receptive_field: int, causal_shift: int,
                 keypoints_layout: Skeleton, skeleton: Skeleton, batch_size: int,
                 out_frames: int = 1, flip: bool = True, window_stride: int = 1, step: int | None = None,
                 context: bool = False):
        assert sequences, "no training sequences"
        self.rf, self.out_frames = receptive_field, out_frames
        self.batch_size, self.flip = batch_size, flip
        self.kps_perm = keypoints_layout.flip_permutation()
        self.joint_perm = skeleton.flip_permutation()
        inputs, targets, contexts, starts, tstarts = [], [], [], [], []
        in_off = t_off = 0
        for seq in sequences:
            kp_raw, pos = seq.keypoints, seq.positions
            ctx = sequence_context(seq) if context else None
            if step is not None and len(seq) < out_frames:
                extra = out_frames - len(seq)
                kp_raw = np.pad(kp_raw, ((0, extra), (0, 0), (0, 0)), mode="edge")
                pos = np.pad(pos, ((0, extra), (0, 0), (0, 0)), mode="edge")
                ctx = None if ctx is None else np.pad(ctx, ((0, extra), (0, 0)), mode="edge")
            n = len(kp_raw)
            kp = pad_sequence(kp_raw, receptive_field, causal_shift)
            inputs.append(kp)
            targets.append(root_relative(pos))
            if ctx is not None:
                contexts.append(pad_sequence(ctx[:, None], receptive_field, causal_shift)[:, 0])
            if step is None:
                # one window per block of out_frames output frames; a partial last block is shifted
                # back so it stays inside the sequence
                first = np.arange(0, n, out_frames)
                first = np.minimum(first, max(n - out_frames, 0))
            else:
                first = np.arange(0, n - out_frames + 1, step)
            starts.append(in_off + first)
            tstarts.append(t_off + first)
            in_off += len(kp)
            t_off += n
        self.inputs = torch.from_numpy(np.concatenate(inputs).astype(np.float32))
        self.targets = torch.from_numpy(np.concatenate(targets))
        self.contexts = torch.from_numpy(np.concatenate(contexts).astype(np.float32)) if context else None
        self.starts = np.concatenate(starts)[::window_stride]
        self.tstarts = np.concatenate(tstarts)[::window_stride]
        self.in_len = receptive_field + out_frames - 1

    def batch_bounds(self) -> list[tuple[int, int]]:
        """(start, stop) of each batch in an epoch's window order. When every window gives one output
        frame, a last batch of a single window joins the batch before it: BatchNorm cannot normalise one
        value per channel (training would stop with an error), and no other case is changed."""
        n = len(self.starts) * (2 if self.flip else 1)
        bounds = [(b, min(b + self.batch_size, n)) for b in range(0, n, self.batch_size)]
        if len(bounds) > 1 and self.out_frames == 1 and bounds[-1][1] - bounds[-1][0] == 1:
            bounds[-2:] = [(bounds[-2][0], n)]
        return bounds

    def __len__(self) -> int:
        return len(self.batch_bounds())

    @property
    def num_windows(self) -> int:
        return len(self.starts) * (2 if self.flip else 1)

    def batches(self, rng: np.random.RandomState):
        """Yield (inputs (B, T, J, 2), targets (B, out_frames, J, 3)) for one epoch, plus the context
        (B, T, 5) as a third item when built with ``context=True``."""
        n = len(self.starts)
        order = rng.permutation(n * 2 if self.flip else n)
        in_ar = torch.arange(self.in_len)
        out_ar = torch.arange(self.out_frames)
        starts = torch.from_numpy(self.starts)
        tstarts = torch.from_numpy(self.tstarts)
        for lo, hi in self.batch_bounds():
            sel = torch.from_numpy(order[lo:hi])
            flipped = sel >= n
            idx = torch.where(flipped, sel - n, sel)
            x = self.inputs[(starts[idx][:, None] + in_ar).reshape(-1)]
            x = x.view(len(idx), self.in_len, *self.inputs.shape[1:])
            y = self.targets[(tstarts[idx][:, None] + out_ar).reshape(-1)]
            y = y.view(len(idx), self.out_frames, *self.targets.shape[1:])
            if self.flip and bool(flipped.any()):
                x[flipped] = flip_pose(x[flipped], self.kps_perm)
                y[flipped] = flip_pose(y[flipped], self.joint_perm)
            if self.contexts is None:
                yield x, y
                continue
            c = self.contexts[(starts[idx][:, None] + in_ar).reshape(-1)].view(len(idx), self.in_len, -1)
            if self.flip and bool(flipped.any()):
                c[flipped] = flip_context(c[flipped])
            yield x, y, c
