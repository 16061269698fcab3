"""Spatial temporal graph convolution (ST-GCN, Yan et al., AAAI 2018), the basic cell of UGCN.

Spatial graph convolution with the *spatial configuration* partition (ST-GCN section 3.6, Eq. 9): the
neighbours of a joint i within ``max_hop`` bones are split into K = 3 subsets by their distance to the
skeleton's centre (the root joint, the pelvis) compared with i's own: the same distance (the joint
itself for a tree with max_hop 1), closer to the centre (centripetal) and farther (centrifugal). Each
subset has its own 1x1 weights; the aggregation is normalised by the neighbourhood size (A_k D^-1 with D the
degree of the full neighbourhood, self included). Features are laid out (N, C, T, V) as in ST-GCN.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bench.skeleton import Skeleton


def hop_distances(skeleton: Skeleton) -> np.ndarray:
    """(V, V) number of bones between every pair of joints (inf when disconnected)."""
    v = skeleton.num_joints
    dist = np.full((v, v), np.inf)
    np.fill_diagonal(dist, 0)
    for a, b in skeleton.edges():
        dist[a, b] = dist[b, a] = 1
    for k in range(v):  # Floyd-Warshall; V <= 17
        dist = np.minimum(dist, dist[:, k:k + 1] + dist[k:k + 1, :])
    return dist


def spatial_configuration_partition(skeleton: Skeleton, max_hop: int = 1) -> np.ndarray:
    """(3, V, V) normalised adjacency of ST-GCN's spatial-configuration partition.

    Entry [k, j, i] weights the message from joint j to joint i in subset k: 0 = same distance to the
    centre as i, 1 = closer to the centre (centripetal), 2 = farther (centrifugal). Every message is divided
    by the number of joints within ``max_hop`` of its receiver i (self included), so the three subsets
    together average the neighbourhood.
    """
    hop = hop_distances(skeleton)
    centre = skeleton.parents.index(-1)
    near = hop <= max_hop
    degree = near.sum(0)  # neighbourhood size of each receiver i (column)
    a = np.zeros((3, skeleton.num_joints, skeleton.num_joints), dtype=np.float32)
    for j, i in zip(*np.nonzero(near)):
        k = 0 if hop[j, centre] == hop[i, centre] else (1 if hop[j, centre] < hop[i, centre] else 2)
        a[k, j, i] = 1.0 / degree[i]
    return a


class SpatialGraphConv(nn.Module):
    """ST-GCN spatial graph convolution: f_out(i) = sum_k sum_j A_k[j, i] W_k f_in(j) (ST-GCN Eq. 10).

    ``adjacency`` is (K, V, V); an identity (1, V, V) makes it a per-joint 1x1 convolution (UGCN Table 4,
    "w/o spatial graph"). ``edge_importance`` multiplies A by a learnable mask (ST-GCN's optional edge
    importance weighting; off unless ablated).
    """

    def __init__(self, in_channels: int, out_channels: int, adjacency: np.ndarray, edge_importance: bool = False):
        super().__init__()
        a = torch.as_tensor(adjacency, dtype=torch.float32)
        if a.dim() != 3 or a.shape[1] != a.shape[2]:
            raise ValueError(f"SpatialGraphConv: adjacency must be (K, V, V), got {tuple(a.shape)}")
        self.register_buffer("adjacency", a)
        self.k, self.out_channels = a.shape[0], out_channels
        self.conv = nn.Conv2d(in_channels, out_channels * self.k, kernel_size=1)
        self.importance = nn.Parameter(torch.ones_like(a)) if edge_importance else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        if v != self.adjacency.shape[1]:
            raise ValueError(f"SpatialGraphConv: input has {v} joints, the graph {self.adjacency.shape[1]}")
        a = self.adjacency if self.importance is None else self.adjacency * self.importance
        y = self.conv(x).view(n, self.k, self.out_channels, t, v)
        return torch.einsum("nkctv,kvw->nctw", y, a)


class STGCNBlock(nn.Module):
    """ST-GCN block: graph conv -> BN -> ReLU -> temporal conv (kernel k, stride s, zero 'same' padding)
    -> BN -> dropout, plus a residual (identity, or 1x1 conv with stride s + BN when the shape changes;
    none for the first block), then ReLU (ST-GCN's block; UGCN section 3.2 "st-gcn blocks")."""

    def __init__(self, in_channels: int, out_channels: int, adjacency: np.ndarray, kernel: int = 5,
                 stride: int = 1, dropout: float = 0.5, residual: bool = True, edge_importance: bool = False):
        super().__init__()
        self.gcn = SpatialGraphConv(in_channels, out_channels, adjacency, edge_importance)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (kernel, 1), (stride, 1), ((kernel - 1) // 2, 0)),
            nn.BatchNorm2d(out_channels), nn.Dropout(dropout, inplace=True))
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, (stride, 1)),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.tcn(self.gcn(x))
        if self.residual is not None:
            y = y + self.residual(x)
        return torch.relu(y)
