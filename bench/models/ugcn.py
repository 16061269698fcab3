"""UGCN: U-shaped graph convolutional network (Wang et al., "Motion Guided 3D Pose Estimation from
Videos", ECCV 2020, section 3.2 and Fig. 4; model-specs.md 4.1). No official code exists.

Sequence to sequence: T = 96 frames of 2D pose in, the same 96 frames of root-relative 3D out. Three
stages of ST-GCN blocks (temporal kernel 5, dropout 0.5):

* downsampling: 9 blocks, stride 2 on blocks 2, 4, 6, 8 (lengths 96 -> 48 -> 24 -> 12 -> 6); the output of
  blocks 1, 3, 5, 7, 9 is the feature map of resolution level 0..4;
* upsampling: 4 blocks, each followed by x2 nearest upsampling f_up(t) = f_in(floor(t / 2)) (Eq. 9), after
  which the downsampling feature of the same resolution is added (the U's shortcuts);
* merging: the four upsampling outputs (lengths 12, 24, 48, 96) are mapped to a common width by a 1x1
  convolution + BN, upsampled to T and summed ("transformed to the same shape and fused"); an st-gcn
  regressor (graph conv -> BN -> ReLU -> temporal conv to 3 channels) gives the 3D poses.

Table 3's "# Downsample & Upsample" (0, 1, 2, 4) is ``down_up_pairs``: the stride of the first p of
blocks 2/4/6/8 and the upsampling of the last p upsampling blocks are kept, every block stays (the paper
"removes all downsampling and upsampling operations ... and adds them back pair by pair"). Table 4's
"w/o spatial graph" is ``spatial_graph=False`` (the graph convolution becomes a per-joint 1x1
convolution), "w/o merging stage" is ``merge='none'`` (the regressor reads the last upsampling output).

Module contract: ``output_mode = "seq2seq"``, ``receptive_field = frames``; input (B, T, J, 2) with T a
multiple of 2^down_up_pairs gives (B, T, J, 3). The engine slides a T-frame window with step 5 over each
test sequence and averages the predictions of a frame (``eval.window_step``, ``eval.window_merge``).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bench.errors import ConfigError
from bench.models.stgcn import (BatchNorm1d, BatchNorm2d, STGCNBlock, SpatialGraphConv, pointwise,
                                spatial_configuration_partition)
from bench.registry import register_model
from bench.skeleton import graph_skeleton

LEVELS = 5  # resolution levels of the U: 96, 48, 24, 12, 6 frames
MERGES = ("sum", "concat", "none")


def upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest upsampling in time (Eq. 9): f_up(t) = f_in(floor(t / factor)); x is (N, C, T, V).

    Each frame's (V, C) block is repeated in the (N, T, V, C) order, so the result is in channels_last
    memory like the blocks' features (one copy; ``repeat_interleave`` would return (N, C, T, V) memory).
    """
    if factor == 1:
        return x
    n, c, t, v = x.shape
    y = x.permute(0, 2, 3, 1).unsqueeze(2).expand(n, t, factor, v, c)
    return y.reshape(n, t * factor, v, c).permute(0, 3, 1, 2)


def upsample_add(x: torch.Tensor, other: torch.Tensor, factor: int) -> torch.Tensor:
    """``upsample(x, factor) + other`` as one broadcast sum, without materialising the upsampled x (the same
    numbers: each output element is one addition of the same two values)."""
    if factor == 1:
        return x + other
    n, c, t, v = x.shape
    y = other.permute(0, 2, 3, 1).reshape(n, t, factor, v, c) + x.permute(0, 2, 3, 1).unsqueeze(2)
    return y.view(n, t * factor, v, c).permute(0, 3, 1, 2)


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

        self.input_bn = BatchNorm1d(2 * v) if input_bn else None
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
                nn.Sequential(nn.Conv2d(channels[level], merge_channels, 1), BatchNorm2d(merge_channels))
                for level in reversed(range(LEVELS - 1)))
            head_in = merge_channels
        elif merge == "concat":
            self.merge_proj = nn.Sequential(nn.Conv2d(sum(channels[:LEVELS - 1]), merge_channels, 1),
                                            BatchNorm2d(merge_channels))
            head_in = merge_channels
        else:
            self.merge_proj = None
            head_in = channels[0]
        # st-gcn regressor: graph conv -> BN -> ReLU -> temporal conv to xyz (no BN / ReLU at the end)
        self.regressor_gcn = SpatialGraphConv(head_in, head_in, adjacency, edge_importance)
        self.regressor_bn = BatchNorm2d(head_in)
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
        if self.input_bn is not None:
            # ST-GCN's data BN over the (joint, coordinate) channels j C + c; BatchNorm1d of the (N T, V C)
            # rows has the statistics of the (N, V C, T) layout without transposing
            x = self.input_bn(x.reshape(n * t, v * c)).view(n, t, v, c)
        # (N, C, T, V) in channels_last memory, i.e. the input's own (N, T, V, C) order (see bench.models.stgcn)
        h = x.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
        skips = []
        for i, blk in enumerate(self.down):
            h = blk(h)
            if i % 2 == 0:
                skips.append(h)  # levels 0..4 = outputs of blocks 1, 3, 5, 7, 9
        ups = []
        for i, blk in enumerate(self.up):
            level = LEVELS - 2 - i
            h = upsample_add(blk(h), skips[level], self._factor(level + 1) // self._factor(level))
            ups.append((level, h))
        if self.merge == "sum":
            # sum_l upsample(proj_l(f_l), factor_l), coarsest level first, as nested upsampling: nearest
            # upsampling commutes with the sum, so this adds the same numbers in the same order at the
            # lower resolutions and upsamples each partial sum once
            h, prev = None, None
            for proj, (level, f) in zip(self.merge_proj, ups):
                p = proj[1](pointwise(proj[0], f))  # 1x1 conv, BN
                h = p if h is None else upsample_add(h, p, self._factor(prev) // self._factor(level))
                prev = level
            h = torch.relu(upsample(h, self._factor(prev)))
        elif self.merge == "concat":
            h = torch.cat([upsample(f, self._factor(level)) for level, f in ups], 1)
            h = torch.relu(self.merge_proj[1](pointwise(self.merge_proj[0], h)))
        h = torch.relu(self.regressor_bn(self.regressor_gcn(h)))
        return self.regressor_tcn(h).permute(0, 2, 3, 1).contiguous()  # (N, T, V, 3)


@register_model(
    "ugcn",
    citation="J. Wang, S. Yan, Y. Xiong, D. Lin, \"Motion Guided 3D Pose Estimation from Videos\", ECCV 2020",
    paper="ugcn",
    params={"frames=96": 4_875_911},
    notes="No official code; the paper prints no parameter count. The channel widths per resolution level "
          "are not in the text (Fig. 4 only): default 64/128/256/256/256 (model-specs.md 4.1). Every open "
          "choice is an option.",
)
def ugcn(num_joints_in: int = 17, num_joints_out: int = 17, frames: int = 96, down_up_pairs: int = 4,
         widths: list = (64, 128, 256, 256, 256), merge: str = "sum", merge_channels: int = 64,
         spatial_graph: bool = True, temporal_kernel: int = 5, dropout: float = 0.5, max_hop: int = 1,
         edge_importance: bool = False, input_bn: bool = True) -> UGCN:
    """UGCN (Wang et al., ECCV 2020). Options (paper values where it fixes them, else model-specs.md 4.1):

    frames -- T, input = output length, 96. down_up_pairs -- downsampling/upsampling pairs kept (Table 3:
    0, 1, 2, 4), 4. widths -- channels of the five resolution levels (96, 48, 24, 12, 6 frames at
    T = 96), [64, 128, 256, 256, 256] (not in the text). merge -- merging stage: sum (1x1 conv + BN per
    scale, upsample, add; default), concat (concatenate, 1x1 conv), none (Table 4 "w/o merging stage").
    merge_channels -- width of the merged map, 64. spatial_graph -- ST-GCN spatial-configuration graph
    (True) or none (Table 4 "w/o spatial graph": per-joint 1x1 conv). temporal_kernel -- 5.
    dropout -- 0.5. max_hop -- graph neighbourhood, 1 bone. edge_importance -- ST-GCN's learnable edge
    mask, off. input_bn -- ST-GCN's BatchNorm over the input (joint, coordinate) channels, on.
    """
    return UGCN(num_joints_in, num_joints_out, frames, down_up_pairs, widths, merge, merge_channels,
                spatial_graph, temporal_kernel, dropout, max_hop, edge_importance, input_bn)
