"""Resampling pose sequences to the stand-in's 50 Hz (docs/data-sources.md, "What this means").

Joint positions are interpolated linearly in time: sample k of the output is at t = k / rate_out,
for every t inside the source's time span (frame i of the source at t = i / rate_in). Linear
interpolation reproduces linear motion exactly and never overshoots; the slight shortening of bones
between two samples of a fast rotation is undone by retargeting, which keeps only bone directions.
"""
from __future__ import annotations

import numpy as np


def resample_linear(x: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
    """Resample (F, ...) samples taken at ``rate_in`` Hz to ``rate_out`` Hz (linear interpolation)."""
    assert x.ndim >= 1 and len(x) >= 2, f"need at least 2 frames, got shape {x.shape}"
    assert rate_in > 0 and rate_out > 0
    n_in = len(x)
    duration = (n_in - 1) / rate_in
    n_out = int(np.floor(duration * rate_out + 1e-9)) + 1
    pos = np.arange(n_out) * (rate_in / rate_out)  # fractional source index
    i0 = np.minimum(np.floor(pos).astype(np.int64), n_in - 2)
    u = (pos - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[i0] * (1 - u) + x[i0 + 1] * u
