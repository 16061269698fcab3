"""Martinez et al. (ICCV 2017) "simple yet effective baseline": a frame-wise residual MLP, from model-specs §3.5.

Network: Linear(2·J_in -> C) -> BN -> ReLU -> Dropout, then ``num_stages`` residual blocks of two
[Linear(C -> C) -> BN -> ReLU -> Dropout] with an identity skip, then Linear(C -> 3·J_out). Kaiming-normal
initialisation of weights and biases, as in the original TensorFlow code.

Module contract (same as every model the engine runs)
-----------------------------------------------------
``receptive_field = 1``, ``causal_shift = 0``, ``output_mode = "conv"``: input
``(B, T, num_joints_in, 2)`` gives ``(B, T, num_joints_out, 3)``; every frame is lifted on its own.
``num_joints_in``, ``num_joints_out``, ``in_features`` (2), ``set_bn_momentum(m)``.

Max-norm: the paper trains with every weight matrix constrained to norm at most 1. Here it is a
re-normalisation, not part of ``forward``: the engine calls ``model.apply_max_norm()`` after each optimiser
step. It rescales, in place and without autograd, every Linear weight matrix whose (Frobenius) norm exceeds
``max_norm_value`` (default 1.0) back to that norm, i.e. each weight matrix is clipped to norm 1 as in the
paper's setting (model-specs §3.5); biases and BN parameters are untouched. Because every hidden Linear is
followed by BatchNorm, the clip changes the function only through the output layer and the optimiser's
step sizes. With ``max_norm=False`` the method does nothing, so the engine may call it for
every model that has it.

The paper's setting is 16 joints in and 16 out (inputs 32, outputs 48: 4,291,632 parameters); the
harness default is H36M-17 in and out (4,296,755).
"""
from __future__ import annotations

import torch
from torch import nn

from bench.models.options import flag, int_option, probability
from bench.layers import set_bn_momentum
from bench.registry import register_model


class _ResidualStage(nn.Module):
    def __init__(self, size: int, dropout: float, batch_norm: bool, residual: bool):
        super().__init__()
        self.residual = residual
        self.layers = nn.Sequential(
            nn.Linear(size, size), nn.BatchNorm1d(size) if batch_norm else nn.Identity(), nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(size, size), nn.BatchNorm1d(size) if batch_norm else nn.Identity(), nn.ReLU(),
            nn.Dropout(dropout),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        y = self.layers(h)
        return h + y if self.residual else y


class Martinez(nn.Module):
    """Frame-wise residual MLP lifter; see the module docstring for the contract and ``apply_max_norm``.

    Arguments:
        num_joints_in / num_joints_out -- joints of the 2D input / 3D output.
        linear_size -- hidden width C (1024).
        num_stages -- residual blocks (2).
        dropout -- dropout probability after every hidden ReLU (0.5).
        max_norm -- whether ``apply_max_norm`` constrains the Linear weights.
        batch_norm -- BatchNorm after every hidden Linear.
        residual -- identity skip around each block.
        max_norm_value -- the norm bound used by ``apply_max_norm``.
    """

    output_mode = "conv"
    receptive_field = 1
    causal_shift = 0
    in_features = 2

    def __init__(self, num_joints_in: int = 17, num_joints_out: int = 17, linear_size: int = 1024,
                 num_stages: int = 2, dropout: float = 0.5, max_norm: bool = True, batch_norm: bool = True,
                 residual: bool = True, max_norm_value: float = 1.0):
        super().__init__()
        self.num_joints_in = num_joints_in
        self.num_joints_out = num_joints_out
        self.max_norm = max_norm
        self.max_norm_value = max_norm_value
        self.input = nn.Sequential(
            nn.Linear(num_joints_in * self.in_features, linear_size),
            nn.BatchNorm1d(linear_size) if batch_norm else nn.Identity(), nn.ReLU(), nn.Dropout(dropout))
        self.stages = nn.Sequential(*[_ResidualStage(linear_size, dropout, batch_norm, residual)
                                      for _ in range(num_stages)])
        self.output = nn.Linear(linear_size, num_joints_out * 3)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal weights and biases of every Linear (the original code initialises both)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight)
                # Kaiming-normal on a bias vector: std = sqrt(2 / fan_in) of the layer it belongs to.
                nn.init.normal_(m.bias, std=(2.0 / m.in_features) ** 0.5)

    def set_bn_momentum(self, momentum: float) -> None:
        set_bn_momentum(self, momentum)

    @torch.no_grad()
    def apply_max_norm(self) -> None:
        """Clip every Linear weight matrix to norm ``max_norm_value`` in place (no-op if max_norm is off)."""
        if not self.max_norm:
            return
        for m in self.modules():
            if isinstance(m, nn.Linear):
                norm = float(m.weight.norm())
                if norm > self.max_norm_value:
                    m.weight.mul_(self.max_norm_value / norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dim() == 4, f"expected input (batch, frames, joints, features), got shape {tuple(x.shape)}"
        b, t, j, f = x.shape
        assert j == self.num_joints_in, f"expected {self.num_joints_in} input joints, got {j}"
        assert f == self.in_features, f"expected {self.in_features} features per joint, got {f}"
        h = self.input(x.reshape(b * t, j * f))
        h = self.output(self.stages(h))
        return h.reshape(b, t, self.num_joints_out, 3)


@register_model(
    "martinez",
    citation="Martinez, Hossain, Romero, Little. A simple yet effective baseline for 3d human pose "
             "estimation. ICCV 2017.",
    paper="Martinez et al. ICCV 2017 as quoted by Liu et al. (attention TCN, journal version): Table 9 "
          "(SH fine-tuned P1/P2, GT P1/P2), Table 11 (GT/GT column, P2 37.1); 16 joints in and out.",
    params={
        "num_joints_in=16, num_joints_out=16": 4_291_632,
        "num_joints_in=17, num_joints_out=17": 4_296_755,
        "num_joints_in=16, num_joints_out=15": 4_288_557,
    },
    presets={
        "paper16": {"num_joints_in": 16, "num_joints_out": 16},
        "h36m17": {"num_joints_in": 17, "num_joints_out": 17},
    },
    notes="Paper: 16 joints (H36M minus Neck/Nose) in, 16 out (root removed), inputs/outputs z-scored. "
          "Max-norm is applied by the engine through apply_max_norm() after every optimiser step.",
)
def martinez(num_joints_in: int = 17, num_joints_out: int = 17, linear_size: int = 1024, num_stages: int = 2,
             dropout: float = 0.5, max_norm: bool = True, batch_norm: bool = True,
             residual: bool = True) -> Martinez:
    """Martinez et al. 2017 frame-wise residual MLP (receptive_field 1); call ``apply_max_norm()`` after each
    optimiser step to reproduce the paper's max-norm constraint."""
    sizes = [int_option("martinez", k, v) for k, v in (("num_joints_in", num_joints_in),
                                                        ("num_joints_out", num_joints_out),
                                                        ("linear_size", linear_size))]
    flags = [flag("martinez", k, v) for k, v in (("max_norm", max_norm), ("batch_norm", batch_norm),
                                                 ("residual", residual))]
    return Martinez(*sizes, int_option("martinez", "num_stages", num_stages, minimum=0),
                    probability("martinez", "dropout", dropout), *flags)
