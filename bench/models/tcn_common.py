"""Shared pieces of the dilated / strided TCN family (VideoPose3D, GAST-Net, attention TCN): temporal filter
widths, and :class:`TemporalConvNet`, the scaffolding the three modules have in common.

A model's receptive field is the product of its per-layer kernel widths. A receptive field alone must
be a power of 3 (all widths 3, as every paper's presets are); other sizes need explicit widths whose
product is the receptive field (VideoPose3D "3,3,7" = 63, attention TCN Table 3 "3,5,5" = 75).

Geometry of the family (Pavllo et al., CVPR 2019, section 3 and the official ``TemporalModel``): with widths
w_0 .. w_{n-1}, block i (i = 0 .. n-2, width w_{i+1}) has dilation d_i = w_0 ... w_i, so its valid dilated
convolution removes ``pad_i = (w_{i+1} - 1) / 2 * d_i`` frames from each side and its residual is cropped by as
much (shifted by ``pad_i`` into the past when causal). The **strided** form of the same network steps every
temporal convolution by its own width, so a receptive-field window gives one frame and the residual of each
block is one frame of every group of w: the centre one, or the last one when causal.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from bench.errors import ConfigError
from bench.layers import set_bn_momentum

#: Forward paths of a model with a strided and a dilated form: ``auto`` takes the strided one exactly when the
#: input is one receptive field long.
VARIANTS = ("auto", "dilated", "strided")


def _as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def resolve_filter_widths(model: str, receptive_field: int | None, filter_widths: Sequence[int] | str | None,
                          presets: str, min_layers: int = 1, min_width: int = 1) -> tuple[int, ...]:
    """The filter widths of ``model`` for a receptive field and/or explicit widths, or a one-line ConfigError.

    ``filter_widths`` is a sequence of ints or a comma-separated string (``"3,3,7"``, handy on a command
    line); each width must be odd (valid convolutions) and >= ``min_width``, with at least ``min_layers``
    of them, and their product must equal ``receptive_field`` when both are given. Without widths the
    receptive field must be a power of 3 with at least ``min_layers`` factors. ``presets`` names the
    paper's receptive fields in the messages.
    """
    example = ",".join(["3"] * max(min_layers, 3))
    if filter_widths is not None:
        parts = filter_widths.replace(" ", "").split(",") if isinstance(filter_widths, str) else filter_widths
        try:
            widths = tuple(int(w) for w in parts if w != "")
        except (TypeError, ValueError):
            raise ConfigError(f"{model}: filter_widths={filter_widths!r} must be a list of odd integers such as "
                              f"({example.replace(',', ', ')}) or the string '{example}'") from None
        if len(widths) < min_layers or any(w < min_width or w % 2 == 0 for w in widths):
            raise ConfigError(f"{model}: filter_widths={filter_widths!r} must list at least {min_layers} odd "
                              f"integer(s) >= {min_width} (valid convolutions need odd widths), e.g. "
                              f"({example.replace(',', ', ')})")
        product = math.prod(widths)
        if receptive_field is not None and _as_int(receptive_field) != product:
            raise ConfigError(f"{model}: filter_widths={widths} give a receptive field of {product} frames but "
                              f"receptive_field={receptive_field}; pass receptive_field={product} with these "
                              f"filter_widths")
        return widths
    if receptive_field is None:
        raise ConfigError(f"{model}: give receptive_field ({presets}) or filter_widths")
    powers = tuple(3 ** k for k in range(min_layers, 8))
    rf = _as_int(receptive_field)
    if rf in powers:
        return (3,) * round(math.log(rf, 3))
    raise ConfigError(f"{model}: receptive_field={receptive_field} is not a power of 3; valid without "
                      f"filter_widths: {', '.join(map(str, powers))} (paper presets {presets}); for other "
                      f"sizes pass filter_widths whose product is the receptive field, e.g. "
                      f"receptive_field=63 with filter_widths=(3,3,7)")


def residual_blocks(filter_widths: Sequence[int], causal: bool) -> tuple[list[int], list[int], list[int]]:
    """(dilations, pads, shifts) of the residual blocks: block i (width ``filter_widths[i + 1]``) has dilation
    = the product of the earlier widths, pad = frames its valid convolution removes from each side (and its
    residual crop), shift = how far that crop moves into the past when causal (module docstring)."""
    dilations, pads, shifts = [], [], []
    dilation = filter_widths[0]
    for w in filter_widths[1:]:
        pad = (w - 1) // 2 * dilation
        dilations.append(dilation)
        pads.append(pad)
        shifts.append(pad if causal else 0)
        dilation *= w
    return dilations, pads, shifts


class TemporalConvNet(nn.Module):
    """Scaffolding shared by VideoPose3D, GAST-Net and the attention TCN; each subclass builds its own layers.

    It declares the model contract (bench/contract.py) of a convolutional lifter: ``receptive_field`` = the
    product of ``filter_widths``, ``causal_shift`` = (receptive_field - 1) // 2 when causal else 0, the joint
    counts, ``in_features``, ``output_mode = "conv"``, ``set_bn_momentum`` (every BatchNorm layer) and
    ``forward_path`` (``'strided'`` for one receptive-field window, else ``long_path``). It checks the input
    shape and samples the frames a strided block keeps (module docstring). It creates no parameters, so a
    subclass registers and initialises its layers exactly as it would on ``nn.Module``.
    """

    output_mode = "conv"
    long_path = "windows"  #: name of the path taken by inputs longer than one window (``forward_path``)

    def __init__(self, num_joints_in: int, in_features: int, num_joints_out: int, filter_widths: Sequence[int],
                 causal: bool = False):
        super().__init__()
        widths = tuple(int(w) for w in filter_widths)
        assert widths and all(w >= 1 and w % 2 == 1 for w in widths), \
            f"filter widths must be odd positive integers, got {widths}"
        self.num_joints_in = num_joints_in
        self.in_features = in_features
        self.num_joints_out = num_joints_out
        self.filter_widths = widths
        self.causal = bool(causal)
        self.receptive_field = math.prod(widths)
        self.causal_shift = (self.receptive_field - 1) // 2 if causal else 0

    # -- contract -------------------------------------------------------------------------------------

    def set_bn_momentum(self, momentum: float) -> None:
        """Set the momentum of every BatchNorm layer (the recipes decay all of them together)."""
        set_bn_momentum(self, momentum)

    def forward_path(self, num_frames: int) -> str:
        """Name of the path ``forward`` takes for ``num_frames`` input frames (``'strided'`` or ``long_path``)."""
        return "strided" if self.use_strided(num_frames) else self.long_path

    def use_strided(self, num_frames: int) -> bool:
        """Whether ``forward`` takes the strided path for an input of ``num_frames`` frames."""
        return num_frames == self.receptive_field

    # -- shared steps of forward ------------------------------------------------------------------------

    def check_input(self, x: torch.Tensor) -> tuple[int, int, int, int]:
        """(B, T, J, F) of an input ``x`` that fits the model: J and F its joints and features, T >= RF."""
        assert x.dim() == 4, f"expected input (batch, frames, joints, features), got shape {tuple(x.shape)}"
        b, t, j, f = x.shape
        assert j == self.num_joints_in, f"expected {self.num_joints_in} input joints, got {j}"
        assert f == self.in_features, f"expected {self.in_features} features per joint, got {f}"
        assert t >= self.receptive_field, f"input has {t} frames but the receptive field is {self.receptive_field}"
        return b, t, j, f

    def group_offset(self, size: int) -> int:
        """The frame kept from each group of ``size`` frames: the centre, or the last one when causal."""
        return size - 1 if self.causal else size // 2

    def every(self, h: torch.Tensor, stride: int, dim: int = -1) -> torch.Tensor:
        """One frame of every ``stride`` along ``dim`` (:meth:`group_offset` of each group), a view: the
        residual of a strided block, or a sub-sampled branch input."""
        index = [slice(None)] * h.dim()
        index[dim] = slice(self.group_offset(stride), None, stride)
        return h[tuple(index)]


class DilatedTemporalConvNet(TemporalConvNet):
    """A :class:`TemporalConvNet` with both forms of the network (VideoPose3D, GAST-Net): the dilated form over
    whole sequences and the strided form for one window, sharing the weights.

    Adds the residual-block geometry ``dilations`` / ``pads`` / ``shifts`` (:func:`residual_blocks`), the path
    choice ``variant`` (:data:`VARIANTS`), the dilated residual crop and the residual sum of both forms.
    """

    long_path = "dilated"

    def __init__(self, num_joints_in: int, in_features: int, num_joints_out: int, filter_widths: Sequence[int],
                 causal: bool = False, variant: str = "auto"):
        super().__init__(num_joints_in, in_features, num_joints_out, filter_widths, causal)
        assert variant in VARIANTS, f"variant must be one of {VARIANTS}, got {variant!r}"
        self.variant = variant
        self.dilations, self.pads, self.shifts = residual_blocks(self.filter_widths, self.causal)

    def use_strided(self, num_frames: int) -> bool:
        """Whether ``forward`` takes the strided path for an input of ``num_frames`` frames (``variant``)."""
        if self.variant == "strided":
            return True
        if self.variant == "dilated":
            return False
        return super().use_strided(num_frames)

    def strided_for(self, num_frames: int) -> bool:
        """:meth:`use_strided`, refusing a strided pass over anything but one receptive-field window."""
        strided = self.use_strided(num_frames)
        assert not strided or num_frames == self.receptive_field, \
            f"the strided path needs exactly {self.receptive_field} input frames, got {num_frames}"
        return strided

    def residual_crop(self, h: torch.Tensor, block: int, dim: int = -1) -> torch.Tensor:
        """The residual of dilated block ``block``: ``h`` without ``pads[block]`` frames on each side along
        ``dim``, shifted ``shifts[block]`` frames into the past when causal (a view)."""
        pad, shift = self.pads[block], self.shifts[block]
        return h.narrow(dim, pad + shift, h.shape[dim] - 2 * pad)

    @staticmethod
    def residual_add(h: torch.Tensor, res: torch.Tensor) -> torch.Tensor:
        """``h + res``: in place when no graph is recorded (one allocation less per block), out of place under
        autograd, where the ReLU before it keeps its output for the backward pass."""
        return h.add_(res) if not torch.is_grad_enabled() else h + res
