"""VideoPose3D temporal convolutional lifter (Pavllo et al., CVPR 2019), written from model-specs §3.1.

One module holds both forms of the network that the paper's code keeps as two classes:

* the **dilated** reference form (valid dilated convolutions over a whole sequence; used for evaluation and
  for training on chunks longer than one output frame), and
* the **strided** single-frame form (every temporal convolution uses stride = kernel width and no dilation;
  the residual is taken by strided slicing). It computes exactly the same function for an input of
  ``receptive_field`` frames but skips the frames the dilated form computes and then throws away, so it is
  an order of magnitude cheaper per window.

Both forms use the same parameters; ``forward`` picks the strided path when the input length equals the
receptive field (``variant='auto'``), or one path always (``'dilated'`` / ``'strided'``, for profiling and
tests). In eval mode the two paths give the same output for a receptive-field-length input. In training
mode BatchNorm normalises with the statistics of the frames each path computes, so the paths differ there,
as the two official classes do.

The model contract (bench/contract.py)
--------------------------------------
Declared through ``DilatedTemporalConvNet`` (bench/models/tcn_common.py), the base VideoPose3D shares with
GAST-Net, which also holds the residual geometry, the path choice and the residual crops of both forms.
``receptive_field`` = the product of the filter widths; ``causal_shift`` = ``(receptive_field - 1) // 2`` when
causal, else 0: for ``T`` input frames, output frame ``t`` is the pose of input frame
``t + (receptive_field - 1) // 2 + causal_shift`` (the centre of its window, or the last frame when causal), so
one pose per frame of an N-frame sequence needs ``pad + causal_shift`` frames of padding at the start and
``pad - causal_shift`` at the end (``pad = (receptive_field - 1) // 2``). ``output_mode = "conv"``: input
``(B, T, num_joints_in, in_features)`` with ``T >= receptive_field`` gives ``(B, T - receptive_field + 1,
num_joints_out, 3)``. ``set_bn_momentum(m)`` sets every BatchNorm layer (VideoPose3D decays it from 0.1 to
0.001 during training); ``forward_path(T)`` names the path taken.

Layer names (``expand_conv``, ``expand_bn``, ``layers_conv``, ``layers_bn``, ``shrink``; block ``i`` owns
``layers_conv[2i]`` (temporal) and ``layers_conv[2i+1]`` (1x1)) follow the order of the published layer list,
so a state dict with that layout maps one to one; this has not been checked against a released checkpoint.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import ConfigError
from bench.models.tcn_common import VARIANTS, DilatedTemporalConvNet
from bench.models.tcn_common import resolve_filter_widths as _resolve_widths
from bench.registry import register_model


def resolve_filter_widths(receptive_field: int | None,
                          filter_widths: Sequence[int] | str | None) -> tuple[int, ...]:
    """VideoPose3D's filter widths (bench.models.tcn_common): any power of 3 from 3, or explicit odd widths."""
    return _resolve_widths("videopose3d", receptive_field, filter_widths, presets="27, 81, 243")


class VideoPose3D(DilatedTemporalConvNet):
    """Temporal convolutional 2D->3D lifter; see the module docstring for the contract.

    Arguments:
        num_joints_in -- joints of the 2D input.
        in_features -- features per input joint (2).
        num_joints_out -- joints of the 3D output.
        filter_widths -- temporal kernel width of each layer; receptive field = their product.
        causal -- align each output with the last frame of its window instead of the centre.
        dropout -- dropout probability after every ReLU.
        channels -- feature channels C of every hidden layer.
        dense -- replace each dilated kernel by a dense one of width ``(w - 1) * dilation + 1`` (ablation of
            the paper; more parameters; only the dilated path exists for it).
        variant -- ``'auto'`` (strided path iff the input has exactly ``receptive_field`` frames),
            ``'dilated'`` or ``'strided'``.
    """

    def __init__(self, num_joints_in: int, in_features: int, num_joints_out: int,
                 filter_widths: Sequence[int], causal: bool = False, dropout: float = 0.25,
                 channels: int = 1024, dense: bool = False, variant: str = "auto"):
        super().__init__(num_joints_in, in_features, num_joints_out, filter_widths, causal, variant)
        assert not (dense and variant == "strided"), "the strided path does not exist for dense kernels"
        widths = self.filter_widths
        self.channels = channels
        self.dense = bool(dense)

        self.drop = nn.Dropout(dropout)
        self.expand_conv = nn.Conv1d(num_joints_in * in_features, channels, widths[0], bias=False)
        self.expand_bn = nn.BatchNorm1d(channels, momentum=0.1)
        # Residual block i (width i+1 of the list): a temporal conv of that width at dilation d_i (or a dense
        # kernel spanning the same 2 pad_i + 1 frames), then a 1x1 conv (geometry: tcn_common.residual_blocks).
        convs, bns = [], []
        for w, dilation, pad in zip(widths[1:], self.dilations, self.pads):
            if dense:
                convs.append(nn.Conv1d(channels, channels, 2 * pad + 1, bias=False))
            else:
                convs.append(nn.Conv1d(channels, channels, w, dilation=dilation, bias=False))
            bns.append(nn.BatchNorm1d(channels, momentum=0.1))
            convs.append(nn.Conv1d(channels, channels, 1, bias=False))
            bns.append(nn.BatchNorm1d(channels, momentum=0.1))
        self.layers_conv = nn.ModuleList(convs)
        self.layers_bn = nn.ModuleList(bns)
        self.shrink = nn.Conv1d(channels, num_joints_out * 3, 1)

    def use_strided(self, num_frames: int) -> bool:
        """Whether ``forward`` takes the strided path for ``num_frames`` input frames (never with dense kernels)."""
        return not self.dense and super().use_strided(num_frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, j, f = self.check_input(x)
        strided = self.strided_for(t)
        # (B, T, J, F) -> (B, J*F, T): channels are joints x coordinates.
        h = x.reshape(b, t, j * f).transpose(1, 2).contiguous()
        h = self._strided(h) if strided else self._dilated(h)
        # (B, 3*J_out, T_out) -> (B, T_out, J_out, 3)
        return h.transpose(1, 2).reshape(b, -1, self.num_joints_out, 3)

    # -- the two paths ----------------------------------------------------------------------------------

    def _act(self, h: torch.Tensor, bn: nn.Module) -> torch.Tensor:
        # In-place ReLU on the fresh BN output (autograd-safe: BN's backward does not need its output).
        return self.drop(F.relu(bn(h), inplace=True))

    def _dilated(self, h: torch.Tensor) -> torch.Tensor:
        h = self._act(self.expand_conv(h), self.expand_bn)
        for i in range(len(self.pads)):
            res = self.residual_crop(h, i)
            h = self._act(self.layers_conv[2 * i](h), self.layers_bn[2 * i])
            h = self.residual_add(self._act(self.layers_conv[2 * i + 1](h), self.layers_bn[2 * i + 1]), res)
        return self.shrink(h)

    def _strided(self, h: torch.Tensor) -> torch.Tensor:
        # Same weights as _dilated; each temporal conv steps by its own width, so every layer only computes
        # the frames the final output depends on. The residual of block i is the frame of each group of w
        # frames that the dilated crop would keep: the centre (w // 2), or the last one (w - 1) when causal.
        w0 = self.filter_widths[0]
        h = self._act(F.conv1d(h, self.expand_conv.weight, None, stride=w0), self.expand_bn)
        for i, w in enumerate(self.filter_widths[1:]):
            res = self.every(h, w)
            h = self._act(F.conv1d(h, self.layers_conv[2 * i].weight, None, stride=w), self.layers_bn[2 * i])
            h = self.residual_add(self._act(self.layers_conv[2 * i + 1](h), self.layers_bn[2 * i + 1]), res)
        return self.shrink(h)


@register_model(
    "videopose3d",
    citation="Pavllo, Feichtenhofer, Grangier, Auli. 3D human pose estimation in video with temporal "
             "convolutions and semi-supervised training. CVPR 2019.",
    paper="CPN / GT-2D P1, P2: VideoPose3D README results table (receptive_field=27/81 CPN rows use GT "
          "boxes); GT-2D MPJPE of the 27 / 81 / 243-frame models: Liu et al. (attention TCN, journal version) "
          "Table 1; HumanEva: VideoPose3D README (Mask R-CNN 2D, 27 f, Walk/Jog/Box).",
    params={
        "receptive_field=27": 8_555_571,
        "receptive_field=81": 12_753_971,
        "receptive_field=243": 16_952_371,
        "receptive_field=63, filter_widths=(3, 3, 7)": 12_749_875,
        "receptive_field=27, num_joints_in=15, num_joints_out=15": 8_537_133,
        "receptive_field=27, num_joints_in=17, num_joints_out=15": 8_549_421,
    },
    presets={
        "27f": {"receptive_field": 27},
        "81f": {"receptive_field": 81},
        "243f": {"receptive_field": 243},
        "243f_causal": {"receptive_field": 243, "causal": True},
        "63f": {"receptive_field": 63, "filter_widths": (3, 3, 7)},
    },
    notes="One module for TemporalModel and TemporalModelOptimized1f (shared weights; strided path picked "
          "automatically for receptive-field-length inputs). Parameter counts equal the official code's.",
)
def videopose3d(receptive_field: int = 243, filter_widths: tuple | None = None, channels: int = 1024,
                dropout: float = 0.25, causal: bool = False, num_joints_in: int = 17,
                num_joints_out: int = 17, in_features: int = 2, dense: bool = False,
                variant: str = "auto") -> VideoPose3D:
    """VideoPose3D dilated temporal ConvNet with its strided single-frame path (Pavllo et al., CVPR 2019).

    Presets: receptive_field 27 / 81 / 243 -> filter widths (3,3,3) / (3,3,3,3) / (3,3,3,3,3); any power of
    3 gives all-3 widths; other sizes need ``filter_widths`` (e.g. ``receptive_field=63,
    filter_widths=(3,3,7)``); a mismatch is a ConfigError. ``variant``: ``'auto'`` | ``'dilated'`` |
    ``'strided'`` (see :class:`VideoPose3D`).
    """
    widths = resolve_filter_widths(receptive_field, filter_widths)
    if variant not in VARIANTS:
        raise ConfigError(f"videopose3d: variant={variant!r} is not one of {', '.join(VARIANTS)}")
    if dense and variant == "strided":
        raise ConfigError("videopose3d: variant='strided' is not available with dense=True; "
                          "use variant='auto' or 'dilated'")
    for key, value in (("channels", channels), ("num_joints_in", num_joints_in),
                       ("num_joints_out", num_joints_out), ("in_features", in_features)):
        if int(value) < 1:
            raise ConfigError(f"videopose3d: {key}={value} must be a positive integer")
    if not 0.0 <= float(dropout) < 1.0:
        raise ConfigError(f"videopose3d: dropout={dropout} must be in [0, 1)")
    return VideoPose3D(int(num_joints_in), int(in_features), int(num_joints_out), widths, causal=bool(causal),
                       dropout=float(dropout), channels=int(channels), dense=bool(dense), variant=variant)
