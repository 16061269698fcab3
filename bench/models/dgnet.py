"""DG-Net: dynamical spatial/temporal graph convolution (Zhang et al., TIP 2021; model-specs.md 4.2).

Network (section III-C, Fig. 3): an FSG stem maps each frame's 2D pose to C = 128 channels; N = 5 DG-Conv
blocks follow, each = spatial unit (``FSG+DSG``) -> spatial non-local -> temporal unit (``FTG+DTG+FTG``) ->
spatial non-local, every graph operation a residual module of two [op -> BN -> ReLU] layers. Each block
maps its features to a 3D pose (block level); the network head maps the concatenated features of all
blocks to 3D (network level). Loss (Eq. 15-17): L = L_net + lambda * sum_b L_b, lambda = 0.1.

Module contract: ``output_mode = "seq2seq"``; input ``(B, T, J, 2)`` with T = ``frames`` gives
``(B, T, J, 3)`` root-relative poses (the engine slides a T-frame window over each test sequence, stride 1,
and averages the predictions of each frame). ``receptive_field = frames``. With balanced coordinates
(``balanced_coordinates='predicted'``, or the ``'oracle'`` that reads the ground-truth root depth) the model
also needs a per-frame context ``(B, T, 5)`` = normalised [f_x, f_y, c_x, c_y] and the ground-truth root
depth (``needs_context``; only the oracle reads the depth), see :class:`DGNet`.

Every choice the paper leaves open is an option of :func:`dgnet` with the default of model-specs.md 4.2.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from bench.errors import ConfigError
from bench.models.graph_ops import (AFFINITY_NORMS, GRAPH_STYLES, WEIGHTINGS, DynamicalSpatialGraph,
                                    DynamicalTemporalGraph, FixedSpatialGraph, FixedTemporalGraph,
                                    SpatialNonLocal, batch_norm_joints, knn_mask)
from bench.registry import register_model
from bench.skeleton import Skeleton, graph_skeleton

SPATIAL_OPS = ("FSG", "DSG")
TEMPORAL_OPS = ("FTG", "DTG")
#: balanced_coordinates: off, the paper's (every joint's depth predicted), or the ground-truth root depth
BALANCED = (False, "predicted", "oracle")
#: Root depth (metres) the ``predicted`` root-depth head starts from (its bias, log scale; learnt): a typical
#: camera distance (the stand-in's root depths: 2.2-7.9 m, mean 5.1 m; Human3.6M's are of the same order).
ROOT_DEPTH_INIT = 5.0
#: The predicted root depth is kept within [0.5, 50] m (the log-depth output is clamped).
ROOT_DEPTH_RANGE = (0.5, 50.0)


def parse_unit(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    """``'FTG+DTG+FTG'`` -> ['FTG', 'DTG', 'FTG'] (Table VIII notation); ``'none'`` or '' -> []."""
    if not isinstance(text, str):
        raise ConfigError(f"{what} must be a string such as {'+'.join(allowed)}, got {text!r}")
    if text.strip().lower() in ("", "none"):
        return []
    ops = [p.strip().upper() for p in text.split("+")]
    bad = [p for p in ops if p not in allowed]
    if bad:
        raise ConfigError(f"{what}: unknown unit {bad[0]!r} in {text!r}; allowed: {', '.join(allowed)} "
                          f"joined by '+', or 'none'")
    return ops


def _init_head(layer: nn.Linear) -> None:
    """Output heads start at zero: the residual stack's features grow to several units over five blocks,
    and a default-initialised head would start at metres of error (not in the paper; an init choice)."""
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)


def dropout_channels_first(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout of ``(B, T, J, C)`` features whose mask is drawn in (B, C, T, J) memory order: the order in
    which the first implementation (channels-first BatchNorm output) drew it, so that a seeded run with
    dropout keeps its random stream."""
    if not training or p == 0:
        return x
    b, t, j, c = x.shape
    keep = x.new_empty(b, c, t, j).bernoulli_(1 - p).div_(1 - p)
    return x * keep.permute(0, 2, 3, 1)


class GraphResidual(nn.Module):
    """Residual module of two [graph op -> BN -> ReLU (-> dropout)] layers with an identity skip (SemGCN's
    residual block, [inferred] for "residual-style module built by two layers")."""

    def __init__(self, make_op, channels: int, dropout: float):
        super().__init__()
        self.op1, self.op2 = make_op(), make_op()
        self.bn1, self.bn2 = nn.BatchNorm1d(channels), nn.BatchNorm1d(channels)
        self.p = dropout

    def forward(self, x: torch.Tensor, **graphs) -> torch.Tensor:
        h = batch_norm_joints(self.bn1, self.op1(x, **graphs), relu=True)
        h = dropout_channels_first(h, self.p, self.training)
        h = batch_norm_joints(self.bn2, self.op2(h, **graphs), relu=True)
        return x + dropout_channels_first(h, self.p, self.training)


class DGConvBlock(nn.Module):
    """One DG-Conv block (Fig. 3): spatial unit -> [non-local] -> temporal unit -> [non-local] -> 3D head."""

    def __init__(self, channels: int, joints_out: int, spatial: list[str], temporal: list[str],
                 skeleton: Skeleton, dsg_k: int, dtg_k: int, graph_style: str, weighting: str,
                 affinity_norm: str, fsg_form: str, non_local: bool, dropout: float,
                 generator: torch.Generator):
        super().__init__()

        def make(op: str):
            if op == "FSG":
                return lambda: FixedSpatialGraph(channels, channels, skeleton, fsg_form)
            if op == "DSG":
                return lambda: DynamicalSpatialGraph(channels, dsg_k, skeleton, graph_style, weighting,
                                                     affinity_norm, generator)
            if op == "FTG":
                return lambda: FixedTemporalGraph(channels)
            return lambda: DynamicalTemporalGraph(channels, dtg_k, skeleton, graph_style, weighting,
                                                  affinity_norm, generator)

        self.spatial = nn.ModuleList(GraphResidual(make(op), channels, dropout) for op in spatial)
        self.temporal = nn.ModuleList(GraphResidual(make(op), channels, dropout) for op in temporal)
        self.nl_spatial = SpatialNonLocal(channels) if non_local and spatial else None
        self.nl_temporal = SpatialNonLocal(channels) if non_local and temporal else None
        self.head = nn.Linear(channels, 3)
        _init_head(self.head)
        self.joints_out = joints_out

    def forward(self, x: torch.Tensor, **graphs) -> tuple[torch.Tensor, torch.Tensor]:
        for m in self.spatial:
            x = m(x, **graphs)
        if self.nl_spatial is not None:
            x = self.nl_spatial(x)
        for m in self.temporal:
            x = m(x, **graphs)
        if self.nl_temporal is not None:
            x = self.nl_temporal(x)
        return x, self.head(x)


class DGNet(nn.Module):
    """DG-Net; see the module docstring and :func:`dgnet` for the options.

    Balanced coordinates (Table XI, off by default; "The second [coordinate system] refers to concatenation
    of the predicted depth of each joint and UV coordinates extracted from 2D pose detector. We simply
    average 3D pose estimation from two coordinate systems"): the network predicts the (absolute) depth of
    every joint, z_j = z_root + d_j, with d_j from a per-joint depth head (relative to the root) and z_root
    from a root-depth head on the joint-averaged features (per frame, log scale, starting at
    ``ROOT_DEPTH_INIT`` metres); the input (u, v) are back-projected with the camera intrinsics,
    (x, y) = (uv - c) / f * z_j, made root-relative and averaged with the xyz head. Both heads learn only
    from the pose loss (no depth supervision, as in the paper); nothing of the ground truth is read, at
    training or test time (``balanced_coordinates='predicted'``).

    ``balanced_coordinates='oracle'`` is the earlier reading, kept as an explicit oracle: z_root is the
    **ground-truth root depth** from the context (test information; its cells must be labelled oracle).
    ``true`` is refused: it meant the oracle before the predicted depth existed. Needs
    ``num_joints_in == num_joints_out`` and ``context`` (intrinsics; the oracle also the root depth).
    """

    output_mode = "seq2seq"
    causal_shift = 0
    in_features = 2
    eval_step = 1  # sliding-window stride at test time (model-specs.md 4.2: stride 1, averaged)

    def __init__(self, num_joints_in: int = 17, num_joints_out: int = 17, frames: int = 4, blocks: int = 5,
                 channels: int = 128, dsg_k: int = 3, dtg_k: int = 4, graph_style: str = "dynamical",
                 weighting: str = "fc", affinity_norm: str = "softmax", spatial_unit: str = "FSG+DSG",
                 temporal_unit: str = "FTG+DTG+FTG", non_local: bool = True, supervision: str = "multi_level",
                 block_loss_weight: float = 0.1, balanced_coordinates: bool | str = False, fsg_form: str = "semgcn",
                 dropout: float = 0.0, random_graph_seed: int = 0):
        super().__init__()
        spatial = parse_unit(spatial_unit, SPATIAL_OPS, "spatial_unit")
        temporal = parse_unit(temporal_unit, TEMPORAL_OPS, "temporal_unit")
        skeleton = graph_skeleton(num_joints_in, "dgnet")
        for name, value, low in (("frames", frames, 1), ("blocks", blocks, 1), ("channels", channels, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"dgnet: {name} must be an integer >= {low}, got {value!r}")
        if not spatial and not temporal:
            raise ConfigError("dgnet: spatial_unit and temporal_unit are both empty")
        if graph_style not in GRAPH_STYLES:
            raise ConfigError(f"dgnet: unknown graph_style {graph_style!r}; choose one of {', '.join(GRAPH_STYLES)}")
        if weighting not in WEIGHTINGS:
            raise ConfigError(f"dgnet: unknown weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
        if affinity_norm not in AFFINITY_NORMS:
            raise ConfigError(f"dgnet: unknown affinity_norm {affinity_norm!r}; "
                              f"choose one of {', '.join(AFFINITY_NORMS)}")
        if supervision not in ("multi_level", "network"):
            raise ConfigError(f"dgnet: supervision must be multi_level or network, got {supervision!r}")
        for name, k in (("dsg_k", dsg_k), ("dtg_k", dtg_k)):
            if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= num_joints_in:
                raise ConfigError(f"dgnet: {name}={k!r} must be an integer between 1 and the number of "
                                  f"joints ({num_joints_in})")
        if "DTG" in temporal and frames < 2:
            raise ConfigError(f"dgnet: the DTG needs at least 2 frames (frames={frames}); "
                              f"use temporal_unit without DTG for single frames")
        if balanced_coordinates is True:
            raise ConfigError("dgnet: balanced_coordinates=true is ambiguous: use 'predicted' (the paper: every "
                              "joint's depth predicted, nothing of the ground truth read) or 'oracle' (the "
                              "ground-truth root depth, test information; what true meant before)")
        if not (balanced_coordinates is False or balanced_coordinates in BALANCED[1:]):
            raise ConfigError(f"dgnet: balanced_coordinates={balanced_coordinates!r} must be false, predicted "
                              f"or oracle")
        if balanced_coordinates and num_joints_in != num_joints_out:
            raise ConfigError("dgnet: balanced_coordinates needs num_joints_in == num_joints_out")
        if block_loss_weight < 0:
            raise ConfigError(f"dgnet: block_loss_weight must be >= 0, got {block_loss_weight}")
        if num_joints_out != num_joints_in:
            raise ConfigError("dgnet: graph blocks keep the joint set; num_joints_out must equal num_joints_in")
        self.num_joints_in, self.num_joints_out = num_joints_in, num_joints_out
        self.receptive_field = frames
        self.train_out_frames = frames
        self.graph_style, self.dsg_k, self.dtg_k = graph_style, dsg_k, dtg_k
        self.supervision, self.block_loss_weight = supervision, block_loss_weight
        self.balanced = balanced_coordinates or None  # None, 'predicted' or 'oracle'
        self.needs_context = bool(balanced_coordinates)
        gen = torch.Generator().manual_seed(random_graph_seed)
        self.stem = FixedSpatialGraph(2, channels, skeleton, fsg_form)
        self.stem_bn = nn.BatchNorm1d(channels)
        self.blocks = nn.ModuleList(
            DGConvBlock(channels, num_joints_out, spatial, temporal, skeleton, dsg_k, dtg_k, graph_style,
                        weighting, affinity_norm, fsg_form, non_local, dropout, gen)
            for _ in range(blocks))
        self.head = nn.Linear(blocks * channels, 3)
        _init_head(self.head)
        self.depth_head = nn.Linear(blocks * channels, 1) if balanced_coordinates else None
        if self.depth_head is not None:
            _init_head(self.depth_head)
        self.root_depth_head = None
        if balanced_coordinates == "predicted":  # log root depth per frame, from the joint-averaged features
            self.root_depth_head = nn.Linear(blocks * channels, 1)
            _init_head(self.root_depth_head)
            with torch.no_grad():
                self.root_depth_head.bias.fill_(math.log(ROOT_DEPTH_INIT))

    def _precomputed(self, x: torch.Tensor) -> dict:
        """Neighbour masks found once from the 2D input and frozen for every layer (Table VII)."""
        if self.graph_style != "precomputed":
            return {}
        graphs = {"spatial_mask": knn_mask(x, self.dsg_k)}
        if x.shape[1] >= 2:
            graphs["motion_mask"] = knn_mask(x[:, 1:] - x[:, :-1], self.dtg_k)
        return graphs

    def forward_all(self, x: torch.Tensor, context: torch.Tensor | None = None):
        """(network-level pose, [block-level poses]), each (B, T, J, 3)."""
        if x.dim() != 4 or x.shape[2] != self.num_joints_in or x.shape[3] != 2:
            raise ValueError(f"dgnet: expected input (B, T, {self.num_joints_in}, 2), got {tuple(x.shape)}")
        graphs = self._precomputed(x)
        h = batch_norm_joints(self.stem_bn, self.stem(x), relu=True)
        feats, block_poses = [], []
        for block in self.blocks:
            h, pose = block(h, **graphs)
            feats.append(h)
            block_poses.append(pose)
        cat = torch.cat(feats, dim=-1)
        pose = self.head(cat)
        if self.balanced:
            root_z = self.predicted_root_depth(cat) if self.root_depth_head is not None else None
            pose = (pose + self._back_project(x, self.depth_head(cat)[..., 0], context, root_z)) / 2
        return pose, block_poses

    def predicted_root_depth(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, J, C) concatenated block features -> (B, T, 1) root depth in metres (``predicted``)."""
        lo, hi = ROOT_DEPTH_RANGE
        return torch.exp(self.root_depth_head(feats.mean(2)).clamp(math.log(lo), math.log(hi)))

    @staticmethod
    def _back_project(uv: torch.Tensor, rel_depth: torch.Tensor, context: torch.Tensor | None,
                      root_depth: torch.Tensor | None = None) -> torch.Tensor:
        """(u, v) normalised + per-joint depth relative to the root -> root-relative xyz (metres).
        ``root_depth`` (B, T, 1): the predicted root depth; None = the ground-truth root depth of the context
        (the oracle)."""
        if context is None or context.dim() != 3 or context.shape[-1] != 5 or context.shape[:2] != uv.shape[:2]:
            raise ValueError("dgnet(balanced_coordinates) needs context (B, T, 5) = "
                             "[fx, fy, cx, cy, root depth]")
        f, c = context[..., None, 0:2], context[..., None, 2:4]
        root_z = context[..., 4:5] if root_depth is None else root_depth
        z = root_z + rel_depth
        xy = (uv - c) / f * z[..., None]
        xyz = torch.cat([xy, z[..., None]], dim=-1)
        return xyz - xyz[:, :, :1]

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_all(x, context)[0]

    def loss_terms(self, x: torch.Tensor, target: torch.Tensor, loss_fn, context: torch.Tensor | None = None):
        """Eq. 17: L_net + lambda * sum_b L_b (``supervision='network'``: Eq. 16 only). Returns (loss, pose)."""
        pose, block_poses = self.forward_all(x, context)
        loss = loss_fn(pose, target)
        if self.supervision == "multi_level" and self.block_loss_weight > 0:
            loss = loss + self.block_loss_weight * sum(loss_fn(p, target) for p in block_poses)
        return loss, pose


@register_model(
    "dgnet",
    citation="J. Zhang, Y. Wang, Z. Zhou, T. Luan, Z. Wang, Y. Qiao, \"Learning Dynamical Human-Joint "
             "Affinity for 3D Pose Estimation in Videos\", IEEE TIP 2021",
    paper="dgnet",
    params={"frames=4": 2_333_003},
    notes="No official code. Parameter count at the defaults is ours (2,333,003), not published: the "
          "paper's Fig. 4 implies about 2.7M (84.1% fewer than VideoPose3D's 16.95M). Every open choice is an "
          "option (model-specs.md 4.2).",
)
def dgnet(num_joints_in: int = 17, num_joints_out: int = 17, frames: int = 4, blocks: int = 5,
          channels: int = 128, dsg_k: int = 3, dtg_k: int = 4, graph_style: str = "dynamical",
          weighting: str = "fc", affinity_norm: str = "softmax", spatial_unit: str = "FSG+DSG",
          temporal_unit: str = "FTG+DTG+FTG", non_local: bool = True, supervision: str = "multi_level",
          block_loss_weight: float = 0.1, balanced_coordinates: bool | str = False, fsg_form: str = "semgcn",
          dropout: float = 0.0, random_graph_seed: int = 0) -> DGNet:
    """DG-Net (Zhang et al., TIP 2021). Options (paper values where it fixes them, else model-specs.md 4.2):

    frames -- T input (= output) frames, 4 (Table IX). blocks -- DG-Conv blocks, 5 (Table IX).
    channels -- feature width of every graph op, 128. dsg_k / dtg_k -- K of the DSG / DTG, 3 / 4 (Table VI),
    the joint itself counted. graph_style -- DSG/DTG connections (Table VII): dynamical (KNN on each layer's
    input features, Eq. 3 / 10), precomputed (KNN on the 2D input, frozen), fixed (skeleton), full,
    symmetry, random. weighting -- R / H of Eq. 5 / 12: fc (paper), embedded_gaussian, none.
    affinity_norm -- normalisation of the weighted affinity (not in the paper): softmax over the selected
    neighbours (default), raw, sigmoid. spatial_unit / temporal_unit -- ops of a block in Table VIII
    notation ('FSG+DSG', 'FTG+DTG+FTG'; 'none' drops the unit). non_local -- spatial non-local block after
    each unit. supervision -- multi_level (Eq. 17) or network (Eq. 16); block_loss_weight -- lambda, 0.1.
    balanced_coordinates -- Table XI's averaged xyz / uv+depth output: false (default), predicted (the
    paper: every joint's depth predicted, no ground truth read) or oracle (the ground-truth root depth from
    the context: test information, label its cells).
    fsg_form -- semgcn (learnable edge weights) or plain (normalised skeleton). dropout -- after every
    graph layer, 0 (not mentioned). random_graph_seed -- seed of the ``random`` style's graphs.
    """
    return DGNet(num_joints_in, num_joints_out, frames, blocks, channels, dsg_k, dtg_k, graph_style, weighting,
                 affinity_norm, spatial_unit, temporal_unit, non_local, supervision, block_loss_weight,
                 balanced_coordinates, fsg_form, dropout, random_graph_seed)
