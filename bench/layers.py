"""Helpers on torch modules that the engine and the models share (a neutral place: the engine imports no
model file)."""
from __future__ import annotations

from torch import nn


def set_bn_momentum(module: nn.Module, momentum: float) -> None:
    """Set the momentum of every BatchNorm layer of ``module`` (VideoPose3D's recipe decays it 0.1 -> 0.001)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum
