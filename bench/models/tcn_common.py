"""Shared pieces of the dilated / strided TCN family (VideoPose3D, GAST-Net, attention TCN): temporal filter
widths and the BatchNorm momentum setter of the module contract.

A model's receptive field is the product of its per-layer kernel widths. A receptive field alone must
be a power of 3 (all widths 3, as every paper's presets are); other sizes need explicit widths whose
product is the receptive field (VideoPose3D "3,3,7" = 63, attention TCN Table 3 "3,5,5" = 75).
"""
from __future__ import annotations

import math
from typing import Sequence

from bench.errors import ConfigError


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
