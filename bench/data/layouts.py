"""Converters between joint layouts (bench.skeleton), for 2D keypoints and 3D joints.

Every conversion is linear: each target joint is one source joint or the mean of a few. A conversion
is therefore a (J_dst, J_src) weight matrix (:func:`conversion_matrix`) applied along the joint axis,
which works for any coordinate dimension (2D pixels or normalised points, 3D metres) and for numpy
arrays and torch tensors alike. Where the target joint has no counterpart in the source layout the
estimate is an approximation, documented below; those joints are less accurate than detected ones.

Supported conversions (``convert_keypoints(kp, src, dst)``; names as in bench.skeleton, with the
aliases ``h36m``, ``coco``, ``mpii``, ``humaneva``, ``3dhp``):

**COCO-17 -> H36M-17**
  Hip = mean(LHip, RHip); RHip/RKnee/RFoot = COCO RHip/RKnee/RAnkle; LHip/LKnee/LFoot = COCO
  LHip/LKnee/LAnkle; Thorax = mean(LShoulder, RShoulder); Spine = mean(Hip, Thorax) (the midpoint
  of pelvis and thorax, i.e. the mean of the four hip and shoulder points); Neck/Nose = Nose;
  Head = mean(LEye, REye, LEar, REar) (the centre of the head: COCO has no head-top, so this sits
  lower than Human3.6M's Head joint); arms one to one (LShoulder/LElbow/LWrist, RShoulder/...).

**MPII-16 -> H36M-17**
  Hip = Pelvis; legs one to one (RHip/RKnee/RAnkle, LHip/LKnee/LAnkle); Thorax = Thorax;
  Spine = mean(Pelvis, Thorax); Neck/Nose = UpperNeck; Head = HeadTop; arms one to one.

**COCO-17 -> HumanEva-15** (the remap GAST-Net applies to Mask R-CNN detections, model-specs 3.2)
  0 Hip = mean(COCO 11, 12); 1 Thorax = mean(COCO 5, 6); 2-7 = COCO 5, 7, 9, 6, 8, 10
  (LShoulder, LElbow, LWrist, RShoulder, RElbow, RWrist); 8-13 = COCO 11, 13, 15, 12, 14, 16
  (LHip, LKnee, LAnkle, RHip, RKnee, RAnkle); 14 Neck/Nose = COCO 0 (Nose).

**H36M-17 -> HumanEva-15**
  Hip = Hip; Thorax = Thorax; arms and legs one to one; Neck/Nose = Neck/Nose (H36M Spine and Head
  are dropped).

**MPI-INF-3DHP-17 -> H36M-17** (a reordering: the 17 "relevant" univ_annot3 joints of the 3DHP test
  set in their official order head_top, neck, R shoulder/elbow/wrist, L shoulder/elbow/wrist,
  R hip/knee/ankle, L hip/knee/ankle, pelvis, spine, head): Hip = pelvis, Spine = spine,
  Thorax = neck, Neck/Nose = head, Head = head_top, limbs one to one.

**identity** for any layout to itself.
"""
from __future__ import annotations

import numpy as np

from bench.errors import ConfigError, DataError
from bench.skeleton import COCO_17, H36M_17, LAYOUTS, MPII_16, Skeleton

# The 17-joint MPI-INF-3DHP test-set order (univ_annot3 "relevant" joints), pelvis = 14 the root.
MPI3DHP_17 = Skeleton(
    name="mpi3dhp17",
    joint_names=("HeadTop", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
                 "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Pelvis", "Spine", "Head"),
    parents=(16, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, -1, 14, 1),
    joints_left=(5, 6, 7, 11, 12, 13),
    joints_right=(2, 3, 4, 8, 9, 10),
)

ALL_LAYOUTS: dict[str, Skeleton] = {**LAYOUTS, MPI3DHP_17.name: MPI3DHP_17}
ALIASES = {"h36m": "h36m17", "coco": "coco17", "mpii": "mpii16", "humaneva": "humaneva15",
           "3dhp": "mpi3dhp17", "mpi3dhp": "mpi3dhp17"}

# Each target joint: a tuple of source joint indices that are averaged (one index = a copy).
_COCO = {n: i for i, n in enumerate(COCO_17.joint_names)}
_MPII = {n: i for i, n in enumerate(MPII_16.joint_names)}
_H36M = {n: i for i, n in enumerate(H36M_17.joint_names)}
_3DHP = {n: i for i, n in enumerate(MPI3DHP_17.joint_names)}

_RECIPES: dict[tuple[str, str], list[tuple[int, ...]]] = {
    ("coco17", "h36m17"): [
        (_COCO["LHip"], _COCO["RHip"]),                                     # 0 Hip
        (_COCO["RHip"],), (_COCO["RKnee"],), (_COCO["RAnkle"],),            # 1-3 right leg
        (_COCO["LHip"],), (_COCO["LKnee"],), (_COCO["LAnkle"],),            # 4-6 left leg
        (_COCO["LHip"], _COCO["RHip"], _COCO["LShoulder"], _COCO["RShoulder"]),  # 7 Spine
        (_COCO["LShoulder"], _COCO["RShoulder"]),                           # 8 Thorax
        (_COCO["Nose"],),                                                   # 9 Neck/Nose
        (_COCO["LEye"], _COCO["REye"], _COCO["LEar"], _COCO["REar"]),       # 10 Head
        (_COCO["LShoulder"],), (_COCO["LElbow"],), (_COCO["LWrist"],),      # 11-13 left arm
        (_COCO["RShoulder"],), (_COCO["RElbow"],), (_COCO["RWrist"],),      # 14-16 right arm
    ],
    ("mpii16", "h36m17"): [
        (_MPII["Pelvis"],),
        (_MPII["RHip"],), (_MPII["RKnee"],), (_MPII["RAnkle"],),
        (_MPII["LHip"],), (_MPII["LKnee"],), (_MPII["LAnkle"],),
        (_MPII["Pelvis"], _MPII["Thorax"]),                                 # 7 Spine
        (_MPII["Thorax"],),
        (_MPII["UpperNeck"],),                                              # 9 Neck/Nose
        (_MPII["HeadTop"],),                                                # 10 Head
        (_MPII["LShoulder"],), (_MPII["LElbow"],), (_MPII["LWrist"],),
        (_MPII["RShoulder"],), (_MPII["RElbow"],), (_MPII["RWrist"],),
    ],
    ("coco17", "humaneva15"): [
        (11, 12), (5, 6), (5,), (7,), (9,), (6,), (8,), (10,),
        (11,), (13,), (15,), (12,), (14,), (16,), (0,),
    ],
    ("h36m17", "humaneva15"): [
        (_H36M["Hip"],), (_H36M["Thorax"],),
        (_H36M["LShoulder"],), (_H36M["LElbow"],), (_H36M["LWrist"],),
        (_H36M["RShoulder"],), (_H36M["RElbow"],), (_H36M["RWrist"],),
        (_H36M["LHip"],), (_H36M["LKnee"],), (_H36M["LFoot"],),
        (_H36M["RHip"],), (_H36M["RKnee"],), (_H36M["RFoot"],),
        (_H36M["Neck/Nose"],),
    ],
    ("mpi3dhp17", "h36m17"): [
        (_3DHP["Pelvis"],),
        (_3DHP["RHip"],), (_3DHP["RKnee"],), (_3DHP["RAnkle"],),
        (_3DHP["LHip"],), (_3DHP["LKnee"],), (_3DHP["LAnkle"],),
        (_3DHP["Spine"],), (_3DHP["Neck"],), (_3DHP["Head"],), (_3DHP["HeadTop"],),
        (_3DHP["LShoulder"],), (_3DHP["LElbow"],), (_3DHP["LWrist"],),
        (_3DHP["RShoulder"],), (_3DHP["RElbow"],), (_3DHP["RWrist"],),
    ],
}


def resolve_layout(layout: str | Skeleton) -> Skeleton:
    """A :class:`Skeleton` from a layout, a layout name or an alias (``coco`` -> ``coco17``)."""
    if isinstance(layout, Skeleton):
        return layout
    name = ALIASES.get(str(layout).lower(), str(layout).lower())
    if name not in ALL_LAYOUTS:
        raise ConfigError(f"unknown joint layout {layout!r}; known: {', '.join(ALL_LAYOUTS)} "
                          f"(aliases: {', '.join(ALIASES)})")
    return ALL_LAYOUTS[name]


def supported_conversions() -> list[tuple[str, str]]:
    """Every (src, dst) pair :func:`convert_keypoints` accepts besides the identity."""
    return sorted(_RECIPES)


def conversion_matrix(src: str | Skeleton, dst: str | Skeleton) -> np.ndarray:
    """The (J_dst, J_src) float64 matrix W with converted = W @ keypoints (along the joint axis)."""
    s, d = resolve_layout(src), resolve_layout(dst)
    if s.name == d.name:
        return np.eye(s.num_joints)
    if (s.name, d.name) not in _RECIPES:
        pairs = ", ".join(f"{a}->{b}" for a, b in supported_conversions())
        raise ConfigError(f"no joint-layout conversion from {s.name} to {d.name}; supported: {pairs} "
                          f"(and identity)")
    recipe = _RECIPES[(s.name, d.name)]
    w = np.zeros((d.num_joints, s.num_joints))
    for j, sources in enumerate(recipe):
        w[j, list(sources)] = 1.0 / len(sources)
    return w


def convert_keypoints(kp, src: str | Skeleton, dst: str | Skeleton):
    """Convert joints ``kp`` of shape (..., J_src, D) from layout ``src`` to ``dst`` -> (..., J_dst, D).

    Works for 2D (D = 2) and 3D (D = 3) points, numpy arrays (dtype kept for floats) or torch
    tensors. See the module docstring for how every target joint is defined.
    """
    s, d = resolve_layout(src), resolve_layout(dst)
    shape = tuple(kp.shape)
    if len(shape) < 2 or shape[-2] != s.num_joints:
        raise DataError(f"keypoints of shape {shape} do not match layout {s.name} "
                        f"({s.num_joints} joints on axis -2); pass the layout the data is stored in")
    if s.name == d.name:
        return kp
    w = conversion_matrix(s, d)
    if hasattr(kp, "detach"):  # torch tensor
        import torch

        return torch.einsum("ij,...jd->...id", torch.as_tensor(w, dtype=kp.dtype, device=kp.device), kp)
    kp = np.asarray(kp)
    dtype = kp.dtype if kp.dtype.kind == "f" else np.float64
    return np.einsum("ij,...jd->...id", w, kp).astype(dtype, copy=False)
