"""FROZEN COPY of DG-Net as implemented before the speed work of issue 16 (bench/models/graph_ops.py and
bench/models/dgnet.py at commit 88b751c), kept only as the reference of tests/models/test_dgnet_equivalence.py:
the optimised model must give the same outputs and gradients with the same weights. Do not edit or import
it anywhere else."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bench.errors import ConfigError
from bench.skeleton import Skeleton, graph_skeleton

STATIC_STYLES = ("fixed", "full", "symmetry", "random")
GRAPH_STYLES = ("dynamical", "precomputed") + STATIC_STYLES
WEIGHTINGS = ("none", "fc", "embedded_gaussian")
AFFINITY_NORMS = ("softmax", "raw", "sigmoid")


def _check_features(x: torch.Tensor, where: str, channels: int | None = None) -> None:
    if x.dim() != 4 or (channels is not None and x.shape[-1] != channels):
        want = f"(B, T, J, {channels})" if channels is not None else "(B, T, J, C)"
        raise ValueError(f"{where}: expected features {want}, got {tuple(x.shape)}")


def knn_mask(features: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean ``(..., J, J)`` mask: row i marks the K joints nearest to joint i (Eq. 3-4, 10-11).

    ``features`` is ``(..., J, C)``; Euclidean distance between rows. The joint itself is always selected
    (forced first); ties among the others go to the lower index.
    """
    j = features.shape[-2]
    if not 1 <= k <= j:
        raise ValueError(f"K={k} must be between 1 and the number of joints ({j})")
    f = features.detach()
    flat = f.reshape(-1, j, f.shape[-1])
    # Direct differences, not the matrix-product shortcut: exact zeros for identical rows keep ties exact.
    dist = torch.cdist(flat, flat, compute_mode="donot_use_mm_for_euclid_dist")
    eye = torch.eye(j, dtype=torch.bool, device=f.device)
    dist = dist.masked_fill(eye, -1.0)
    idx = torch.sort(dist, dim=-1, stable=True).indices[..., :k]
    mask = torch.zeros_like(dist, dtype=torch.bool).scatter_(-1, idx, True)
    return mask.reshape(*features.shape[:-1], j)


def static_mask(style: str, k: int, skeleton: Skeleton, generator: torch.Generator | None = None) -> torch.Tensor:
    """The ``(J, J)`` boolean mask of a style that does not depend on the input.

    fixed: skeleton bones plus self. full: every pair. symmetry: bones, self and each joint's left/right
    counterpart (the symmetric connections of Fang et al. [35]; which edges exactly is [inferred]).
    random: self plus K-1 joints drawn without replacement (``generator`` makes it reproducible).
    """
    j = skeleton.num_joints
    if style == "fixed":
        m = skeleton.adjacency(self_loops=True) > 0
    elif style == "full":
        m = np.ones((j, j), dtype=bool)
    elif style == "symmetry":
        m = skeleton.adjacency(self_loops=True) > 0
        perm = skeleton.flip_permutation()
        m[np.arange(j), perm] = True
        m[perm, np.arange(j)] = True
    elif style == "random":
        scores = torch.rand(j, j, generator=generator)
        scores.fill_diagonal_(-1.0)  # self first
        idx = torch.argsort(scores, dim=-1)[:, :k]
        return torch.zeros(j, j, dtype=torch.bool).scatter_(-1, idx, True)
    else:
        raise ValueError(f"style {style!r} has no static mask")
    return torch.from_numpy(np.ascontiguousarray(m))


def batch_norm_joints(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over the channel axis of ``(B, T, J, C)`` features."""
    b, t, j, c = x.shape
    return bn(x.reshape(b, t * j, c).transpose(1, 2)).transpose(1, 2).reshape(b, t, j, c)


class AffinityWeighting(nn.Module):
    """Importance scores of the selected neighbours, R (Eq. 5) / H (Eq. 12), combined with the mask.

    ``kind``: ``fc`` = one Linear(2C -> 1) on [x_i, x_j] followed by LeakyReLU(0.2) (the paper's "fully
    connected layer" inside a "nonlinear mapping"; GAT-style, [inferred]), ``embedded_gaussian`` = (x_i W_theta)(x_j W_phi)^T with C/2 embedding channels (Wang et al.
    [42]), ``none`` = equal scores. ``norm`` (the paper gives none, [inferred]): ``softmax`` over the selected
    neighbours of each row (default; with ``none`` this is the neighbour mean), ``raw`` = D (.) R exactly as
    Eq. 6 reads, ``sigmoid`` = D (.) sigmoid(R).
    """

    def __init__(self, channels: int, kind: str = "fc", norm: str = "softmax"):
        super().__init__()
        if kind not in WEIGHTINGS:
            raise ConfigError(f"unknown weighting {kind!r}; choose one of {', '.join(WEIGHTINGS)}")
        if norm not in AFFINITY_NORMS:
            raise ConfigError(f"unknown affinity_norm {norm!r}; choose one of {', '.join(AFFINITY_NORMS)}")
        self.kind, self.norm = kind, norm
        if kind == "fc":
            self.query = nn.Linear(channels, 1)
            self.key = nn.Linear(channels, 1, bias=False)
        elif kind == "embedded_gaussian":
            inter = max(channels // 2, 1)
            self.theta = nn.Linear(channels, inter)
            self.phi = nn.Linear(channels, inter)

    def forward(self, query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """query, key: (B, T, J, C); mask: boolean, broadcastable to (B, T, J, J). Returns (B, T, J, J)."""
        if self.kind == "fc":
            # gamma([x_i, x_j]) = LeakyReLU(w^T [x_i, x_j] + b), the Linear split into a query and a key
            # term. The LeakyReLU makes gamma the "nonlinear mapping" of Eq. 5 and keeps the x_i term alive
            # under the row softmax (without it, a term constant along the row would cancel).
            scores = F.leaky_relu(self.query(query) + self.key(key).transpose(-1, -2), 0.2)
        elif self.kind == "embedded_gaussian":
            scores = self.theta(query) @ self.phi(key).transpose(-1, -2)
        else:
            scores = query.new_zeros(query.shape[:-1] + (key.shape[-2],))
        mask = mask.expand(scores.shape)
        if self.norm == "softmax":
            return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        if self.norm == "sigmoid":
            scores = torch.sigmoid(scores)
        elif self.kind == "none":
            scores = torch.ones_like(scores)
        return scores * mask


class FixedSpatialGraph(nn.Module):
    """FSG, Eq. 2: Y_t = A X_t Theta over the skeleton graph, per frame.

    ``form='semgcn'`` (default, [inferred] from "follows SemGCN practice"): SemGraphConv on A + I with a
    learnable logit per edge, row softmax and separate weights for the joint itself and its neighbours.
    ``form='plain'``: D^-1 (A + I) X Theta with one weight matrix.
    """

    def __init__(self, in_channels: int, out_channels: int, skeleton: Skeleton, form: str = "semgcn"):
        super().__init__()
        if form not in ("semgcn", "plain"):
            raise ConfigError(f"unknown fsg form {form!r}; choose semgcn or plain")
        self.form, self.in_channels = form, in_channels
        adj = torch.from_numpy(skeleton.adjacency(self_loops=True) > 0)
        self.register_buffer("mask", adj, persistent=False)
        if form == "semgcn":
            self.weight = nn.Parameter(torch.empty(2, in_channels, out_channels))
            nn.init.xavier_uniform_(self.weight[0], gain=1.414)
            nn.init.xavier_uniform_(self.weight[1], gain=1.414)
            self.edge_logits = nn.Parameter(torch.ones(int(adj.sum())))
        else:
            deg = adj.sum(-1, keepdim=True).float()
            self.register_buffer("norm_adj", adj.float() / deg, persistent=False)
            self.weight = nn.Parameter(torch.empty(in_channels, out_channels))
            nn.init.xavier_uniform_(self.weight, gain=1.414)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, **_) -> torch.Tensor:
        _check_features(x, "FixedSpatialGraph", self.in_channels)
        if self.form == "plain":
            return self.norm_adj @ (x @ self.weight) + self.bias
        logits = torch.full(self.mask.shape, float("-inf"), device=x.device, dtype=x.dtype)
        logits = logits.masked_scatter(self.mask, self.edge_logits.to(x.dtype))
        adj = torch.softmax(logits, dim=-1)
        eye = torch.eye(adj.shape[0], device=x.device, dtype=x.dtype)
        h_self, h_nb = x @ self.weight[0], x @ self.weight[1]
        return (adj * eye) @ h_self + (adj * (1 - eye)) @ h_nb + self.bias


class _NeighbourGraph(nn.Module):
    """What the DSG and the DTG share: K, the connection style, and the choice of the neighbour mask
    (Table VII): KNN on the given features (``dynamical``), the network's mask from the 2D input
    (``precomputed``) or a static mask built once (``STATIC_STYLES``)."""

    def __init__(self, channels: int, k: int, skeleton: Skeleton, style: str,
                 generator: torch.Generator | None):
        super().__init__()
        self.channels, self.k, self.style = channels, k, style
        if style in STATIC_STYLES:
            self.register_buffer("static", static_mask(style, k, skeleton, generator))
        else:
            self.static = None

    def _select(self, knn_features: torch.Tensor, precomputed: torch.Tensor | None, what: str) -> torch.Tensor:
        if self.style == "dynamical":
            return knn_mask(knn_features, self.k)
        if self.style == "precomputed":
            if precomputed is None:
                raise ValueError(f"{type(self).__name__}(style='precomputed') needs {what}")
            return precomputed
        return self.static


class DynamicalSpatialGraph(_NeighbourGraph):
    """DSG, Eq. 3-7: Y_t = (D_t (.) R_t) X_t Phi.

    D_t marks each joint's K nearest joints in this layer's input features of frame t (``style='dynamical'``);
    other styles replace D_t (Table VII): ``precomputed`` (K nearest in the 2D input pose, passed in by the
    network), ``fixed`` / ``full`` / ``symmetry`` / ``random`` (static masks, see :func:`static_mask`).
    """

    def __init__(self, channels: int, k: int, skeleton: Skeleton, style: str = "dynamical",
                 weighting: str = "fc", norm: str = "softmax", generator: torch.Generator | None = None):
        super().__init__(channels, k, skeleton, style, generator)
        self.weighting = AffinityWeighting(channels, weighting, norm)
        self.linear = nn.Linear(channels, channels)  # Phi, plus a bias

    def neighbours(self, x: torch.Tensor, spatial_mask: torch.Tensor | None) -> torch.Tensor:
        """(B, T, J, J) mask: row i = the K joints nearest to joint i in frame t (Eq. 3-4)."""
        return self._select(x, spatial_mask, "spatial_mask")

    def forward(self, x: torch.Tensor, spatial_mask: torch.Tensor | None = None, **_) -> torch.Tensor:
        _check_features(x, "DynamicalSpatialGraph", self.channels)
        mask = self.neighbours(x, spatial_mask)
        affinity = self.weighting(x, x, mask)  # B_t = D_t (.) R_t
        return affinity @ self.linear(x)


class FixedTemporalGraph(nn.Module):
    """FTG, Eq. 9: Y_t = X_t W_x + X_{t+1} W_f + X_{t-1} W_b (a kernel-3 temporal convolution per joint;
    zero padding: a missing neighbour frame contributes nothing)."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.conv = nn.Conv1d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, **_) -> torch.Tensor:
        _check_features(x, "FixedTemporalGraph", self.channels)
        b, t, j, c = x.shape
        h = x.permute(0, 2, 3, 1).reshape(b * j, c, t)
        return self.conv(h).reshape(b, j, c, t).permute(0, 3, 1, 2)


class DynamicalTemporalGraph(_NeighbourGraph):
    """DTG, Eq. 10-14: Y_t = X_t U_x + Q_{t+1} X_{t+1} U_f + Q_{t-1} X_{t-1} U_b.

    Forward set of joint i at t (Eq. 10): the K joints j whose motion x_{t+1}^j - x_t^j is nearest to
    x_{t+1}^i - x_t^i; the backward set at t uses the motions x_t - x_{t-1}. Both sets come from the same
    motion matrix M_t = X_{t+1} - X_t (forward of frame t, backward of frame t+1), so one KNN per frame
    pair serves both. Q = L (.) H with H from alpha / beta (Eq. 12-13). At the first / last frame the
    missing neighbour frame contributes nothing (zero padding, [inferred]). Needs T >= 2.
    """

    def __init__(self, channels: int, k: int, skeleton: Skeleton, style: str = "dynamical",
                 weighting: str = "fc", norm: str = "softmax", generator: torch.Generator | None = None):
        super().__init__(channels, k, skeleton, style, generator)
        self.self_linear = nn.Linear(channels, channels)  # U_x (+ bias)
        self.forward_linear = nn.Linear(channels, channels, bias=False)  # U_f
        self.backward_linear = nn.Linear(channels, channels, bias=False)  # U_b
        self.alpha = AffinityWeighting(channels, weighting, norm)
        self.beta = AffinityWeighting(channels, weighting, norm)

    def neighbours(self, x: torch.Tensor, motion_mask: torch.Tensor | None) -> torch.Tensor:
        """(B, T-1, J, J) mask: row i of pair (t, t+1) = joints with motion nearest to joint i's."""
        motion = x[:, 1:] - x[:, :-1] if self.style == "dynamical" else x
        return self._select(motion, motion_mask, "motion_mask")

    def forward(self, x: torch.Tensor, motion_mask: torch.Tensor | None = None, **_) -> torch.Tensor:
        _check_features(x, "DynamicalTemporalGraph", self.channels)
        if x.shape[1] < 2:
            raise ValueError(f"DynamicalTemporalGraph needs at least 2 frames, got {x.shape[1]}")
        cur, nxt = x[:, :-1], x[:, 1:]
        mask = self.neighbours(x, motion_mask)
        q_forward = self.alpha(cur, nxt, mask)  # frames 0..T-2 look at t+1
        q_backward = self.beta(nxt, cur, mask)  # frames 1..T-1 look at t-1
        zero = x.new_zeros(x.shape[0], 1, x.shape[2], self.channels)
        fwd = torch.cat([q_forward @ self.forward_linear(nxt), zero], dim=1)
        bwd = torch.cat([zero, q_backward @ self.backward_linear(cur)], dim=1)
        return self.self_linear(x) + fwd + bwd


class SpatialNonLocal(nn.Module):
    """SemGCN's non-local block (concatenation form) over the joints of each frame: f_ij = ReLU(w^T
    [theta(x_i), phi(x_j)]), y_i = (1/J) sum_j f_ij g(x_j), out = x + BN(W y), with the output BN
    initialised to zero so the block starts as the identity. Inter width ``channels // 2``."""

    def __init__(self, channels: int):
        super().__init__()
        inter = max(channels // 2, 1)
        self.channels = channels
        self.g = nn.Linear(channels, inter)
        self.theta = nn.Linear(channels, inter)
        self.phi = nn.Linear(channels, inter)
        self.concat_project = nn.Linear(2 * inter, 1, bias=False)
        self.out = nn.Linear(inter, channels)
        self.bn = nn.BatchNorm1d(channels)
        nn.init.zeros_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_features(x, "SpatialNonLocal", self.channels)
        inter = self.g.out_features
        w_theta, w_phi = self.concat_project.weight[0, :inter], self.concat_project.weight[0, inter:]
        f = F.relu((self.theta(x) @ w_theta)[..., :, None] + (self.phi(x) @ w_phi)[..., None, :])
        y = (f / x.shape[2]) @ self.g(x)
        return x + batch_norm_joints(self.bn, self.out(y))


SPATIAL_OPS = ("FSG", "DSG")
TEMPORAL_OPS = ("FTG", "DTG")


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


class GraphResidual(nn.Module):
    """Residual module of two [graph op -> BN -> ReLU (-> dropout)] layers with an identity skip (SemGCN's
    residual block, [inferred] for "residual-style module built by two layers")."""

    def __init__(self, make_op, channels: int, dropout: float):
        super().__init__()
        self.op1, self.op2 = make_op(), make_op()
        self.bn1, self.bn2 = nn.BatchNorm1d(channels), nn.BatchNorm1d(channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, **graphs) -> torch.Tensor:
        h = self.dropout(torch.relu(batch_norm_joints(self.bn1, self.op1(x, **graphs))))
        h = self.dropout(torch.relu(batch_norm_joints(self.bn2, self.op2(h, **graphs))))
        return x + h


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

    Balanced coordinates (Table XI, off by default, [inferred] from "concatenation of the predicted depth of
    each joint and UV coordinates ... we simply average"): a depth head predicts each joint's depth
    relative to the root; the input (u, v) are back-projected with the camera intrinsics and the
    **ground-truth root depth** (the paper never says where the absolute depth comes from; using the ground
    truth leaks test information, so runs with this option are labelled), made root-relative and averaged
    with the xyz head. Needs ``num_joints_in == num_joints_out`` and ``context``.
    """

    output_mode = "seq2seq"
    causal_shift = 0
    in_features = 2
    eval_step = 1  # sliding-window stride at test time (model-specs.md 4.2: stride 1, averaged)

    def __init__(self, num_joints_in: int = 17, num_joints_out: int = 17, frames: int = 4, blocks: int = 5,
                 channels: int = 128, dsg_k: int = 3, dtg_k: int = 4, graph_style: str = "dynamical",
                 weighting: str = "fc", affinity_norm: str = "softmax", spatial_unit: str = "FSG+DSG",
                 temporal_unit: str = "FTG+DTG+FTG", non_local: bool = True, supervision: str = "multi_level",
                 block_loss_weight: float = 0.1, balanced_coordinates: bool = False, fsg_form: str = "semgcn",
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
        self.balanced = balanced_coordinates
        self.needs_context = balanced_coordinates
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
        h = torch.relu(batch_norm_joints(self.stem_bn, self.stem(x)))
        feats, block_poses = [], []
        for block in self.blocks:
            h, pose = block(h, **graphs)
            feats.append(h)
            block_poses.append(pose)
        cat = torch.cat(feats, dim=-1)
        pose = self.head(cat)
        if self.balanced:
            pose = (pose + self._back_project(x, self.depth_head(cat)[..., 0], context)) / 2
        return pose, block_poses

    @staticmethod
    def _back_project(uv: torch.Tensor, rel_depth: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """(u, v) normalised + per-joint depth relative to the root -> root-relative xyz (metres)."""
        if context is None or context.dim() != 3 or context.shape[-1] != 5 or context.shape[:2] != uv.shape[:2]:
            raise ValueError("dgnet(balanced_coordinates=True) needs context (B, T, 5) = "
                             "[fx, fy, cx, cy, root depth]")
        f, c, root_z = context[..., None, 0:2], context[..., None, 2:4], context[..., 4:5]
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
