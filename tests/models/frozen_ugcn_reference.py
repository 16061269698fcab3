"""FROZEN COPY of the pre-optimisation UGCN implementation: ``SpatialGraphConv`` and ``STGCNBlock`` from
bench/models/stgcn.py, ``upsample`` and ``UGCN`` from bench/models/ugcn.py, as of commit 15dbd84 (unchanged
up to a8d0efe), verbatim except that the ``@register_model`` decorator and the registry entry are left out.

Kept only as the reference for tests/models/test_ugcn_equivalence.py (the optimised model must compute the
same outputs and gradients from the same weights). Do not edit it, and do not import it from the package.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bench.errors import ConfigError
from bench.models.stgcn import spatial_configuration_partition
from bench.skeleton import graph_skeleton

LEVELS = 5  # resolution levels of the U: 96, 48, 24, 12, 6 frames
MERGES = ("sum", "concat", "none")


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        if v != self.adjacency.shape[1]:
            raise ValueError(f"SpatialGraphConv: input has {v} joints, the graph {self.adjacency.shape[1]}")
        a = self.adjacency if self.importance is None else self.adjacency * self.importance
        y = self.conv(x).view(n, self.k, self.out_channels, t, v)
        return torch.einsum("nkctv,kvw->nctw", y, a)


class STGCNBlock(nn.Module):
    """ST-GCN block: graph conv -> BN -> ReLU -> temporal conv (kernel k, stride s, zero 'same' padding)
    -> BN -> dropout, plus a residual (identity, or 1x1 conv with stride s + BN when the shape changes;
    none for the first block), then ReLU (ST-GCN's block; UGCN section 3.2 "st-gcn blocks")."""

    def __init__(self, in_channels: int, out_channels: int, adjacency: np.ndarray, kernel: int = 5,
                 stride: int = 1, dropout: float = 0.5, residual: bool = True, edge_importance: bool = False):
        super().__init__()
        self.gcn = SpatialGraphConv(in_channels, out_channels, adjacency, edge_importance)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (kernel, 1), (stride, 1), ((kernel - 1) // 2, 0)),
            nn.BatchNorm2d(out_channels), nn.Dropout(dropout, inplace=True))
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, (stride, 1)),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.tcn(self.gcn(x))
        if self.residual is not None:
            y = y + self.residual(x)
        return torch.relu(y)


def upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest upsampling in time (Eq. 9): f_up(t) = f_in(floor(t / factor)); x is (N, C, T, V)."""
    return x if factor == 1 else x.repeat_interleave(factor, dim=2)


class UGCN(nn.Module):
    """UGCN; see the module docstring and :func:`ugcn` for the options."""

    output_mode = "seq2seq"
    causal_shift = 0
    in_features = 2
    eval_step = 5  # "sliding window algorithm with the step length of 5"

    def __init__(self, num_joints_in: int = 17, num_joints_out: int = 17, frames: int = 96,
                 down_up_pairs: int = 4, widths=(64, 128, 256, 256, 256), merge: str = "sum",
                 merge_channels: int = 64, spatial_graph: bool = True, temporal_kernel: int = 5,
                 dropout: float = 0.5, max_hop: int = 1, edge_importance: bool = False, input_bn: bool = True):
        super().__init__()
        channels = list(widths) if isinstance(widths, (list, tuple)) else widths
        skeleton = graph_skeleton(num_joints_in, "ugcn")
        if num_joints_out != num_joints_in:
            raise ConfigError("ugcn: graph convolutions keep the joint set; num_joints_out must equal num_joints_in")
        if not isinstance(down_up_pairs, int) or isinstance(down_up_pairs, bool) or not 0 <= down_up_pairs <= 4:
            raise ConfigError(f"ugcn: down_up_pairs must be an integer 0..4 (Table 3: 0, 1, 2, 4), "
                              f"got {down_up_pairs!r}")
        if (not isinstance(channels, list) or len(channels) != LEVELS
                or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in channels)):
            raise ConfigError(f"ugcn: widths must be {LEVELS} positive integers, one per resolution level "
                              f"(96, 48, 24, 12, 6 frames), got {channels!r}")
        if not isinstance(frames, int) or isinstance(frames, bool) or frames < 2:
            raise ConfigError(f"ugcn: frames must be an integer >= 2, got {frames!r}")
        if frames % (2 ** down_up_pairs):
            raise ConfigError(f"ugcn: frames={frames} must be a multiple of 2^down_up_pairs = "
                              f"{2 ** down_up_pairs} (each downsampling halves the length and the "
                              f"upsampling must restore it)")
        if merge not in MERGES:
            raise ConfigError(f"ugcn: unknown merge {merge!r}; choose from {', '.join(MERGES)}")
        if not isinstance(merge_channels, int) or isinstance(merge_channels, bool) or merge_channels < 1:
            raise ConfigError(f"ugcn: merge_channels must be a positive integer, got {merge_channels!r}")
        if not isinstance(temporal_kernel, int) or temporal_kernel < 1 or temporal_kernel % 2 == 0:
            raise ConfigError(f"ugcn: temporal_kernel must be an odd positive integer, got {temporal_kernel!r}")
        if not 0 <= dropout < 1:
            raise ConfigError(f"ugcn: dropout must be in [0, 1), got {dropout!r}")
        if not isinstance(max_hop, int) or max_hop < 1:
            raise ConfigError(f"ugcn: max_hop must be an integer >= 1, got {max_hop!r}")
        v = num_joints_in
        self.num_joints_in = self.num_joints_out = v
        self.receptive_field = self.train_out_frames = frames
        self.pairs, self.merge = down_up_pairs, merge
        adjacency = (spatial_configuration_partition(skeleton, max_hop) if spatial_graph
                     else np.eye(v, dtype=np.float32)[None])

        def block(c_in, c_out, stride=1, residual=True):
            return STGCNBlock(c_in, c_out, adjacency, temporal_kernel, stride, dropout, residual, edge_importance)

        self.input_bn = nn.BatchNorm1d(2 * v) if input_bn else None
        # Downsampling stage: block 1 at level 0, then (strided block, block) per level 1..4.
        down = [block(2, channels[0], residual=False)]
        for level in range(1, LEVELS):
            down.append(block(channels[level - 1], channels[level], 2 if level <= down_up_pairs else 1))
            down.append(block(channels[level], channels[level]))
        self.down = nn.ModuleList(down)
        # Upsampling stage: block i goes from level 5-i to level 4-i.
        self.up = nn.ModuleList(block(channels[level + 1], channels[level]) for level in reversed(range(LEVELS - 1)))
        if merge == "sum":
            self.merge_proj = nn.ModuleList(
                nn.Sequential(nn.Conv2d(channels[level], merge_channels, 1), nn.BatchNorm2d(merge_channels))
                for level in reversed(range(LEVELS - 1)))
            head_in = merge_channels
        elif merge == "concat":
            self.merge_proj = nn.Sequential(nn.Conv2d(sum(channels[:LEVELS - 1]), merge_channels, 1),
                                            nn.BatchNorm2d(merge_channels))
            head_in = merge_channels
        else:
            self.merge_proj = None
            head_in = channels[0]
        # st-gcn regressor: graph conv -> BN -> ReLU -> temporal conv to xyz (no BN / ReLU at the end)
        self.regressor_gcn = SpatialGraphConv(head_in, head_in, adjacency, edge_importance)
        self.regressor_bn = nn.BatchNorm2d(head_in)
        self.regressor_tcn = nn.Conv2d(head_in, 3, (temporal_kernel, 1), padding=((temporal_kernel - 1) // 2, 0))

    def _factor(self, level: int) -> int:
        """Temporal downsampling factor of resolution ``level``."""
        return 2 ** min(level, self.pairs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[2] != self.num_joints_in or x.shape[3] != 2:
            raise ValueError(f"ugcn: expected input (B, T, {self.num_joints_in}, 2), got {tuple(x.shape)}")
        n, t, v, c = x.shape
        if t % self._factor(LEVELS - 1):
            raise ValueError(f"ugcn: input length {t} must be a multiple of {self._factor(LEVELS - 1)}")
        if self.input_bn is not None:  # ST-GCN's data BN over the (joint, coordinate) channels
            h = self.input_bn(x.permute(0, 2, 3, 1).reshape(n, v * c, t)).view(n, v, c, t).permute(0, 2, 3, 1)
        else:
            h = x.permute(0, 3, 1, 2)
        h = h.contiguous()  # (N, C, T, V)
        skips = []
        for i, blk in enumerate(self.down):
            h = blk(h)
            if i % 2 == 0:
                skips.append(h)  # levels 0..4 = outputs of blocks 1, 3, 5, 7, 9
        ups = []
        for i, blk in enumerate(self.up):
            level = LEVELS - 2 - i
            h = upsample(blk(h), self._factor(level + 1) // self._factor(level)) + skips[level]
            ups.append((level, h))
        if self.merge == "sum":
            h = sum(upsample(proj(f), self._factor(level)) for proj, (level, f) in zip(self.merge_proj, ups))
            h = torch.relu(h)
        elif self.merge == "concat":
            h = torch.relu(self.merge_proj(torch.cat([upsample(f, self._factor(level)) for level, f in ups], 1)))
        h = torch.relu(self.regressor_bn(self.regressor_gcn(h)))
        return self.regressor_tcn(h).permute(0, 2, 3, 1).contiguous()  # (N, T, V, 3)
