"""GAST-Net (Liu, Guang, Rojas): graph attention spatio-temporal convolutional network for 3D human pose
estimation in video; written from model-specs.md section 3.2 and the paper (sections 3-4, Fig. 2-3, Table 4).

The VideoPose3D temporal ConvNet (baselines/videopose3d.py) with the joints kept apart -- temporal kernels
(w, 1) over (frames, joints) -- and a graph attention block (bench/models/graph_attention.py) after the stem
and after every temporal block; the channels double at every graph block::

    (B, T, J, 2) -> BN(2) -> conv (w0, 1) 2 -> C, no bias -> BN -> ReLU -> GraphAttention C -> 2C
    block i = 1..L-1 (C_i = 2^i C): residual crop; conv (w_i, 1) dilation (d_i, 1) no bias -> BN -> ReLU
        -> 1x1 conv no bias -> BN -> ReLU -> Dropout; + residual; GraphAttention C_i -> 2 C_i
    shrink: 1x1 conv 2^L C -> 3, no bias, shared by all joints -> (B, T - RF + 1, J, 3)

As in VideoPose3D, one module holds the **dilated** form (whole sequences, evaluation) and the **strided**
single-frame form (training on receptive-field windows: every temporal conv steps by its width, the residual
is a strided slice); both use the same weights and compute the same function for a receptive-field-length
input (in eval mode; in training mode BatchNorm sees the frames each path computes). ``variant`` picks the
path: ``'auto'`` (strided iff the input has exactly ``receptive_field`` frames), ``'dilated'``, ``'strided'``.

Model contract (bench/contract.py): declared, with the residual geometry, the path choice and the residual crops,
by ``DilatedTemporalConvNet`` (bench/models/tcn_common.py), the base GAST-Net shares with VideoPose3D
(``receptive_field``, ``causal_shift``, ``output_mode = "conv"``, ``num_joints_in`` / ``num_joints_out`` /
``in_features``, ``set_bn_momentum``, ``forward_path``). The graph blocks need the output joints to be the input
joints (``num_joints_out == num_joints_in``); the skeleton graph comes from
``bench.skeleton.graph_skeleton`` (17 joints: Human3.6M, 15: HumanEva-I, 16: MPII layout).

Features are kept channels-last, (B, T, J, C), the whole way: temporal convs run as ``conv2d`` on the
channels-last view, 1x1 convs and graph operations as GEMMs / batched matmuls over the B*T*J rows, and BatchNorm
normalises each channel over all rows (the statistics BatchNorm2d computes over (B, C, T, J)). Parameter
shapes, counts and initialisation follow the official code (Kaiming-normal stem conv; see graph_attention.py).
"""
from __future__ import annotations

import operator
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import ConfigError
from bench.models.graph_attention import LOCAL_KERNELS, GraphAttentionBlock, batch_norm, bn_relu, pointwise
from bench.models.tcn_common import VARIANTS, DilatedTemporalConvNet
from bench.models.tcn_common import resolve_filter_widths as _resolve_widths
from bench.registry import register_model
from bench.skeleton import Skeleton, graph_skeleton


def resolve_filter_widths(receptive_field: int | None,
                          filter_widths: Sequence[int] | str | None) -> tuple[int, ...]:
    """GAST-Net's filter widths (bench.models.tcn_common): any power of 3 from 3 (paper presets 9, 27, 81, 243),
    or explicit odd widths whose product is the receptive field."""
    return _resolve_widths("gastnet", receptive_field, filter_widths, presets="9, 27, 81, 243")


def preset_channels(num_widths: int) -> int:
    """Base channels C of the paper: 128 for 9 and 27 frames (2-3 widths), else 1024 / 2^L (64 for 81 frames,
    32 for 243), so that the last graph block outputs 1024 channels as in the official 27/81/243-frame models."""
    return 128 if num_widths <= 3 else max(1024 // 2 ** num_widths, 1)


class GASTNet(DilatedTemporalConvNet):
    """GAST-Net; see the module docstring for the layer list and :func:`gastnet` for the options.

    Layer names: ``init_bn``, ``expand_conv``, ``expand_bn``, ``graph_blocks[0..L-1]``, ``layers_conv`` /
    ``layers_bn`` (block i owns ``layers_conv[2i]`` (temporal) and ``layers_conv[2i+1]`` (1x1)), ``shrink``.
    """

    def __init__(self, num_joints_in: int, in_features: int, num_joints_out: int, filter_widths: Sequence[int],
                 skeleton: Skeleton, causal: bool = False, dropout: float = 0.05, channels: int = 128,
                 heads: int = 4, local_kernels: Sequence[str] = LOCAL_KERNELS, global_bk: bool = True,
                 global_ck: bool = True, variant: str = "auto"):
        super().__init__(num_joints_in, in_features, num_joints_out, filter_widths, causal, variant)
        assert num_joints_out == num_joints_in == skeleton.num_joints, "graph blocks keep the joint set"
        assert channels % heads == 0, f"heads={heads} must divide channels={channels}"
        widths = self.filter_widths
        self.channels = channels
        self.heads = heads
        self.skeleton = skeleton
        self.local_kernels = tuple(local_kernels)
        self.global_bk, self.global_ck = bool(global_bk), bool(global_ck)

        def graph_block(c: int) -> GraphAttentionBlock:
            return GraphAttentionBlock(c, skeleton, heads, self.local_kernels, global_bk, global_ck, dropout)

        self.drop = nn.Dropout(dropout)
        self.init_bn = nn.BatchNorm1d(in_features, momentum=0.1)
        self.expand_conv = nn.Conv2d(in_features, channels, (widths[0], 1), bias=False)
        nn.init.kaiming_normal_(self.expand_conv.weight)
        self.expand_bn = nn.BatchNorm1d(channels, momentum=0.1)
        blocks = [graph_block(channels)]

        # Residual block i (width i of the list, C_i = 2^i C channels): temporal conv (w_i, 1) at dilation d_i,
        # 1x1 conv, graph block C_i -> 2 C_i (geometry: tcn_common.residual_blocks).
        convs, bns = [], []
        for i, (w, dilation) in enumerate(zip(widths[1:], self.dilations), start=1):
            c = channels * 2 ** i
            convs.append(nn.Conv2d(c, c, (w, 1), dilation=(dilation, 1), bias=False))
            bns.append(nn.BatchNorm1d(c, momentum=0.1))
            convs.append(nn.Conv2d(c, c, 1, bias=False))
            bns.append(nn.BatchNorm1d(c, momentum=0.1))
            blocks.append(graph_block(c))
        self.layers_conv = nn.ModuleList(convs)
        self.layers_bn = nn.ModuleList(bns)
        self.graph_blocks = nn.ModuleList(blocks)
        self.shrink = nn.Conv2d(channels * 2 ** len(widths), 3, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, t, _, _ = self.check_input(x)
        h = self._strided(x) if self.strided_for(t) else self._dilated(x)
        return pointwise(self.shrink, h)  # (B, T_out, J, 3)

    # -- the two paths ----------------------------------------------------------------------------------

    @staticmethod
    def _temporal(conv: nn.Conv2d, h: torch.Tensor, stride: int = 1, dilation: int | None = None) -> torch.Tensor:
        # conv2d on the channels-last view (B, C, T, J) of (B, T, J, C); the result is channels-last again.
        d = conv.dilation if dilation is None else (dilation, 1)
        out = F.conv2d(h.permute(0, 3, 1, 2), conv.weight, None, stride=(stride, 1), dilation=d)
        return out.permute(0, 2, 3, 1).contiguous()

    def _stem(self, x: torch.Tensor, stride: int) -> torch.Tensor:
        h = batch_norm(self.init_bn, x)
        h = bn_relu(self.expand_bn, self._temporal(self.expand_conv, h, stride=stride))
        return self.graph_blocks[0](h)

    def _block_tail(self, i: int, h: torch.Tensor, res: torch.Tensor) -> torch.Tensor:
        h = bn_relu(self.layers_bn[2 * i], h)
        h = self.drop(bn_relu(self.layers_bn[2 * i + 1], pointwise(self.layers_conv[2 * i + 1], h)))
        return self.graph_blocks[i + 1](self.residual_add(h, res))

    def _dilated(self, x: torch.Tensor) -> torch.Tensor:
        h = self._stem(x, stride=1)
        for i in range(len(self.pads)):
            res = self.residual_crop(h, i, dim=1)
            h = self._block_tail(i, self._temporal(self.layers_conv[2 * i], h), res)
        return h

    def _strided(self, x: torch.Tensor) -> torch.Tensor:
        # Same weights as _dilated; each temporal conv steps by its own width, so every layer computes only
        # the frames the output depends on. The residual of block i is the frame of each group of w that the
        # dilated crop keeps: the centre (w // 2), or the last one (w - 1) when causal.
        h = self._stem(x, stride=self.filter_widths[0])
        for i, w in enumerate(self.filter_widths[1:]):
            res = self.every(h, w, dim=1)
            h = self._block_tail(i, self._temporal(self.layers_conv[2 * i], h, stride=w, dilation=1), res)
        return h


# Parameter counts of the Table 4 ablations at 27 frames (components not built), for the notes and tests.
ABLATION_PARAMS_27F = {
    "local_connection=False": (5_833_616, "5.83M"),
    "local_symmetry=False": (5_856_016, "5.86M"),
    "global_bk=False": (6_224_272, "6.92M"),
    "global_ck=False": (6_912_516, "6.84M"),
}


@register_model(
    "gastnet",
    citation="Liu, Guang, Rojas. A graph attention spatio-temporal convolutional network for 3D human pose "
             "estimation in video (GAST-Net). ICRA 2021.",
    paper="Human3.6M CPN P1/P2: Table 1 (10 fps); GT-2D and Stacked Hourglass P1/P2 at 81 frames: Table 2; "
          "HumanEva-I Walk/Jog/Box average P-MPJPE at 27 frames (Mask R-CNN 2D, dropout 0.5): Table 3; "
          "27-frame component ablations (P1): Table 4. Parameter counts: the official code "
          "(fabro66/GAST-Net-3DPoseEstimation), model-specs.md 2.2.",
    params={
        "receptive_field=9": 1_617_164,
        "receptive_field=27": 6_915_984,
        "receptive_field=81": 7_054_612,
        "receptive_field=243": 7_091_736,
        "receptive_field=27, num_joints_in=15, num_joints_out=15": 6_907_152,
        "receptive_field=27, channels=64": 1_755_792,
    },
    presets={
        "9f": {"receptive_field": 9},
        "27f": {"receptive_field": 27},
        "81f": {"receptive_field": 81},
        "243f": {"receptive_field": 243},
        "27f_causal": {"receptive_field": 27, "causal": True},
        "humaneva_27f": {"receptive_field": 27, "num_joints_in": 15, "num_joints_out": 15, "dropout": 0.5},
        "27f_no_local_connection": {"receptive_field": 27, "local_connection": False},
        "27f_no_local_symmetry": {"receptive_field": 27, "local_symmetry": False},
        "27f_no_bk": {"receptive_field": 27, "global_bk": False},
        "27f_no_ck": {"receptive_field": 27, "global_ck": False},
    },
    notes="One module for SpatioTemporalModel and its Optimized1f variant (shared weights; strided path picked "
          "automatically for receptive-field-length inputs). Preset parameter counts equal the official "
          "code's. Table 4 ablations at 27 frames, built without the removed parameters (ours vs the paper): "
          "w/o local connection 5,833,616 (5.83M), w/o local symmetry 5,856,016 (5.86M), w/o B_k 6,224,272 "
          "(paper 6.92M = the full model's count, so that row evidently was not recounted), w/o C_k "
          "6,912,516 (paper 6.84M; removing C_k removes only 3 blocks x 4 heads x 17 x 17 = 3,468 "
          "parameters, so the paper's 76k difference is unexplained). Distal joints are derived from the "
          "skeleton (leaves whose parent has one child), which gives the official lists for 17 and 15 joints.",
)
def gastnet(receptive_field: int = 27, filter_widths: tuple | None = None, channels: int | None = None,
            dropout: float = 0.05, causal: bool = False, num_joints_in: int = 17, num_joints_out: int = 17,
            in_features: int = 2, heads: int = 4, local_connection: bool = True, local_symmetry: bool = True,
            global_bk: bool = True, global_ck: bool = True, variant: str = "auto") -> GASTNet:
    """GAST-Net: dilated temporal ConvNet interleaved with graph attention blocks (Liu, Guang, Rojas).

    Options (defaults in brackets):

    * ``receptive_field`` [27] -- input frames per output frame; without ``filter_widths`` a power of 3.
      Presets: 9 / 27 / 81 / 243 -> filter widths (3,3) / (3,3,3) / (3,3,3,3) / (3,3,3,3,3).
    * ``filter_widths`` [None] -- explicit temporal kernel widths (odd; a list or ``"3,3,7"``); their product
      must equal ``receptive_field``.
    * ``channels`` [None] -- base channels C of the stem (block i has 2^i C, the last graph block outputs
      2^L C). None = the paper's choice: 128 for 9 and 27 frames, 64 for 81, 32 for 243 (1024 / 2^L for
      four or more widths).
    * ``dropout`` [0.05] -- dropout after the second conv of each temporal block and after the local and
      global branches (the paper's Human3.6M value; 0.5 on HumanEva-I).
    * ``causal`` [False] -- align each output with the last frame of its window instead of the centre.
    * ``num_joints_in`` [17] -- joints of the 2D input; the skeleton graph is chosen by this count (17
      Human3.6M, 15 HumanEva-I, 16 MPII layout).
    * ``num_joints_out`` [17] -- must equal ``num_joints_in`` (the shrink conv maps each joint to its 3D pose).
    * ``in_features`` [2] -- features per input joint.
    * ``heads`` [4] -- K, global attention heads; each has C_i / K channels, so K must divide ``channels``.
    * ``local_connection`` [True] -- the local connection kernel (first-order neighbours, second-order for
      the distal joints).
    * ``local_symmetry`` [True] -- the local symmetry kernel (each joint and its mirror joint).
    * ``global_bk`` [True] -- the data-dependent attention B_k (theta, phi, w_f).
    * ``global_ck`` [True] -- the learnable adjacency C_k (zero init).
    * ``variant`` ['auto'] -- 'auto' (strided path iff the input has exactly ``receptive_field`` frames),
      'dilated' or 'strided'.

    Table 4 components: a component that is off is not built. One local kernel off: the local branch has one
    graph conv and its fusion conv is C -> C instead of 2C -> C. Both off: no local branch, and the block's
    fusion conv reads [x, global] (2C -> 2C). ``global_bk=False``: the global attention is C_k alone (no
    theta, phi, w_f); ``global_ck=False``: B_k alone; both off: no global branch. All four off is allowed:
    every graph block is then a 1x1 conv C -> 2C (a per-joint temporal network, no spatial mixing).
    """
    widths = resolve_filter_widths(receptive_field, filter_widths)
    if variant not in VARIANTS:
        raise ConfigError(f"gastnet: variant={variant!r} is not one of {', '.join(VARIANTS)}")
    if channels is None:
        channels = preset_channels(len(widths))
    ints = {}
    for key, value in (("channels", channels), ("num_joints_in", num_joints_in),
                       ("num_joints_out", num_joints_out), ("in_features", in_features), ("heads", heads)):
        try:
            ints[key] = operator.index(value)  # ints (numpy ints too); not floats, strings or booleans
        except TypeError:
            ints[key] = 0
        if isinstance(value, (bool, np.bool_)) or ints[key] < 1:
            raise ConfigError(f"gastnet: {key}={value!r} must be a positive integer")
    channels, num_joints_in, num_joints_out, in_features, heads = ints.values()
    if channels % heads:
        raise ConfigError(f"gastnet: heads={heads} does not divide channels={channels}; every global attention "
                          f"head has channels / heads channels")
    if isinstance(dropout, (bool, np.bool_)) or not isinstance(dropout, (int, float, np.floating)) \
            or not 0.0 <= float(dropout) < 1.0:
        raise ConfigError(f"gastnet: dropout={dropout!r} must be in [0, 1)")
    flags = {"causal": causal, "local_connection": local_connection, "local_symmetry": local_symmetry,
             "global_bk": global_bk, "global_ck": global_ck}
    for key, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise ConfigError(f"gastnet: {key}={value!r} must be true or false")
    skeleton = graph_skeleton(num_joints_in, "gastnet")
    if num_joints_out != num_joints_in:
        raise ConfigError(f"gastnet: num_joints_out={num_joints_out} must equal num_joints_in={num_joints_in} "
                          f"(graph blocks keep the joint set; remap the 2D input to the output skeleton first)")
    kernels = tuple(k for k, on in (("symmetry", local_symmetry), ("connection", local_connection)) if on)
    return GASTNet(num_joints_in, in_features, num_joints_out, widths, skeleton, causal=bool(causal),
                   dropout=float(dropout), channels=channels, heads=heads, local_kernels=kernels,
                   global_bk=bool(global_bk), global_ck=bool(global_ck), variant=variant)
