"""Spatial temporal graph convolution (ST-GCN, Yan et al., AAAI 2018), the basic cell of UGCN.

Spatial graph convolution with the *spatial configuration* partition (ST-GCN section 3.6, Eq. 9): the
neighbours of a joint i within ``max_hop`` bones are split into K = 3 subsets by their distance to the
skeleton's centre (the root joint, the pelvis) compared with i's own: the same distance (the joint
itself for a tree with max_hop 1), closer to the centre (centripetal) and farther (centrifugal). Each
subset has its own 1x1 weights; the aggregation is normalised by the neighbourhood size (A_k D^-1 with D the
degree of the full neighbourhood, self included).

Features are shaped (N, C, T, V) as in ST-GCN, but the blocks keep them in ``torch.channels_last`` memory,
i.e. stored (N, T, V, C): the 1x1 convolutions and the graph aggregation of Eq. 10 are then matrix products
over the last axis with no transposing copy, BatchNorm works on contiguous (rows, C) data and the (k, 1)
temporal convolution runs oneDNN's NHWC kernel. The outputs equal those of the (N, C, T, V)-contiguous
computation up to float rounding (tests/models/test_ugcn_equivalence.py).
"""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.skeleton import Skeleton


def hop_distances(skeleton: Skeleton) -> np.ndarray:
    """(V, V) number of bones between every pair of joints (inf when disconnected)."""
    v = skeleton.num_joints
    dist = np.full((v, v), np.inf)
    np.fill_diagonal(dist, 0)
    for a, b in skeleton.edges():
        dist[a, b] = dist[b, a] = 1
    for k in range(v):  # Floyd-Warshall; V <= 17
        dist = np.minimum(dist, dist[:, k:k + 1] + dist[k:k + 1, :])
    return dist


def spatial_configuration_partition(skeleton: Skeleton, max_hop: int = 1) -> np.ndarray:
    """(3, V, V) normalised adjacency of ST-GCN's spatial-configuration partition.

    Entry [k, j, i] weights the message from joint j to joint i in subset k: 0 = same distance to the
    centre as i, 1 = closer to the centre (centripetal), 2 = farther (centrifugal). Every message is divided
    by the number of joints within ``max_hop`` of its receiver i (self included), so the three subsets
    together average the neighbourhood.
    """
    hop = hop_distances(skeleton)
    centre = skeleton.parents.index(-1)
    near = hop <= max_hop
    degree = near.sum(0)  # neighbourhood size of each receiver i (column)
    a = np.zeros((3, skeleton.num_joints, skeleton.num_joints), dtype=np.float32)
    for j, i in zip(*np.nonzero(near)):
        k = 0 if hop[j, centre] == hop[i, centre] else (1 if hop[j, centre] < hop[i, centre] else 2)
        a[k, j, i] = 1.0 / degree[i]
    return a


class _TrainingBatchNorm(torch.autograd.Function):
    """Training-mode batch norm of x (channels at dim 1) stored channels-last, i.e. as (R, C) rows: the
    batch mean and (biased) variance by two cascade-summed ``mean`` passes over the rows, y = x * scale +
    shift, and aten's batch-norm backward with these statistics. y is a new tensor in x's layout (not a view),
    so that the in-place ReLU, dropout and residual sum after it need no view bookkeeping in autograd."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        c = x.shape[1]
        rows = x.movedim(1, -1).view(-1, c)
        mean = rows.mean(0)
        var = (rows - mean).square_().mean(0)
        invstd = (var + eps).rsqrt_()
        scale = invstd * weight
        shift = torch.addcmul(bias, mean, scale, value=-1)
        y = torch.empty_like(x)
        torch.addcmul(shift, rows, scale, out=y.movedim(1, -1).view(-1, c))
        ctx.save_for_backward(rows, weight, mean, invstd)
        ctx.eps = eps
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    def backward(ctx, grad, _mean, _var):
        rows, weight, mean, invstd = ctx.saved_tensors
        moved = grad.movedim(1, -1)
        gx, gw, gb = torch.ops.aten.native_batch_norm_backward(
            moved.reshape(rows.shape), rows, weight, None, None, mean, invstd, True, ctx.eps,
            list(ctx.needs_input_grad[:3]))
        return (gx.view(moved.shape).movedim(-1, 1) if gx is not None else None), gw, gb, None


class _AccurateBatchNorm:
    """Training-mode forward of BatchNorm for channels-last input (mixed into nn.BatchNorm1d / 2d;
    parameters, buffers, the running-statistics update and eval mode are nn.BatchNorm's).

    Why: torch's channels-last (and 2D) CPU batch-norm kernel accumulates the batch statistics naively in
    float32 per thread; on a (64, 16, 96, 17) batch of mean 5 its mean is off by 2e-5 where the
    (N, C, T, V)-contiguous kernel's is off by 2e-7, enough to move a training-mode UGCN output by 7e-5 m.
    Cascade sums over the rows are as accurate as the contiguous kernel (measured 4e-7) and cost one more
    pass than the fused kernel. Input in another layout goes to nn.BatchNorm.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (not (self.training and self.track_running_stats and self.affine) or x.device.type != "cpu"
                or not x.movedim(1, -1).is_contiguous()):
            return super().forward(x)
        self._check_input_dim(x)
        n = x.numel() // x.shape[1]
        if n < 2:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(x.shape)}")
        self.num_batches_tracked.add_(1)  # as nn.BatchNorm: cumulative average when momentum is None
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        y, mean, var = _TrainingBatchNorm.apply(x, self.weight, self.bias, self.eps)
        with torch.no_grad():  # nn.BatchNorm's update, with the unbiased variance
            self.running_mean.lerp_(mean, factor)
            self.running_var.lerp_(var * (n / (n - 1)), factor)
        return y


class BatchNorm1d(_AccurateBatchNorm, nn.BatchNorm1d):
    """nn.BatchNorm1d whose training statistics are accurate on (rows, C) input (see _AccurateBatchNorm)."""


class BatchNorm2d(_AccurateBatchNorm, nn.BatchNorm2d):
    """nn.BatchNorm2d whose training statistics are accurate on channels_last input (see _AccurateBatchNorm)."""


def pointwise(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for a 1x1 ``nn.Conv2d`` with stride (s, 1), as one matrix product over the channel axis
    of the (N, T, V, C) layout: (N T' V, C_in) @ (C_in, C_out). Returns (N, C_out, T', V) in channels_last
    memory. Not ``conv(x)`` on channels_last input: with torch 2.13 (oneDNN 3.12) its backward corrupted the
    heap at widths 4-8 (valgrind: out-of-bounds writes in ``jit_avx2_1x1_convolution_bwd_weights``). The
    GEMM is up to 25 % slower than oneDNN on these few layers (residual and merge projections)."""
    s = conv.stride[0]
    x = x[:, :, ::s] if s > 1 else x
    return F.linear(x.permute(0, 2, 3, 1), conv.weight.flatten(1), conv.bias).permute(0, 3, 1, 2)


class SpatialGraphConv(nn.Module):
    """ST-GCN spatial graph convolution: f_out(i) = sum_k sum_j A_k[j, i] W_k f_in(j) (ST-GCN Eq. 10).

    ``adjacency`` is (K, V, V); an identity (1, V, V) makes it a per-joint 1x1 convolution (UGCN Table 4,
    "w/o spatial graph"). ``edge_importance`` multiplies A by a learnable mask (ST-GCN's optional edge
    importance weighting; off unless ablated).
    """

    def __init__(self, in_channels: int, out_channels: int, adjacency: np.ndarray, edge_importance: bool = False):
        super().__init__()
        a = torch.as_tensor(adjacency, dtype=torch.float32)
        if a.dim() != 3 or a.shape[1] != a.shape[2]:
            raise ValueError(f"SpatialGraphConv: adjacency must be (K, V, V), got {tuple(a.shape)}")
        self.register_buffer("adjacency", a)
        self.k, self.out_channels = a.shape[0], out_channels
        self.conv = nn.Conv2d(in_channels, out_channels * self.k, kernel_size=1)
        self.importance = nn.Parameter(torch.ones_like(a)) if edge_importance else None
        # A in the layout of the aggregation product (see forward), kept in step with the adjacency buffer
        self.register_buffer("aggregation", self.aggregation_matrix(a), persistent=False)
        self.register_load_state_dict_post_hook(SpatialGraphConv._refresh_aggregation)

    @staticmethod
    def aggregation_matrix(a: torch.Tensor) -> torch.Tensor:
        """(K, V, W) adjacency -> (W, V K) matrix whose column j K + k holds A_k[j, w]."""
        return a.permute(2, 1, 0).reshape(a.shape[2], -1)

    @staticmethod
    def _refresh_aggregation(module: "SpatialGraphConv", _incompatible_keys) -> None:
        with torch.no_grad():
            module.aggregation.copy_(module.aggregation_matrix(module.adjacency))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, T, V) -> (N, C_out, T, V), returned in channels_last memory (any input layout works;
        a channels_last one avoids a copy)."""
        n, _, t, v = x.shape
        if v != self.adjacency.shape[1]:
            raise ValueError(f"SpatialGraphConv: input has {v} joints, the graph {self.adjacency.shape[1]}")
        a = (self.aggregation if self.importance is None
             else self.aggregation_matrix(self.adjacency * self.importance))
        # Eq. 10 as two products over the (N, T, V, C) layout. (1) The 1x1 convolutions W_k of all K
        # subsets at once: (N T V, C_in) @ (C_in, K C_out); output channel k C_out + c as in self.conv.
        y = F.linear(x.permute(0, 2, 3, 1), self.conv.weight.flatten(1))
        # (2) Per frame, (W, V K) @ (V K, C_out): the rows (j, k) of y are the messages W_k f_in(j), and
        # column j K + k of the left factor holds A_k[j, w]. Same multiply-adds as an einsum over (k, v).
        out = torch.matmul(a, y.view(n, t, v * self.k, self.out_channels))  # (N, T, W, C_out)
        # The bias b_k of W_k reaches joint w as (sum_j A_k[j, w]) b_k: added once to the K-times smaller
        # output rather than to every message (in place: out is a fresh tensor no backward reads). A
        # (W, K, C_out) product summed, not a matmul, so that the counted FLOPs stay those of Eq. 10.
        weights = a.view(v, v, self.k).sum(1)  # (W, K)
        out.add_((weights.unsqueeze(-1) * self.conv.bias.view(self.k, self.out_channels)).sum(1))
        return out.permute(0, 3, 1, 2)


@functools.lru_cache(maxsize=None)
def _rand_draws_like_bernoulli() -> bool:
    """Does ``torch.rand(float64) < q`` draw exactly what ``bernoulli_(q)`` draws on the CPU (the same
    mask, the same generator state after)? True for torch 2.13's CPU kernels (one float64 uniform per
    element, in logical order); checked once per process on private generators, so that a torch whose
    kernels differ falls back to ``F.dropout`` instead of silently changing the masks."""
    gens = [torch.Generator().manual_seed(1234) for _ in range(2)]
    a = torch.empty(3, 5, 7, 11).bernoulli_(0.7, generator=gens[0]).bool()
    b = torch.rand(3, 5, 7, 11, dtype=torch.float64, generator=gens[1]) < 0.7
    return torch.equal(a, b) and torch.equal(gens[0].get_state(), gens[1].get_state())


class Dropout(nn.Dropout):
    """``nn.Dropout`` (same masks, same random stream, same values) with the mask drawn faster on the CPU.

    F.dropout on the CPU draws ``bernoulli_(1 - p)``, which takes one float64 uniform per element, serially,
    in the logical (N, C, T, V) order: 15 % of a UGCN training step before this class. ``torch.rand(float64)
    < 1 - p`` draws the same uniforms, in the same order, in about 60 % of the time (measured on 1.7 M
    elements: 11 ms against 18 ms). The mask is drawn on the logical shape, so a channels_last input gets
    the mask an (N, C, T, V)-contiguous one would get. Other devices, and a torch whose draws would differ
    (:func:`_rand_draws_like_bernoulli`), use ``F.dropout``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or x.device.type != "cpu" or not _rand_draws_like_bernoulli():
            return super().forward(x)
        keep = 1 - self.p
        mask = torch.rand(x.shape, dtype=torch.float64) < keep  # drawn in the logical order
        # F.dropout's noise bernoulli(keep) / keep, the quotient rounded to x's dtype as its div_ does,
        # written in x's layout in one pass
        scale = torch.ones((), dtype=x.dtype).div_(keep)  # a 0-dim tensor: the product is in x's dtype
        noise = torch.mul(mask, scale, out=torch.empty_like(x))
        return x.mul_(noise) if self.inplace else x * noise


class STGCNBlock(nn.Module):
    """ST-GCN block: graph conv -> BN -> ReLU -> temporal conv (kernel k, stride s, zero 'same' padding)
    -> BN -> dropout, plus a residual (identity, or 1x1 conv with stride s + BN when the shape changes;
    none for the first block), then ReLU (ST-GCN's block; UGCN section 3.2 "st-gcn blocks")."""

    def __init__(self, in_channels: int, out_channels: int, adjacency: np.ndarray, kernel: int = 5,
                 stride: int = 1, dropout: float = 0.5, residual: bool = True, edge_importance: bool = False):
        super().__init__()
        self.gcn = SpatialGraphConv(in_channels, out_channels, adjacency, edge_importance)
        self.tcn = nn.Sequential(
            BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (kernel, 1), (stride, 1), ((kernel - 1) // 2, 0)),
            BatchNorm2d(out_channels), Dropout(dropout, inplace=True))
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, (stride, 1)),
                                          BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, T, V) -> (N, C_out, T / s, V), in channels_last memory (see the module docstring)."""
        x = x.contiguous(memory_format=torch.channels_last)  # a no-op inside UGCN
        y = self.tcn(self.gcn(x))
        if isinstance(self.residual, nn.Sequential):  # 1x1 conv with stride s, BN
            y = y.add_(self.residual[1](pointwise(self.residual[0], x)))
        elif self.residual is not None:
            y = y.add_(x)  # in place: y is a fresh tensor that no backward reads
        return torch.relu_(y)
