"""Parameter and FLOP counts of a model.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode``, which counts the floating-point operations of
matrix multiplications, convolutions and attention kernels only, with **one multiply-add = 2 FLOPs**
(``FLOPs = 2 x MACs``). Element-wise work (BatchNorm, activations, residual additions, softmax) is not
counted; it is a few percent of the total for the models here. Divide by 2 to compare with papers or tools
that report MACs ("GMACs", fvcore, thop).

``flops_per_frame`` runs one forward pass on zeros of ``input_shape`` (batch included) in eval mode and
divides the total by the number of output poses, ``batch x output_frames``. The count depends on the path
the forward takes: for a temporal ConvNet a receptive-field-length window yields one frame, while a longer
whole-sequence input amortises the shared computation over many output frames.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (all of them, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _output_frames(out: torch.Tensor | Sequence[torch.Tensor]) -> int:
    # Models of the harness return (B, T_out, J, 3); a tuple/list output counts its first tensor.
    if isinstance(out, (tuple, list)):
        out = out[0]
    if out.dim() >= 4:
        return int(out.shape[0] * out.shape[1])
    return int(out.shape[0])


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> tuple[int, int]:
    """(total FLOPs of one forward on zeros of ``input_shape``, number of output frames).

    The model is put in eval mode for the count and its previous mode is restored afterwards. Inputs are
    created with the dtype and device of the model's first parameter (float32 on CPU for a model without
    parameters).
    """
    first = next(iter(model.parameters()), None)
    dtype = first.dtype if first is not None else torch.float32
    device = first.device if first is not None else torch.device("cpu")
    x = torch.zeros(tuple(int(s) for s in input_shape), dtype=dtype, device=device)
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            out = model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()), _output_frames(out)


def flops_per_frame(model: nn.Module, input_shape: Sequence[int]) -> float:
    """FLOPs (2 per multiply-add) of one forward pass divided by the number of output frames.

    ``input_shape`` is the full input shape, e.g. ``(1, 243, 17, 2)`` for one 243-frame window.
    """
    total, frames = count_flops(model, input_shape)
    return total / max(frames, 1)
