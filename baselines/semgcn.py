"""SemGCN (Zhao et al., CVPR 2019, "Semantic Graph Convolutional Networks for 3D Human Pose Regression"):
a frame-wise graph network over the skeleton, from model-specs §3.4 and the official code (garyzhao/SemGCN,
models/sem_graph_conv.py, sem_gcn.py, graph_non_local.py).

Semantic graph convolution (paper §3, the M (.) A formulation; model-specs §3.4; code sem_graph_conv.py)
------------------------------------------------------------------------------------------------------
For features X (J x C_in) and the mask M = A + I of the skeleton (bones plus self loops),
``A_hat = row-softmax(M (.) E)`` with **one** learnable logit per allowed edge (shared by all channels,
initialised to 1; entries outside M get no weight), and

    Y = (A_hat (.) I) X W_self + (A_hat (.) (1 - I)) X W_nbr + b.

:class:`SemGraphConv` is ``bench.models.graph_ops.FixedSpatialGraph(form='semgcn')`` (same parameters, same
forward: -inf masking gives the same softmax as the code's -9e15) with the official initialisation restored:
Xavier-uniform (gain 1.414) over the whole ``(2, in, out)`` weight tensor -- PyTorch then takes the fans as
``in·out`` and ``2·out``, so the bound is smaller than a per-matrix Xavier -- and a uniform(±1/sqrt(out)) bias.

Network (official ``SemGCN(adj, 128, num_layers=4[, nodes_group])``)
--------------------------------------------------------------------
SemGraphConv 2 -> C -> BN -> ReLU [-> Dropout]; ``num_layers`` residual blocks, each two
[SemGraphConv C -> C -> BN -> ReLU [-> Dropout]] with an identity skip; SemGraphConv C -> 3 (no BN/act).
BatchNorm normalises each channel over frames and joints (the code's BatchNorm1d on (N, C, J)).
The code's dropout path is ReLU -> Dropout -> ReLU; the second ReLU acts on non-negative values, so
ReLU -> Dropout is the same function.

Non-local variant (paper: non-local layer; model-specs §3.4; code sem_gcn.py ``nodes_group``, graph_non_local.py)
-----------------------------------------------------------------------------------------------------------------
A :class:`GroupedNonLocal` after the input layer and after every residual block. The code re-orders the joints
into 8 groups of 2, applies a concatenation-style non-local block with max-pooling of size 2 on phi and g
(so the keys are the 8 groups) and restores the order. Here the groups are given by index directly (pooling
is a max over each group's joints), which is the same function without the re-ordering. For H36M-17 the
extra Neck/Nose joint needs a group: option ``nonlocal_groups`` (see :data:`NONLOCAL_GROUPINGS`).

Module contract (same as every model the engine runs)
-----------------------------------------------------
``receptive_field = 1``, ``causal_shift = 0``, ``output_mode = "conv"``: input
``(B, T, num_joints, 2)`` gives ``(B, T, num_joints, 3)``; every frame is lifted on its own.
``num_joints_in == num_joints_out`` (a graph convolution maps the joints to themselves), ``in_features`` (2),
``set_bn_momentum(m)``.

The paper's setting is the 16-joint graph (H36M-17 minus Neck/Nose); the harness default is H36M-17.
Parameter counts (C=128, 4 layers): 16 joints 267,343 / with non-local 434,703; 17 joints 267,373 / 434,733.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from bench.errors import ConfigError
from bench.models.graph_ops import FixedSpatialGraph, SpatialNonLocal, batch_norm_joints
from bench.layers import set_bn_momentum as _set_all_bn_momentum
from bench.models.options import int_option
from bench.registry import register_model
from bench.skeleton import H36M_17, Skeleton

# The paper's 16 joints: H36M-17 without joint 9 (Neck/Nose); Head (17-index 10) hangs from the Thorax.
# Parents / left / right are the official graph (model-specs §3.4, [measured]).
H36M_16 = Skeleton(
    name="h36m16_semgcn",
    joint_names=tuple(n for i, n in enumerate(H36M_17.joint_names) if i != 9),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 8, 10, 11, 8, 13, 14),
    joints_left=(4, 5, 6, 10, 11, 12),
    joints_right=(1, 2, 3, 13, 14, 15),
)
SKELETONS = {16: H36M_16, 17: H36M_17}

# Official nodes_group (h36m_skeleton_joints_group), 16-joint indices: lower legs, hips, torso, thorax+head,
# forearms, shoulders.
PAPER_GROUPS_16 = ((2, 3), (5, 6), (1, 4), (0, 7), (8, 9), (14, 15), (11, 12), (10, 13))


def _to17(j: int) -> int:
    # 16-joint index -> H36M-17 index (joint 9, Neck/Nose, is the one SemGCN drops).
    return j if j < 9 else j + 1


_GROUPS_17 = tuple(tuple(_to17(j) for j in g) for g in PAPER_GROUPS_16)  # (8, 10) = Thorax, Head
NONLOCAL_GROUPINGS = {
    # Neck/Nose joins the Thorax/Head pair: still the paper's 8 pooled body parts.
    "merge": tuple((8, 9, 10) if g == (8, 10) else g for g in _GROUPS_17),
    # Neck/Nose is a ninth group on its own (9 pooled nodes; the paper's pairs untouched).
    "separate": _GROUPS_17 + ((9,),),
}


def nonlocal_groups_for(num_joints: int, grouping: str = "merge") -> tuple[tuple[int, ...], ...]:
    """Joint groups the non-local block pools over: the paper's 8 pairs for 16 joints (``grouping`` is then
    irrelevant), :data:`NONLOCAL_GROUPINGS` ``[grouping]`` for H36M-17."""
    if grouping not in NONLOCAL_GROUPINGS:
        raise ConfigError(f"semgcn: nonlocal_groups={grouping!r} is not one of {', '.join(NONLOCAL_GROUPINGS)}")
    if num_joints == 16:
        return PAPER_GROUPS_16
    if num_joints == 17:
        return NONLOCAL_GROUPINGS[grouping]
    raise ConfigError(f"semgcn: no non-local grouping for num_joints={num_joints} (16 or 17)")


class SemGraphConv(FixedSpatialGraph):
    """Semantic graph convolution (model-specs §3.4, module docstring); ``(B, T, J, in) -> (B, T, J, out)``.

    Reuses DG-Net's ``FixedSpatialGraph(form='semgcn')``, which has exactly the official parameters
    (W: 2 x in x out, one logit per edge of A + I, bias) and forward; only the initialisation is the
    official one instead of that module's per-matrix Xavier and zero bias.
    """

    def __init__(self, in_channels: int, out_channels: int, skeleton: Skeleton):
        super().__init__(in_channels, out_channels, skeleton, form="semgcn")
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Official: xavier_uniform_(W, gain=1.414) on the 3-D tensor, logits 1, bias U(±1/sqrt(out)).
        nn.init.xavier_uniform_(self.weight, gain=1.414)
        nn.init.ones_(self.edge_logits)
        bound = 1.0 / math.sqrt(self.weight.shape[2])
        nn.init.uniform_(self.bias, -bound, bound)


class GroupedNonLocal(SpatialNonLocal):
    """SemGCN's graph non-local block (model-specs §3.4; code GraphNonLocal with ``sub_sample`` = group size).

    theta, phi, g: Linear C -> C/2 (the code's 1x1 convs); phi(x) and g(x) are max-pooled over each joint
    group, giving G pooled nodes; f_ig = ReLU(w^T [theta(x_i) || phi_g]) (w: 1 x C, no bias);
    y_i = (1/G) sum_g f_ig g_g; out = x + BN(W y) with the BN weight and bias zero (identity at init).
    Groups of unequal size are padded by repeating their first joint (a max is unchanged by repeats).
    Reuses ``graph_ops.SpatialNonLocal``'s layers (its forward is this one with singleton groups) and
    re-initialises them as the code does: Kaiming-normal weights, zero biases.
    """

    def __init__(self, channels: int, groups: tuple[tuple[int, ...], ...]):
        super().__init__(channels)
        width = max(len(g) for g in groups)
        index = [list(g) + [g[0]] * (width - len(g)) for g in groups]
        self.register_buffer("group_index", torch.tensor(index, dtype=torch.long), persistent=False)
        self.num_groups = len(groups)
        for lin in (self.g, self.theta, self.phi, self.concat_project, self.out):
            nn.init.kaiming_normal_(lin.weight)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)
        nn.init.zeros_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, J, C) -> (B, T, J, C); every frame is its own graph."""
        inter = self.g.out_features
        theta = self.theta(x)  # (B, T, J, I)
        phi = self.phi(x)[:, :, self.group_index].amax(dim=3)  # (B, T, G, I): max-pool per group
        g = self.g(x)[:, :, self.group_index].amax(dim=3)
        w_theta, w_phi = self.concat_project.weight[0, :inter], self.concat_project.weight[0, inter:]
        # w^T [theta_i || phi_g] split into its two halves, broadcast over (i, g).
        f = F.relu((theta @ w_theta)[..., :, None] + (phi @ w_phi)[..., None, :])  # (B, T, J, G)
        y = (f / self.num_groups) @ g
        return x + batch_norm_joints(self.bn, self.out(y))


class _GraphConvBlock(nn.Module):
    """SemGraphConv -> BN (per channel over frames and joints) -> ReLU [-> Dropout] (code: _GraphConv)."""

    def __init__(self, skeleton: Skeleton, in_channels: int, out_channels: int, dropout: float):
        super().__init__()
        self.gconv = SemGraphConv(in_channels, out_channels, skeleton)
        self.bn = nn.BatchNorm1d(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(F.relu(batch_norm_joints(self.bn, self.gconv(x))))


class _ResBlock(nn.Module):
    """Two graph-conv blocks with an identity skip (code: _ResGraphConv)."""

    def __init__(self, skeleton: Skeleton, channels: int, dropout: float):
        super().__init__()
        self.block1 = _GraphConvBlock(skeleton, channels, channels, dropout)
        self.block2 = _GraphConvBlock(skeleton, channels, channels, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block2(self.block1(x))


class SemGCN(nn.Module):
    """Frame-wise SemGCN lifter; see the module docstring for the equations and the contract.

    Arguments:
        num_joints -- joints in and out: 16 (the paper's graph, :data:`H36M_16`) or 17 (``H36M_17``).
        hid_dim -- channels C of the hidden graph convolutions (128).
        num_layers -- residual blocks (4).
        non_local -- insert a :class:`GroupedNonLocal` after the input layer and every residual block.
        dropout -- dropout after every hidden ReLU (0 = none, the paper's setting).
        nonlocal_groups -- joint grouping of the non-local block for 17 joints (``merge`` / ``separate``).
    """

    output_mode = "conv"
    receptive_field = 1
    causal_shift = 0
    in_features = 2

    def __init__(self, num_joints: int = 17, hid_dim: int = 128, num_layers: int = 4, non_local: bool = False,
                 dropout: float = 0.0, nonlocal_groups: str = "merge"):
        super().__init__()
        if num_joints not in SKELETONS:
            raise ConfigError(f"semgcn: num_joints={num_joints} has no graph; use 16 (paper) or 17 (H36M-17)")
        skeleton = SKELETONS[num_joints]
        self.skeleton = skeleton
        self.num_joints_in = self.num_joints_out = num_joints
        groups = nonlocal_groups_for(num_joints, nonlocal_groups) if non_local else None
        self.input = _GraphConvBlock(skeleton, self.in_features, hid_dim, dropout)
        self.input_nonlocal = GroupedNonLocal(hid_dim, groups) if non_local else nn.Identity()
        layers: list[nn.Module] = []
        for _ in range(num_layers):
            layers.append(_ResBlock(skeleton, hid_dim, dropout))
            if non_local:
                layers.append(GroupedNonLocal(hid_dim, groups))
        self.layers = nn.Sequential(*layers)
        self.output = SemGraphConv(hid_dim, 3, skeleton)

    def set_bn_momentum(self, momentum: float) -> None:
        _set_all_bn_momentum(self, momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dim() == 4, f"expected input (batch, frames, joints, features), got shape {tuple(x.shape)}"
        _, _, j, f = x.shape
        assert j == self.num_joints_in, f"expected {self.num_joints_in} input joints, got {j}"
        assert f == self.in_features, f"expected {self.in_features} features per joint, got {f}"
        h = self.input_nonlocal(self.input(x))
        return self.output(self.layers(h))


@register_model(
    "semgcn",
    citation="Zhao, Peng, Tian, Kapadia, Metaxas. Semantic Graph Convolutional Networks for 3D Human Pose "
             "Regression. CVPR 2019.",
    paper="SemGCN official README (garyzhao/SemGCN): H36M GT-2D P1/P2 42.14/33.53 (0.27M), +non-local "
          "40.78/31.46 (0.43M), SH fine-tuned +non-local 61.24/47.71; 16 joints in and out.",
    params={
        "num_joints=16": 267_343,
        "num_joints=16, non_local=True": 434_703,
        "num_joints=17": 267_373,
        "num_joints=17, non_local=True": 434_733,
    },
    presets={
        "paper16": {"num_joints": 16},
        "paper16_nonlocal": {"num_joints": 16, "non_local": True},
        "h36m17": {"num_joints": 17},
        "h36m17_nonlocal": {"num_joints": 17, "non_local": True},
    },
    notes="Paper: 16 joints (H36M-17 minus Neck/Nose) in and out; the harness default is the H36M-17 graph "
          "(+30 parameters: 3 more edge logits in each of 10 graph convolutions). For 17 joints the non-local "
          "block needs a group for Neck/Nose: nonlocal_groups='merge' (default, with Thorax and Head, 8 pooled "
          "nodes) or 'separate' (a ninth group). Official recipe: Adam 1e-3 x0.96 every 100k steps, batch 64, "
          "MSE loss, grad-norm clip 1, single frames, no flip, 50 (plain) / 30 (non-local) epochs; the "
          "harness's defaults differ (batch 1024, per-epoch decay 0.95, MPJPE loss, flip, no clip) unless the "
          "experiment sets train.batch_size=64, train.loss=mse, train.grad_clip=1, train.flip/eval.flip=false.",
)
def semgcn(num_joints: int = 17, hid_dim: int = 128, num_layers: int = 4, non_local: bool = False,
           dropout: float = 0.0, nonlocal_groups: str = "merge") -> SemGCN:
    """SemGCN (Zhao et al. 2019), frame-wise (receptive_field 1).

    Options:
        num_joints -- 17 (H36M-17 graph, default, runs on the harness data) or 16 (the paper's graph).
        hid_dim -- hidden channels (128, paper).
        num_layers -- residual blocks of two graph convolutions (4, paper).
        non_local -- add the graph non-local blocks (False; the README's best model sets it).
        dropout -- dropout after every hidden ReLU, in [0, 1) (0 = none, paper).
        nonlocal_groups -- 17 joints only: 'merge' puts Neck/Nose in the Thorax/Head group (8 groups),
            'separate' gives it its own group (9); 16 joints always use the paper's 8 pairs.
    """
    num_joints = int_option("semgcn", "num_joints", num_joints, 1)
    if num_joints not in SKELETONS:
        raise ConfigError(f"semgcn: num_joints={num_joints} has no graph; use 16 (paper) or 17 (H36M-17)")
    hid_dim = int_option("semgcn", "hid_dim", hid_dim, 2)  # the non-local block needs hid_dim // 2 >= 1
    num_layers = int_option("semgcn", "num_layers", num_layers, 0)
    if not isinstance(non_local, bool):
        raise ConfigError(f"semgcn: non_local={non_local!r} must be true or false")
    try:
        dropout = float(dropout)
    except (TypeError, ValueError):
        raise ConfigError(f"semgcn: dropout={dropout!r} must be a number in [0, 1)") from None
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"semgcn: dropout={dropout} must be in [0, 1)")
    if nonlocal_groups not in NONLOCAL_GROUPINGS:
        raise ConfigError(f"semgcn: nonlocal_groups={nonlocal_groups!r} is not one of "
                          f"{', '.join(NONLOCAL_GROUPINGS)}")
    return SemGCN(num_joints, hid_dim, num_layers, non_local, dropout, nonlocal_groups)
