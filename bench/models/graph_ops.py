"""Graph operations of DG-Net (Zhang et al., TIP 2021, section III; model-specs.md section 4.2).

Features are laid out as ``(B, T, J, C)``: batch, frames, joints, channels. Every operation maps
``(B, T, J, C_in) -> (B, T, J, C_out)`` and builds its affinities with batched tensor operations (no Python
loops over joints, frames or samples).

* :class:`FixedSpatialGraph` (FSG, Eq. 1-2): skeleton affinity, SemGCN-style by default.
* :class:`DynamicalSpatialGraph` (DSG, Eq. 3-7): per-frame K nearest joints in the layer's input features,
  weighted affinity B = D (.) R.
* :class:`FixedTemporalGraph` (FTG, Eq. 8-9): each joint sees itself at t-1, t, t+1.
* :class:`DynamicalTemporalGraph` (DTG, Eq. 10-14): forward/backward K nearest joints by motion-vector
  distance, weighted Q = L (.) H.
* :class:`SpatialNonLocal`: SemGCN's concatenation non-local block over the joints of each frame.

KNN convention (model-specs.md 4.2): the joint itself is always one of its K neighbours (distance 0; it is
forced first so that another joint with identical features cannot push it out); remaining ties are broken
by the lower joint index (stable sort). Neighbour indices carry no gradient; the weights do.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bench.errors import ConfigError
from bench.skeleton import Skeleton

STATIC_STYLES = ("fixed", "full", "symmetry", "random")
GRAPH_STYLES = ("dynamical", "precomputed") + STATIC_STYLES
WEIGHTINGS = ("none", "fc", "embedded_gaussian")
AFFINITY_NORMS = ("softmax", "raw", "sigmoid")


def _check_features(x: torch.Tensor, where: str, channels: int | None = None) -> None:
    if x.dim() != 4 or (channels is not None and x.shape[-1] != channels):
        want = f"(B, T, J, {channels})" if channels is not None else "(B, T, J, C)"
        raise ValueError(f"{where}: expected features {want}, got {tuple(x.shape)}")


def _knn_indices(features: torch.Tensor, k: int) -> torch.Tensor:
    """``(N, J, K)`` indices of the K joints nearest to each joint, over the flattened leading axes of
    ``features`` ``(..., J, C)``; the joint itself first, ties to the lower index. No gradient."""
    j = features.shape[-2]
    if not 1 <= k <= j:
        raise ValueError(f"K={k} must be between 1 and the number of joints ({j})")
    with torch.no_grad():
        flat = features.reshape(-1, j, features.shape[-1])
        # Direct differences, not the matrix-product shortcut: exact zeros for identical rows keep ties exact.
        dist = torch.cdist(flat, flat, compute_mode="donot_use_mm_for_euclid_dist")
        dist.diagonal(dim1=-2, dim2=-1).fill_(-1.0)  # self first, even against an identical joint
        return torch.sort(dist, dim=-1, stable=True).indices[..., :k]


def knn_mask(features: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean ``(..., J, J)`` mask: row i marks the K joints nearest to joint i (Eq. 3-4, 10-11).

    ``features`` is ``(..., J, C)``; Euclidean distance between rows. The joint itself is always selected
    (forced first); ties among the others go to the lower index.
    """
    idx = _knn_indices(features, k)
    mask = torch.zeros(idx.shape[:-1] + (idx.shape[-2],), dtype=torch.bool, device=idx.device)
    return mask.scatter_(-1, idx, True).view(*features.shape[:-1], features.shape[-2])


def knn_exclusion(features: torch.Tensor, k: int) -> torch.Tensor:
    """``~knn_mask(features, k)`` built directly: True where j is NOT one of i's K neighbours (what the
    affinity normalisation masks out)."""
    idx = _knn_indices(features, k)
    exclude = torch.ones(idx.shape[:-1] + (idx.shape[-2],), dtype=torch.bool, device=idx.device)
    return exclude.scatter_(-1, idx, False).view(*features.shape[:-1], features.shape[-2])


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


def batch_norm_joints(bn: nn.BatchNorm1d, x: torch.Tensor, relu: bool = False) -> torch.Tensor:
    """BatchNorm over the channel axis of ``(..., C)`` features: statistics per channel over every sample,
    frame and joint. Run on the contiguous ``(rows, C)`` view: a transposed ``(B, C, T*J)`` layout costs a
    strided normalisation and two copies per call. ``relu``: a ReLU in place on BatchNorm's own output
    (its backward needs its input, not its output), before the view: an in-place op on a view would make
    autograd copy the whole tensor in the backward pass."""
    y = bn(x.reshape(-1, x.shape[-1]))
    return (y.relu_() if relu else y).view(x.shape)


def fused_linear(x: torch.Tensor, parts: list[tuple[torch.Tensor, torch.Tensor | None]]) -> list[torch.Tensor]:
    """Several linear maps of the same input as one matrix product: ``parts`` = [(weight (out_k, C), bias
    (out_k,) or None), ...]; returns the outputs as views ``(..., out_k)`` of one ``(..., sum out_k)``
    result. The same FLOPs as the separate layers, one pass over ``x``."""
    if len(parts) == 1:
        return [F.linear(x, *parts[0])]
    weight = torch.cat([w for w, _ in parts])
    if all(b is None for _, b in parts):
        bias = None
    else:
        bias = torch.cat([b if b is not None else w.new_zeros(w.shape[0]) for w, b in parts])
    return list(F.linear(x, weight, bias).split([w.shape[0] for w, _ in parts], dim=-1))


def bmm_frames(a: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``(..., J, K) @ (..., K, C)`` for every frame of a batch, as one ``bmm`` over the flattened leading
    axes (``h`` may be a column slice of a wider tensor: its rows keep their stride)."""
    lead = a.shape[:-2]
    out = torch.bmm(a.reshape(-1, *a.shape[-2:]), h.reshape(-1, *h.shape[-2:]))
    return out.view(*lead, *out.shape[-2:])


class AffinityWeighting(nn.Module):
    """Importance scores of the selected neighbours, R (Eq. 5) / H (Eq. 12), combined with the mask.

    ``kind``: ``fc`` = one Linear(2C -> 1) on [x_i, x_j] followed by LeakyReLU(0.2) (the paper's "fully
    connected layer" inside a "nonlinear mapping"; GAT-style, [inferred]), ``embedded_gaussian`` = (x_i W_theta)(x_j W_phi)^T with C/2 embedding channels (Wang et al.
    [42]), ``none`` = equal scores. ``norm`` (the paper gives none, [inferred]): ``softmax`` over the selected
    neighbours of each row (default; with ``none`` this is the neighbour mean), ``raw`` = D (.) R exactly as
    Eq. 6 reads, ``sigmoid`` = D (.) sigmoid(R).

    The graph operations fold the query and key projections into their own matrix product
    (:meth:`query_parts`, :meth:`key_parts`, then :meth:`affinity`); :meth:`forward` is the same on its own.
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

    def query_parts(self) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """(weight, bias) of the projection of the query features ([] for ``none``)."""
        if self.kind == "fc":
            return [(self.query.weight, self.query.bias)]
        if self.kind == "embedded_gaussian":
            return [(self.theta.weight, self.theta.bias)]
        return []

    def key_parts(self) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """(weight, bias) of the projection of the key features ([] for ``none``)."""
        if self.kind == "fc":
            return [(self.key.weight, None)]
        if self.kind == "embedded_gaussian":
            return [(self.phi.weight, self.phi.bias)]
        return []

    def affinity(self, q: torch.Tensor | None, k: torch.Tensor | None, exclude: torch.Tensor,
                 like: torch.Tensor) -> torch.Tensor:
        """Normalised affinity ``(..., J, J)`` from the projected query ``q`` and key ``k`` (``(..., J, P)``;
        None for ``none``). ``exclude`` (boolean, broadcastable) is True where j is not a neighbour of i;
        ``like``: the query features ``(..., J, C)``, which give the shape, dtype and device of the scores."""
        if self.kind == "fc":
            # gamma([x_i, x_j]) = LeakyReLU(w^T [x_i, x_j] + b), the Linear split into a query and a key
            # term. The LeakyReLU makes gamma the "nonlinear mapping" of Eq. 5 and keeps the x_i term alive
            # under the row softmax (without it, a term constant along the row would cancel).
            scores = F.leaky_relu(q + k.transpose(-1, -2), 0.2)
        elif self.kind == "embedded_gaussian":
            scores = bmm_frames(q, k.transpose(-1, -2))
        else:  # equal scores
            scores = like.new_zeros(like.shape[:-1] + (like.shape[-2],))
        if self.norm == "softmax":
            return torch.softmax(scores.masked_fill(exclude, float("-inf")), dim=-1)
        if self.norm == "sigmoid":
            scores = torch.sigmoid(scores)
        elif self.kind == "none":
            scores = torch.ones_like(scores)
        return scores.masked_fill(exclude, 0.0)

    def forward(self, query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """query, key: (B, T, J, C); mask: boolean, broadcastable to (B, T, J, J). Returns (B, T, J, J)."""
        q = fused_linear(query, self.query_parts())[0] if self.kind != "none" else None
        k = fused_linear(key, self.key_parts())[0] if self.kind != "none" else None
        return self.affinity(q, k, ~mask, query)


class FixedSpatialGraph(nn.Module):
    """FSG, Eq. 2: Y_t = A X_t Theta over the skeleton graph, per frame.

    ``form='semgcn'`` (default, [inferred] from "follows SemGCN practice"): SemGraphConv on A + I with a
    learnable logit per edge, row softmax and separate weights for the joint itself and its neighbours.
    ``form='plain'``: D^-1 (A + I) X Theta with one weight matrix.

    The semgcn form runs as two matrix products: X [W_self | W_nb] gives both transforms of every joint side
    by side, read as 2J rows per frame, and the interleaved (J, 2J) matrix [diag(A) | A - diag(A)] sums
    them (the same FLOPs as the two (J, J) products of the definition, in one ``bmm``).
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
            j = adj.shape[0]
            # Built once: -inf off the edges (masked_scatter fills the edges), and the (J, J, 2) split of
            # each entry into its diagonal and off-diagonal part.
            self.register_buffer("logit_base", torch.full((j, j), float("-inf")), persistent=False)
            eye = torch.eye(j)
            self.register_buffer("split", torch.stack([eye, 1 - eye], dim=-1), persistent=False)
        else:
            deg = adj.sum(-1, keepdim=True).float()
            self.register_buffer("norm_adj", adj.float() / deg, persistent=False)
            self.weight = nn.Parameter(torch.empty(in_channels, out_channels))
            nn.init.xavier_uniform_(self.weight, gain=1.414)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def adjacency(self) -> torch.Tensor:
        """(J, J) row-softmax of the learnable edge logits over A + I (semgcn form)."""
        logits = self.logit_base.masked_scatter(self.mask, self.edge_logits)
        return torch.softmax(logits, dim=-1)

    def forward(self, x: torch.Tensor, **_) -> torch.Tensor:
        _check_features(x, "FixedSpatialGraph", self.in_channels)
        if self.form == "plain":
            return self.norm_adj @ (x @ self.weight) + self.bias
        b, t, j, _ = x.shape
        out = self.weight.shape[2]
        # (J, 2J): row i = [a_ii at column 2i, a_ij (j != i) at columns 2j + 1], matching the rows of h.
        mix = (self.adjacency()[:, :, None] * self.split).view(j, 2 * j)
        h = torch.matmul(x, self.weight.transpose(0, 1).reshape(self.in_channels, 2 * out))
        y = torch.bmm(mix.expand(b * t, j, 2 * j), h.view(b * t, 2 * j, out))
        return (y + self.bias).view(b, t, j, out)


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

    def _exclusion(self, knn_features: torch.Tensor, precomputed: torch.Tensor | None, what: str) -> torch.Tensor:
        """True where j is not a neighbour of i (broadcastable to the affinity's shape)."""
        if self.style == "dynamical":
            return knn_exclusion(knn_features, self.k)
        if self.style == "precomputed":
            if precomputed is None:
                raise ValueError(f"{type(self).__name__}(style='precomputed') needs {what}")
            return ~precomputed
        return ~self.static


class DynamicalSpatialGraph(_NeighbourGraph):
    """DSG, Eq. 3-7: Y_t = (D_t (.) R_t) X_t Phi.

    D_t marks each joint's K nearest joints in this layer's input features of frame t (``style='dynamical'``);
    other styles replace D_t (Table VII): ``precomputed`` (K nearest in the 2D input pose, passed in by the
    network), ``fixed`` / ``full`` / ``symmetry`` / ``random`` (static masks, see :func:`static_mask`).
    Phi and the two projections of the weighting are one matrix product.
    """

    def __init__(self, channels: int, k: int, skeleton: Skeleton, style: str = "dynamical",
                 weighting: str = "fc", norm: str = "softmax", generator: torch.Generator | None = None):
        super().__init__(channels, k, skeleton, style, generator)
        self.weighting = AffinityWeighting(channels, weighting, norm)
        self.linear = nn.Linear(channels, channels)  # Phi, plus a bias

    def exclusion(self, x: torch.Tensor, spatial_mask: torch.Tensor | None) -> torch.Tensor:
        """True where joint j is not among the K joints nearest to joint i in frame t (Eq. 3-4)."""
        return self._exclusion(x, spatial_mask, "spatial_mask")

    def neighbours(self, x: torch.Tensor, spatial_mask: torch.Tensor | None) -> torch.Tensor:
        """(B, T, J, J) mask: row i = the K joints nearest to joint i in frame t (Eq. 3-4)."""
        return ~self.exclusion(x, spatial_mask)

    def forward(self, x: torch.Tensor, spatial_mask: torch.Tensor | None = None, **_) -> torch.Tensor:
        _check_features(x, "DynamicalSpatialGraph", self.channels)
        exclude = self.exclusion(x, spatial_mask)
        w = self.weighting
        h, *qk = fused_linear(x, [(self.linear.weight, self.linear.bias)] + w.query_parts() + w.key_parts())
        affinity = w.affinity(*(qk or (None, None)), exclude, x)  # B_t = D_t (.) R_t
        return bmm_frames(affinity, h)


class FixedTemporalGraph(nn.Module):
    """FTG, Eq. 9: Y_t = X_t W_x + X_{t+1} W_f + X_{t-1} W_b (a kernel-3 temporal convolution per joint;
    zero padding: a missing neighbour frame contributes nothing).

    The parameters are a Conv1d's; the forward runs them as a (3, 1) two-dimensional convolution over
    the (frames, joints) plane of the channels-last features (the same FLOPs)."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.conv = nn.Conv1d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, **_) -> torch.Tensor:
        _check_features(x, "FixedTemporalGraph", self.channels)
        # (B, T, J, C) memory read as a channels-last (B, C, T, J) image: a (3, 1) convolution over time
        # with the Conv1d's weights, no copies (a Conv1d needs (B J, C, T), two transposing copies).
        y = F.conv2d(x.permute(0, 3, 1, 2), self.conv.weight.unsqueeze(-1), self.conv.bias, padding=(1, 0))
        return y.permute(0, 2, 3, 1)


class DynamicalTemporalGraph(_NeighbourGraph):
    """DTG, Eq. 10-14: Y_t = X_t U_x + Q_{t+1} X_{t+1} U_f + Q_{t-1} X_{t-1} U_b.

    Forward set of joint i at t (Eq. 10): the K joints j whose motion x_{t+1}^j - x_t^j is nearest to
    x_{t+1}^i - x_t^i; the backward set at t uses the motions x_t - x_{t-1}. Both sets come from the same
    motion matrix M_t = X_{t+1} - X_t (forward of frame t, backward of frame t+1), so one KNN per frame
    pair serves both. Q = L (.) H with H from alpha / beta (Eq. 12-13). At the first / last frame the
    missing neighbour frame contributes nothing (zero padding, [inferred]). Needs T >= 2.

    Every projection of the frames 0..T-2 (U_b, alpha's query, beta's key) is one matrix product, those of
    the frames 1..T-1 (U_f, alpha's key, beta's query) another.
    """

    def __init__(self, channels: int, k: int, skeleton: Skeleton, style: str = "dynamical",
                 weighting: str = "fc", norm: str = "softmax", generator: torch.Generator | None = None):
        super().__init__(channels, k, skeleton, style, generator)
        self.self_linear = nn.Linear(channels, channels)  # U_x (+ bias)
        self.forward_linear = nn.Linear(channels, channels, bias=False)  # U_f
        self.backward_linear = nn.Linear(channels, channels, bias=False)  # U_b
        self.alpha = AffinityWeighting(channels, weighting, norm)
        self.beta = AffinityWeighting(channels, weighting, norm)

    def exclusion(self, x: torch.Tensor, motion_mask: torch.Tensor | None) -> torch.Tensor:
        """(B, T-1, J, J): True where joint j's motion of pair (t, t+1) is not among the K nearest to i's."""
        motion = x[:, 1:] - x[:, :-1] if self.style == "dynamical" else x
        return self._exclusion(motion, motion_mask, "motion_mask")

    def neighbours(self, x: torch.Tensor, motion_mask: torch.Tensor | None) -> torch.Tensor:
        """(B, T-1, J, J) mask: row i of pair (t, t+1) = joints with motion nearest to joint i's."""
        return ~self.exclusion(x, motion_mask)

    def forward(self, x: torch.Tensor, motion_mask: torch.Tensor | None = None, **_) -> torch.Tensor:
        _check_features(x, "DynamicalTemporalGraph", self.channels)
        if x.shape[1] < 2:
            raise ValueError(f"DynamicalTemporalGraph needs at least 2 frames, got {x.shape[1]}")
        cur, nxt = x[:, :-1], x[:, 1:]
        exclude = self.exclusion(x, motion_mask)
        a, b = self.alpha, self.beta
        hb, *cur_proj = fused_linear(cur, [(self.backward_linear.weight, None)] + a.query_parts() + b.key_parts())
        hf, *nxt_proj = fused_linear(nxt, [(self.forward_linear.weight, None)] + a.key_parts() + b.query_parts())
        qa, kb = cur_proj or (None, None)
        ka, qb = nxt_proj or (None, None)
        q_forward = a.affinity(qa, ka, exclude, cur)  # frames 0..T-2 look at t+1
        q_backward = b.affinity(qb, kb, exclude, nxt)  # frames 1..T-1 look at t-1
        # Zero-padded to T frames and added out of place: in-place additions into time slices of y would
        # make autograd copy y in the backward pass.
        fwd = F.pad(bmm_frames(q_forward, hf), (0, 0, 0, 0, 0, 1))
        bwd = F.pad(bmm_frames(q_backward, hb), (0, 0, 0, 0, 1, 0))
        return self.self_linear(x) + fwd + bwd


class SpatialNonLocal(nn.Module):
    """SemGCN's non-local block (concatenation form) over the joints of each frame: f_ij = ReLU(w^T
    [theta(x_i), phi(x_j)]), y_i = (1/J) sum_j f_ij g(x_j), out = x + BN(W y), with the output BN
    initialised to zero so the block starts as the identity. Inter width ``channels // 2``; g, theta and
    phi are one matrix product."""

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
        g, theta, phi = fused_linear(x, [(m.weight, m.bias) for m in (self.g, self.theta, self.phi)])
        w_theta, w_phi = self.concat_project.weight[0].split(inter)
        f = F.relu((theta @ w_theta)[..., :, None] + (phi @ w_phi)[..., None, :])
        y = bmm_frames(f / x.shape[2], g)
        return x + batch_norm_joints(self.bn, self.out(y))
