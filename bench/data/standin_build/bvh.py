"""Biovision BVH motion files: parser and forward kinematics.

Used for the CMU playground clips and the boxing clip of Debian ``assimp-testmodels``
(docs/data-sources.md section 1). Conventions, as the BVH format defines them:

* every joint has an ``OFFSET`` (translation from its parent, in the parent's frame, file units) and a
  ``CHANNELS`` list; rotation channels are Euler angles in **degrees** composed **in the order the
  channels are declared**: ``Zrotation Xrotation Yrotation`` means R = Rz(a) @ Rx(b) @ Ry(c), applied to
  column vectors (the last-listed rotation acts first on a child's offset);
* position channels give the joint's local translation, added to its ``OFFSET`` (the files used here
  have zero root offsets, so this choice does not matter for them);
* ``End Site`` blocks are kept as extra points named ``<parent>_End``.

The world position of joint j is G_parent @ (OFFSET_j + position channels) where G is the accumulated
rigid transform; the world rotation of j is R_parent_world @ R_j.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.errors import DataError

_AXES = {"X": 0, "Y": 1, "Z": 2}


@dataclass
class BvhSkeleton:
    """The hierarchy of a BVH file.

    Attributes:
        names: joint names in file order (End Sites included as ``<parent>_End``).
        parents: parent index per joint (-1 for the root).
        offsets: (J, 3) rest offsets from the parent, file units.
        channels: per joint, the declared channel names (empty for End Sites).
        channel_start: per joint, index of its first channel in a motion row.
    """

    names: list[str] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    offsets: list[list[float]] = field(default_factory=list)
    channels: list[list[str]] = field(default_factory=list)
    channel_start: list[int] = field(default_factory=list)

    @property
    def num_channels(self) -> int:
        return sum(len(c) for c in self.channels)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise DataError(f"BVH joint {name!r} not found; joints: {', '.join(self.names)}") from None


@dataclass
class BvhMotion:
    """A parsed BVH file: skeleton, motion rows (F, C), frame time in seconds and the number of
    surplus rows found after the declared frame count (dropped)."""

    skeleton: BvhSkeleton
    motion: np.ndarray
    frame_time: float
    extra_rows: int = 0

    @property
    def rate(self) -> float:
        return 1.0 / self.frame_time


def parse_bvh_text(text: str, where: str = "<bvh>") -> BvhMotion:
    """Parse the text of a BVH file.

    Args:
        text: the whole file.
        where: name used in error messages.
    """
    tokens = text.split()
    skel = BvhSkeleton()
    stack: list[int] = []
    pos = 0
    n_chan = 0

    def need(k: int) -> list[str]:
        nonlocal pos
        if pos + k > len(tokens):
            raise DataError(f"{where}: unexpected end of file in the HIERARCHY section")
        out = tokens[pos:pos + k]
        pos += k
        return out

    if need(1)[0].upper() != "HIERARCHY":
        raise DataError(f"{where}: not a BVH file (no HIERARCHY keyword)")
    pending_parent = -1
    while True:
        tok = need(1)[0]
        up = tok.upper()
        if up in ("ROOT", "JOINT"):
            name = need(1)[0]
            pending_parent = stack[-1] if stack else -1
            skel.names.append(name)
            skel.parents.append(pending_parent)
            skel.offsets.append([0.0, 0.0, 0.0])
            skel.channels.append([])
            skel.channel_start.append(n_chan)
        elif up == "END":
            need(1)  # "Site"
            skel.names.append(skel.names[stack[-1]] + "_End")
            skel.parents.append(stack[-1])
            skel.offsets.append([0.0, 0.0, 0.0])
            skel.channels.append([])
            skel.channel_start.append(n_chan)
        elif tok == "{":
            stack.append(len(skel.names) - 1)
        elif tok == "}":
            if not stack:
                raise DataError(f"{where}: unbalanced braces in HIERARCHY")
            stack.pop()
        elif up == "OFFSET":
            try:
                skel.offsets[stack[-1]] = [float(v) for v in need(3)]
            except ValueError:
                raise DataError(f"{where}: bad OFFSET values near token {pos}") from None
        elif up == "CHANNELS":
            k = int(need(1)[0])
            chans = need(k)
            for c in chans:
                if c[0].upper() not in _AXES or c[1:].lower() not in ("position", "rotation"):
                    raise DataError(f"{where}: unknown channel {c!r}")
            skel.channels[stack[-1]] = chans
            n_chan += k
        elif up == "MOTION":
            break
        else:
            raise DataError(f"{where}: unexpected token {tok!r} in HIERARCHY")
    if stack:
        raise DataError(f"{where}: unbalanced braces in HIERARCHY")
    head = need(4)  # Frames: N Frame Time:
    if head[0].lower() != "frames:" or head[2].lower() != "frame" or head[3].lower() != "time:":
        raise DataError(f"{where}: malformed MOTION header {' '.join(head)!r}")
    n_frames = int(head[1])
    frame_time = float(need(1)[0])
    values = tokens[pos:]
    if len(values) < n_frames * n_chan or len(values) % n_chan:
        raise DataError(f"{where}: MOTION has {len(values)} values, expected {n_frames} frames x "
                        f"{n_chan} channels")
    # Some exporters write rows beyond the declared frame count (Boxing_Toes.bvh declares 3069 and
    # holds 3070): the declared count is authoritative, the surplus rows are reported and dropped.
    extra = len(values) // n_chan - n_frames
    motion = np.asarray(values[:n_frames * n_chan], dtype=np.float64).reshape(n_frames, n_chan)
    return BvhMotion(skel, motion, frame_time, extra_rows=extra)


def load_bvh(path: str | Path) -> BvhMotion:
    """Read and parse a BVH file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as e:
        raise DataError(f"cannot read BVH file {path}: {e}") from None
    return parse_bvh_text(text, str(path))


def axis_rotation(axis: int, angle_rad: np.ndarray) -> np.ndarray:
    """Rotation matrices (F, 3, 3) about a coordinate axis (0=x, 1=y, 2=z) by ``angle_rad`` (F,)."""
    assert angle_rad.ndim == 1, f"expected (F,) angles, got {angle_rad.shape}"
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    r = np.zeros((len(angle_rad), 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r[:, axis, axis] = 1.0
    r[:, i, i] = c
    r[:, j, j] = c
    r[:, i, j] = -s
    r[:, j, i] = s
    return r


def forward_kinematics(bvh: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
    """World positions (F, J, 3) in file units and world rotations (F, J, 3, 3) of every joint.

    End Sites get their parent's rotation.
    """
    skel, motion = bvh.skeleton, bvh.motion
    assert motion.ndim == 2 and motion.shape[1] == skel.num_channels, \
        f"motion {motion.shape} does not match {skel.num_channels} channels"
    n = motion.shape[0]
    num_j = len(skel.names)
    pos = np.zeros((n, num_j, 3))
    rot = np.zeros((n, num_j, 3, 3))
    for j in range(num_j):
        local_t = np.broadcast_to(np.asarray(skel.offsets[j], dtype=np.float64), (n, 3)).copy()
        local_r = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
        for k, ch in enumerate(skel.channels[j]):
            col = motion[:, skel.channel_start[j] + k]
            axis = _AXES[ch[0].upper()]
            if ch[1:].lower() == "position":
                local_t[:, axis] += col
            else:
                local_r = np.einsum("fab,fbc->fac", local_r, axis_rotation(axis, np.deg2rad(col)))
        p = skel.parents[j]
        if p < 0:
            pos[:, j] = local_t
            rot[:, j] = local_r
        else:
            pos[:, j] = pos[:, p] + np.einsum("fab,fb->fa", rot[:, p], local_t)
            rot[:, j] = np.einsum("fab,fbc->fac", rot[:, p], local_r)
    return pos, rot
