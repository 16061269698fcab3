"""Explicit joint layouts and converters between them.

Layout mismatch is the most common failure with in-the-wild 2D input (field survey B.5), so every
dataset and model names its layout, and conversions are explicit functions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.errors import ConfigError, DataError


@dataclass(frozen=True)
class Skeleton:
    """A joint layout: names, parent of each joint (-1 for the root) and left/right joint lists."""

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    joints_left: tuple[int, ...]
    joints_right: tuple[int, ...]

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    def edges(self) -> list[tuple[int, int]]:
        """(child, parent) pairs of the kinematic tree."""
        return [(j, p) for j, p in enumerate(self.parents) if p >= 0]

    def adjacency(self, self_loops: bool = False) -> np.ndarray:
        """Symmetric 0/1 adjacency matrix (J, J) of the bones."""
        a = np.zeros((self.num_joints, self.num_joints), dtype=np.float32)
        for j, p in self.edges():
            a[j, p] = a[p, j] = 1
        if self_loops:
            a += np.eye(self.num_joints, dtype=np.float32)
        return a

    def flip_permutation(self) -> np.ndarray:
        """Index array that swaps left and right joints (used by flip augmentation)."""
        perm = np.arange(self.num_joints)
        perm[list(self.joints_left)] = self.joints_right
        perm[list(self.joints_right)] = self.joints_left
        return perm


H36M_17 = Skeleton(
    name="h36m17",
    joint_names=("Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax",
                 "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist"),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    joints_left=(4, 5, 6, 11, 12, 13),
    joints_right=(1, 2, 3, 14, 15, 16),
)

HUMANEVA_15 = Skeleton(
    name="humaneva15",
    joint_names=("Hip", "Thorax", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
                 "LHip", "LKnee", "LAnkle", "RHip", "RKnee", "RAnkle", "Neck/Nose"),
    parents=(-1, 0, 1, 2, 3, 1, 5, 6, 0, 8, 9, 0, 11, 12, 1),
    joints_left=(2, 3, 4, 8, 9, 10),
    joints_right=(5, 6, 7, 11, 12, 13),
)

COCO_17 = Skeleton(
    name="coco17",
    joint_names=("Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow",
                 "LWrist", "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle"),
    # COCO has no kinematic tree; this one hangs everything from the nose for drawing only.
    parents=(-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
    joints_left=(1, 3, 5, 7, 9, 11, 13, 15),
    joints_right=(2, 4, 6, 8, 10, 12, 14, 16),
)

MPII_16 = Skeleton(
    name="mpii16",
    joint_names=("RAnkle", "RKnee", "RHip", "LHip", "LKnee", "LAnkle", "Pelvis", "Thorax", "UpperNeck",
                 "HeadTop", "RWrist", "RElbow", "RShoulder", "LShoulder", "LElbow", "LWrist"),
    parents=(1, 2, 6, 6, 3, 4, -1, 6, 7, 8, 11, 12, 7, 7, 13, 14),
    joints_left=(3, 4, 5, 13, 14, 15),
    joints_right=(0, 1, 2, 10, 11, 12),
)

LAYOUTS = {s.name: s for s in (H36M_17, HUMANEVA_15, COCO_17, MPII_16)}

# The kinematic tree a graph model (DG-Net, UGCN) builds on, by joint count (COCO-17 has no tree).
GRAPH_SKELETONS = {17: H36M_17, 15: HUMANEVA_15, 16: MPII_16}


def graph_skeleton(num_joints: int, model: str) -> Skeleton:
    """The skeleton graph of ``num_joints`` joints; a ConfigError naming ``model`` when there is none."""
    if num_joints not in GRAPH_SKELETONS:
        raise ConfigError(f"{model}: no skeleton graph for {num_joints} input joints "
                          f"(known: {', '.join(map(str, sorted(GRAPH_SKELETONS)))})")
    return GRAPH_SKELETONS[num_joints]


def get_layout(name: str) -> Skeleton:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise DataError(f"unknown joint layout {name!r}; known: {', '.join(LAYOUTS)}") from None
