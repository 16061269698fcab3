"""Graph attention block of GAST-Net (Liu, Guang, Rojas; paper sections 3.2-3.4, Fig. 3; model-specs.md 3.2).

Features are laid out channels-last, ``(B, T, J, C)``: every frame is one graph of J joints. A
:class:`GraphAttentionBlock` maps C channels to 2C::

    concat[x, LocalAttention(x), GlobalAttention(x)]  (3C)  -> 1x1 conv -> BN -> ReLU  (2C)

* :class:`LocalAttention` (Eq. 2): channel-wise semantic graph convolutions, one per kernel -- the
  **symmetry** kernel (each joint and its left/right mirror joint) and the **connection** kernel (first-order
  neighbours, second-order ones for the distal joints) -- each followed by BN + ReLU; their outputs are
  concatenated and fused by a 1x1 conv -> BN -> ReLU -> Dropout.
* :class:`GlobalAttention` (Eq. 3-4): K heads; head k mixes the joints with ``B_k + C_k`` applied to a
  C/K-channel embedding g_k(x). B_k is the softmax over j of LeakyReLU_0.2(w_f [theta_k(x_i) || phi_k(x_j)]);
  C_k is a free J x J matrix initialised to zero. Heads are concatenated (C) -> 1x1 conv -> BN -> ReLU ->
  Dropout.

Every kernel/term can be switched off (the components of the paper's Table 4); what is off is not built.

Implementation notes (same function as the layer list, chosen for CPU speed):

* 1x1 convolutions are ``nn.Conv2d(k=1)`` modules (same parameters and init as the official code) applied
  with ``F.linear`` to the channels-last features, i.e. as one GEMM over all B*T*J rows.
* The masked row softmax of a channel-wise graph conv is computed densely per output channel (C x J x J, tiny),
  and the joint mixing uses only the mask's edges: ``out = diag * (x W_self) + sum over neighbour ranks r of
  w_r * (x W_nbr)[:, nbr_r]``, one gather + multiply-add per neighbour rank (at most the largest joint degree
  of the mask, 4 for Human3.6M), never a loop over joints or channels. A dense per-channel einsum over the
  J x J matrix computes the same numbers but was several times slower in CPU measurements.
* The two local kernels' self/neighbour weights are applied in one GEMM (C -> 2 x kernels x C), and their
  BatchNorms are kept as one BatchNorm over the concatenated channels (statistics are per channel, so this is
  the same as one BN per kernel, with the same parameter count).
* theta_k and phi_k enter B_k only through the scalars a_k . theta_k(x_i) and b_k . phi_k(x_j) (w_f = [a_k, b_k]),
  so the scores are computed as x_i . (W_theta_k^T a_k) + const -- one C -> 2K product instead of two C -> C
  ones. The parameters are still theta, phi (with biases) and w_f, exactly as listed; gradients flow to them.
* Heads are stored stacked: ``theta``, ``phi`` and ``g`` are C -> C linear maps whose output rows
  ``k*C/K ... (k+1)*C/K`` are head k's 1x1 conv (C -> C/K, with bias). K separate convs are the same function
  and parameter count.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.skeleton import Skeleton

LOCAL_KERNELS = ("symmetry", "connection")


# -- masks derived from the skeleton ----------------------------------------------------------------------

def mirror_pairs(skeleton: Skeleton) -> list[tuple[int, int]]:
    """(left, right) joint pairs of the skeleton, from its ``joints_left`` / ``joints_right`` lists."""
    return list(zip(skeleton.joints_left, skeleton.joints_right))


def distal_joints(skeleton: Skeleton) -> list[int]:
    """Joints at the end of a limb chain: leaves of the kinematic tree whose parent has no other child.

    These are the wrists, ankles and head, whose only first-order neighbour is one joint, so the connection
    kernel gives them their second-order neighbours (ankle-knee-hip, wrist-elbow-shoulder, head-neck-thorax).
    A leaf hanging directly off a branching joint is not one (HumanEva's neck/nose on the thorax: its
    second-order row would be the thorax's whole star, not a chain). This reproduces the official lists:
    Human3.6M-17 [3, 6, 10, 13, 16], HumanEva-15 [4, 7, 10, 13].
    """
    parents = skeleton.parents
    children = [0] * len(parents)
    for p in parents:
        if p >= 0:
            children[p] += 1
    return [j for j, p in enumerate(parents) if children[j] == 0 and p >= 0 and children[p] == 1]


def symmetry_mask(skeleton: Skeleton) -> torch.Tensor:
    """Boolean (J, J) mask of the symmetry kernel: each joint itself and its mirror joint (if any)."""
    j = skeleton.num_joints
    m = np.eye(j, dtype=bool)
    for left, right in mirror_pairs(skeleton):
        m[left, right] = m[right, left] = True
    return torch.from_numpy(m)


def connection_mask(skeleton: Skeleton) -> torch.Tensor:
    """Boolean (J, J) mask of the connection kernel: rows of A + I, rows of (A + I)^2 for distal joints."""
    first = skeleton.adjacency(self_loops=True) > 0
    second = (first.astype(np.int64) @ first.astype(np.int64)) > 0
    m = first.copy()
    distal = distal_joints(skeleton)
    m[distal] = second[distal]
    return torch.from_numpy(m)


def local_masks(skeleton: Skeleton, kernels: Sequence[str]) -> list[torch.Tensor]:
    makers = {"symmetry": symmetry_mask, "connection": connection_mask}
    return [makers[k](skeleton) for k in kernels]


# -- helpers ---------------------------------------------------------------------------------------------

def batch_norm(bn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over the last (channel) axis of channels-last features: rows are all other positions, which
    is what BatchNorm2d computes over (B, C, T, J)."""
    return bn(x.reshape(-1, x.shape[-1])).view(x.shape)


def pointwise(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """A 1x1 ``Conv2d`` applied to channels-last features (one GEMM)."""
    return F.linear(x, conv.weight.flatten(1), conv.bias)


def bn_relu(bn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    # In-place ReLU on the fresh BN output (autograd-safe: BN's backward does not need its output).
    return F.relu(batch_norm(bn, x), inplace=True)


# -- local attention -------------------------------------------------------------------------------------

class ChannelwiseGraphConv(nn.Module):
    """Channel-wise semantic graph convolution (paper Eq. 2) over a fixed boolean joint mask, no bias.

    Parameters: ``weight`` (2, C_in, C_out) -- [0] transforms the joint itself, [1] its neighbours
    (Xavier-uniform with gain 1.414, fans as computed for that 3-d tensor, as in the official code); ``logits``
    (C_out, nnz) -- one learnable logit per output channel and allowed edge (row-major order of the mask's
    non-zeros), initialised to 1. Per output channel c the edge weights are the softmax of the logits over
    each row's allowed joints; output = diag part x (x W_self) + off-diagonal part x (x W_nbr).

    The module owns the parameters and the edge tables; :class:`LocalAttention` runs the GEMM for all its
    kernels at once and calls :meth:`mix`.
    """

    def __init__(self, in_channels: int, out_channels: int, mask: torch.Tensor | np.ndarray):
        super().__init__()
        # Tables are built with numpy, so construction also works under a ``torch.device("meta")`` context.
        m = np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask, dtype=bool)
        j = m.shape[0]
        assert m.shape == (j, j) and m.diagonal().all(), "the mask must be J x J with self-loops"
        self.in_channels, self.out_channels, self.num_joints = in_channels, out_channels, j
        self.weight = nn.Parameter(torch.empty(2, in_channels, out_channels))
        nn.init.xavier_uniform_(self.weight, gain=1.414)
        rows, cols = m.nonzero()  # row-major
        self.logits = nn.Parameter(torch.ones(out_channels, rows.size))
        self.register_buffer("mask", torch.tensor(m), persistent=False)
        self.register_buffer("edge_index", torch.as_tensor(rows * j + cols, dtype=torch.long), persistent=False)
        # Off-diagonal edges grouped by neighbour rank r: rank r holds the r-th neighbour of every joint that
        # has more than r neighbours (rows ascending). Stored flat; self._ranks has (start, end, full) per rank.
        nbrs = [[c for c in range(j) if m[i, c] and c != i] for i in range(j)]
        slot_rows, slot_cols, self._ranks = [], [], []
        for r in range(max((len(n) for n in nbrs), default=0)):
            members = [(i, n[r]) for i, n in enumerate(nbrs) if len(n) > r]
            start = len(slot_rows)
            slot_rows += [i for i, _ in members]
            slot_cols += [c for _, c in members]
            self._ranks.append((start, len(slot_rows), len(members) == j))
        self.register_buffer("slot_rows", torch.as_tensor(slot_rows, dtype=torch.long), persistent=False)
        self.register_buffer("slot_cols", torch.as_tensor(slot_cols, dtype=torch.long), persistent=False)

    @property
    def num_edges(self) -> int:
        return self.logits.shape[1]

    def edge_weights(self) -> torch.Tensor:
        """(C_out, J, J) row-softmax of the logits over each row's allowed joints; 0 outside the mask."""
        j = self.num_joints
        dense = self.logits.new_full((self.out_channels, j * j), float("-inf"))
        dense = dense.index_copy(1, self.edge_index, self.logits)
        return torch.softmax(dense.view(-1, j, j), dim=-1)

    def mix(self, out: torch.Tensor, h_nbr: torch.Tensor, weights: torch.Tensor) -> None:
        """Add the off-diagonal (neighbour) part into ``out`` in place.

        ``out``: (..., J, C_out) holding ``diag * h_self`` (may be a channel slice of a wider tensor);
        ``h_nbr``: (..., J, C_out) = x W_nbr; ``weights``: :meth:`edge_weights`.
        """
        dim = out.dim() - 2
        for start, end, full in self._ranks:
            rows, cols = self.slot_rows[start:end], self.slot_cols[start:end]
            w = weights[:, rows, cols].t()  # (n_r, C_out)
            gathered = h_nbr.index_select(dim, cols)
            if full:  # every joint has an r-th neighbour: rows are 0..J-1
                out.addcmul_(gathered, w)
            else:  # (in place only without autograd: mul's backward needs the gathered values)
                out.index_add_(dim, rows, gathered * w if torch.is_grad_enabled() else gathered.mul_(w))


class LocalAttention(nn.Module):
    """Local graph attention (Fig. 3, yellow box): per kernel a channel-wise graph conv -> BN -> ReLU; the
    kernels' outputs concatenated -> 1x1 conv (kernels x C -> C, no bias) -> BN -> ReLU -> Dropout.

    ``kernels`` is a non-empty subset of ``('symmetry', 'connection')`` in that order (the paper's two GCNs);
    with one kernel the fusion conv is C -> C.
    """

    def __init__(self, channels: int, skeleton: Skeleton, kernels: Sequence[str] = LOCAL_KERNELS,
                 dropout: float = 0.05):
        super().__init__()
        kernels = tuple(kernels)
        assert kernels and all(k in LOCAL_KERNELS for k in kernels), f"bad local kernels {kernels}"
        self.kernels = kernels
        self.channels = channels
        self.gcns = nn.ModuleList(ChannelwiseGraphConv(channels, channels, m)
                                  for m in local_masks(skeleton, kernels))
        n = len(kernels)
        self.bn = nn.BatchNorm1d(n * channels, momentum=0.1)  # the n GCNs' BatchNorms, channel by channel
        self.fuse = nn.Conv2d(n * channels, channels, 1, bias=False)
        self.fuse_bn = nn.BatchNorm1d(channels, momentum=0.1)
        self.drop = nn.Dropout(dropout)

    def graph_convs(self, x: torch.Tensor) -> torch.Tensor:
        """The kernels' graph convolutions of x (..., J, C), concatenated: (..., J, kernels x C), before BN."""
        c, n = self.channels, len(self.gcns)
        # One GEMM for all kernels: columns [self_0 .. self_{n-1} | nbr_0 .. nbr_{n-1}].
        w = torch.cat([g.weight[0] for g in self.gcns] + [g.weight[1] for g in self.gcns], dim=1)
        h = torch.matmul(x, w)
        weights = [g.edge_weights() for g in self.gcns]
        diag = torch.cat([a.diagonal(dim1=1, dim2=2).t() for a in weights], dim=1)  # (J, n*C)
        out = h[..., :n * c] * diag
        for i, (g, a) in enumerate(zip(self.gcns, weights)):
            g.mix(out[..., i * c:(i + 1) * c], h[..., (n + i) * c:(n + i + 1) * c], a)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = bn_relu(self.bn, self.graph_convs(x))
        return self.drop(bn_relu(self.fuse_bn, pointwise(self.fuse, out)))


# -- global attention ------------------------------------------------------------------------------------

class GlobalAttention(nn.Module):
    """Global graph attention (Eq. 3-4, Fig. 3 blue box), K heads of width C/K, per frame.

    ``use_bk``: the data-dependent B_k (theta, phi: C -> C/K 1x1 convs with bias; w_f: 2C/K -> 1 without bias;
    score LeakyReLU(0.2), softmax over j). ``use_ck``: the learnable J x J matrix C_k per head, initialised to
    0. With both, the attention is B_k + C_k; with one, that one; at least one must be on (the block drops
    the branch otherwise). g: C -> C/K 1x1 conv with bias per head. Init as the official code:
    Kaiming-normal weights, zero biases, C_k = 0.
    """

    def __init__(self, channels: int, num_joints: int, heads: int = 4, use_bk: bool = True,
                 use_ck: bool = True, dropout: float = 0.05):
        super().__init__()
        assert use_bk or use_ck, "global attention needs B_k or C_k"
        assert channels % heads == 0, f"heads={heads} must divide channels={channels}"
        self.channels, self.heads, self.head_channels = channels, heads, channels // heads
        self.use_bk, self.use_ck = bool(use_bk), bool(use_ck)
        self.g = self._embedding(channels)
        if self.use_bk:
            self.theta = self._embedding(channels)
            self.phi = self._embedding(channels)
            # w_f of each head: [a_k (for theta) | b_k (for phi)], Kaiming-normal with fan_in = 2C/K.
            self.score = nn.Parameter(torch.randn(heads, 2 * self.head_channels)
                                      * math.sqrt(2.0 / (2 * self.head_channels)))
        if self.use_ck:
            self.adaptive = nn.Parameter(torch.zeros(heads, num_joints, num_joints))  # C_k
        self.fuse = nn.Conv2d(channels, channels, 1, bias=False)
        self.fuse_bn = nn.BatchNorm1d(channels, momentum=0.1)
        self.drop = nn.Dropout(dropout)

    @staticmethod
    def _embedding(channels: int) -> nn.Linear:
        lin = nn.Linear(channels, channels)  # all heads stacked: rows k*C/K .. (k+1)*C/K are head k
        nn.init.kaiming_normal_(lin.weight)
        nn.init.zeros_(lin.bias)
        return lin

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """(N, K, J, J) attention B_k (+ C_k) for x of shape (N, J, C); (K, J, J) when only C_k is on."""
        if not self.use_bk:
            return self.adaptive
        k, d, c = self.heads, self.head_channels, self.channels
        a, b = self.score[:, :d], self.score[:, d:]
        # w_f . [theta_k(x_i) || phi_k(x_j)] = x_i . u_k + x_j . v_k + (bias terms): u_k = W_theta_k^T a_k.
        proj = torch.cat([torch.einsum("kdc,kd->ck", self.theta.weight.view(k, d, c), a),
                          torch.einsum("kdc,kd->ck", self.phi.weight.view(k, d, c), b)], dim=1)  # (C, 2K)
        const = torch.cat([(self.theta.bias.view(k, d) * a).sum(1), (self.phi.bias.view(k, d) * b).sum(1)])
        st = torch.matmul(x, proj).add_(const).transpose(1, 2)  # (N, 2K, J)
        scores = F.leaky_relu(st[:, :k, :, None] + st[:, k:, None, :], 0.2)  # (N, K, J, J)
        att = torch.softmax(scores, dim=-1)
        return att + self.adaptive if self.use_ck else att

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        j, c = shape[-2], shape[-1]
        flat = x.reshape(-1, j, c)  # one graph per frame
        g = F.linear(flat, self.g.weight, self.g.bias).view(-1, j, self.heads, self.head_channels)
        y = torch.matmul(self.attention(flat), g.transpose(1, 2))  # (N, K, J, C/K)
        y = y.transpose(1, 2).reshape(shape)
        return self.drop(bn_relu(self.fuse_bn, pointwise(self.fuse, y)))


# -- the block -------------------------------------------------------------------------------------------

class GraphAttentionBlock(nn.Module):
    """concat[x, local(x), global(x)] -> 1x1 conv (no bias) -> BN -> ReLU: C -> 2C channels (Fig. 3).

    A branch whose components are all off is not built and drops out of the concatenation, so the fusion
    conv reads (1 + local + global) x C channels; with both branches off the block is a per-joint 1x1 conv
    C -> 2C (the temporal network without any spatial mixing).
    """

    def __init__(self, channels: int, skeleton: Skeleton, heads: int = 4,
                 local_kernels: Sequence[str] = LOCAL_KERNELS, global_bk: bool = True, global_ck: bool = True,
                 dropout: float = 0.05):
        super().__init__()
        self.channels = channels
        self.local = LocalAttention(channels, skeleton, local_kernels, dropout) if local_kernels else None
        self.glob = (GlobalAttention(channels, skeleton.num_joints, heads, global_bk, global_ck, dropout)
                     if global_bk or global_ck else None)
        branches = 1 + (self.local is not None) + (self.glob is not None)
        self.fuse = nn.Conv2d(branches * channels, 2 * channels, 1, bias=False)
        self.fuse_bn = nn.BatchNorm1d(2 * channels, momentum=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [x]
        if self.local is not None:
            parts.append(self.local(x))
        if self.glob is not None:
            parts.append(self.glob(x))
        z = torch.cat(parts, dim=-1) if len(parts) > 1 else x
        return bn_relu(self.fuse_bn, pointwise(self.fuse, z))
