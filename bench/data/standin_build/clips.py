"""Every source clip of docs/data-sources.md sections 1-3 as Human3.6M-17 joints at 50 Hz.

One :class:`ClipSpec` per clip names its action (VideoPose3D style, "<Group> <n>"), its source file
and how it is read; :func:`load_clip` returns the clip's 17 joints in metres, Z up, at
:data:`RATE` Hz, in the source's own world placement (retarget.py moves it afterwards).

Per source: units to metres (CMU: x 0.0254 / 0.45, Boxing: x 0.01, fencing: x 0.001), Y-up files rotated
to Z up (joints.yup_to_zup), CMU frame 0 (an added T-pose) dropped, then landmarks (joints.py),
the 17 joints, and resampling (resample.py; DeepMimic clips are resampled on their rotations before
forward kinematics, deepmimic.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.data.standin_build import bvh, csm, deepmimic, holosoma
from bench.data.standin_build.joints import LIMBS, Landmarks, to_h36m17, unit, yup_to_zup
from bench.data.standin_build.resample import resample_linear
from bench.data.standin_build.sources import SourceSet

RATE = 50.0
CMU_SCALE = 0.0254 / 0.45
MIN_CYCLIC_SECONDS = 6.0  # cyclic DeepMimic clips are looped to at least this length (split.py)


@dataclass
class ClipSpec:
    """One source clip: action name, source kind, file (relative to its package root) and notes."""

    action: str
    kind: str  # 'cmu', 'boxing', 'fencing', 'holosoma', 'deepmimic'
    file: str
    package: str
    notes: list[str] = field(default_factory=list)


@dataclass
class Clip:
    """A loaded clip: (F, 17, 3) joints at 50 Hz and what PROVENANCE.md reports about it."""

    spec: ClipSpec
    joints: np.ndarray
    source_frames: int
    source_rate: float
    frames_used: str
    cyclic: bool = False
    cycles: int = 1
    extra: dict = field(default_factory=dict)


DEEPMIMIC_ACTIONS = {
    "humanoid3d_walk.txt": "Walk 1", "walker/0walk_forward.txt": "Walk 2",
    "walker/turn_left0.txt": "Walk 3", "walker/turn_left1.txt": "Walk 4",
    "walker/turn_right0.txt": "Walk 5", "walker/turn_right1.txt": "Walk 6",
    "humanoid3d_run.txt": "Run 1", "humanoid3d_jump.txt": "Jump 1", "humanoid3d_kick.txt": "Kick 1",
    "humanoid3d_punch.txt": "Punch 1", "humanoid3d_dance_a.txt": "Dance 1",
    "humanoid3d_dance_b.txt": "Dance 2", "humanoid3d_crawl.txt": "Crawl 1", "humanoid3d_roll.txt": "Roll 1",
    "humanoid3d_cartwheel.txt": "Cartwheel 1", "humanoid3d_backflip.txt": "Backflip 1",
    "humanoid3d_spin.txt": "Spin 1", "humanoid3d_spinkick.txt": "SpinKick 1",
    "humanoid3d_getup_facedown.txt": "GetUp 1", "humanoid3d_getup_faceup.txt": "GetUp 2",
}


def clip_specs(src: SourceSet) -> list[ClipSpec]:
    """All clips, in a fixed order (assimp, holosoma, DeepMimic)."""
    deb = "Debian assimp-testmodels 5.2.5~ds0-1"
    specs = [ClipSpec("Playground 1", "cmu", "BVH/01_01.bvh", deb),
             ClipSpec("Playground 2", "cmu", "BVH/01_03.bvh", deb),
             ClipSpec("Boxing 1", "boxing", "BVH/Boxing_Toes.bvh", deb),
             ClipSpec("Fencing 1", "fencing", "CSM/ThomasFechten.csm", deb)]
    climb_root = src.holosoma_dir / "holosoma_retargeting"
    for k, path in enumerate(src.holosoma_clips()):
        specs.append(ClipSpec(f"Climb {k + 1}", "holosoma", str(path.relative_to(climb_root.parent)),
                              "PyPI holosoma-retargeting 0.1.0"))
    motions = src.pybullet_dir / "pybullet_data" / "data" / "motions"
    by_rel = {str(p.relative_to(motions)): p for p in src.deepmimic_clips()}
    for rel in sorted(by_rel, key=lambda r: (DEEPMIMIC_ACTIONS.get(r, "~" + r))):
        if rel not in DEEPMIMIC_ACTIONS:
            raise ValueError(f"no action name for DeepMimic clip {rel}")
        specs.append(ClipSpec(DEEPMIMIC_ACTIONS[rel], "deepmimic", f"pybullet_data/data/motions/{rel}",
                              "PyPI pybullet 3.2.7"))
    return specs


# ---------------------------------------------------------------------------------------------
# Source -> landmarks.

def _bvh_landmarks(path: Path, scale: float, names: dict[str, str], midline: list[str],
                   drop_first: bool) -> tuple[Landmarks, bvh.BvhMotion]:
    motion = bvh.load_bvh(path)
    pos, rot = bvh.forward_kinematics(motion)
    if drop_first:
        pos, rot = pos[1:], rot[1:]
    pos = yup_to_zup(pos * scale)
    sk = motion.skeleton
    P = lambda n: pos[:, sk.index(n)]  # noqa: E731
    head = sk.index("Head")
    limbs = {k: P(v) for k, v in names.items()}
    centre = (P("Head") + P("Head_End")) / 2
    up = yup_to_zup(rot[:, head, :, 1])        # the head's rest up axis is +y ...
    fwd = yup_to_zup(rot[:, head, :, 2])       # ... and its rest forward axis +z (toes point +z)
    mid = np.stack([P(n) for n in midline], axis=1)
    return Landmarks(limbs, mid, centre, unit(up), unit(fwd)), motion


CMU_LIMBS = {"l_hip": "LeftUpLeg", "r_hip": "RightUpLeg", "l_knee": "LeftLeg", "r_knee": "RightLeg",
             "l_ankle": "LeftFoot", "r_ankle": "RightFoot", "l_shoulder": "LeftArm", "r_shoulder": "RightArm",
             "l_elbow": "LeftForeArm", "r_elbow": "RightForeArm", "l_wrist": "LeftHand", "r_wrist": "RightHand"}
CMU_MIDLINE = ["Hips", "Spine", "Spine1", "Neck1", "Head"]
BOXING_LIMBS = {"l_hip": "LeftHip", "r_hip": "RightHip", "l_knee": "LeftKnee", "r_knee": "RightKnee",
                "l_ankle": "LeftAnkle", "r_ankle": "RightAnkle", "l_shoulder": "LeftShoulder",
                "r_shoulder": "RightShoulder", "l_elbow": "LeftElbow", "r_elbow": "RightElbow",
                "l_wrist": "LeftWrist", "r_wrist": "RightWrist"}
BOXING_MIDLINE = ["Hips", "Ab", "Chest", "Neck", "Head"]
HOLOSOMA_LIMBS = {"l_hip": "LeftUpLeg", "r_hip": "RightUpLeg", "l_knee": "LeftLeg", "r_knee": "RightLeg",
                  "l_ankle": "LeftFoot", "r_ankle": "RightFoot", "l_shoulder": "LeftArm",
                  "r_shoulder": "RightArm", "l_elbow": "LeftForeArm", "r_elbow": "RightForeArm",
                  "l_wrist": "LeftHand", "r_wrist": "RightHand"}
HOLOSOMA_MIDLINE = ["Hips", "Spine", "Spine1", "Neck", "Head"]
HOLOSOMA_HEAD_ABOVE_SKULL_BASE = 0.08  # head centre = Head joint + 8 cm along the neck direction


def _holosoma_landmarks(path: Path, names: list[str]) -> Landmarks:
    pos = holosoma.load_joint_positions(path, names)
    idx = {n: i for i, n in enumerate(names)}
    P = lambda n: pos[:, idx[n]]  # noqa: E731
    up = unit(P("Head") - P("Neck"))
    centre = P("Head") + HOLOSOMA_HEAD_ABOVE_SKULL_BASE * up
    mid = np.stack([P(n) for n in HOLOSOMA_MIDLINE], axis=1)
    return Landmarks({k: P(v) for k, v in HOLOSOMA_LIMBS.items()}, mid, centre, up, None)


def _deepmimic_landmarks(frames: np.ndarray) -> Landmarks:
    fk = deepmimic.forward_kinematics(frames)
    z = {k: yup_to_zup(v) for k, v in fk.items() if k != "head_rot"}
    limbs = {k: z[k] for k in LIMBS}
    up = yup_to_zup(fk["head_rot"][:, :, 1])
    fwd = yup_to_zup(fk["head_rot"][:, :, 0])  # DeepMimic faces +x at rest
    mid = np.stack([z["chest"], z["neck"]], axis=1)
    return Landmarks(limbs, mid, z["head"], unit(up), unit(fwd))


def _fencing_landmarks(path: Path) -> tuple[Landmarks, dict]:
    names, markers, rate = csm.load_csm(path)
    markers, n_fill = csm.fill_dropouts(markers, names)
    lm = csm.fencing_landmarks(names, markers)
    up = np.cross(lm["head_forward"], lm["head_left"])
    limbs = {k: lm[k] for k in LIMBS}
    info = {"rate": rate, "dropouts_filled": n_fill, "cluster_filled": lm["cluster_filled"]}
    return Landmarks(limbs, lm["midline"], lm["head_centre"], unit(up), lm["head_forward"]), info


def load_clip(spec: ClipSpec, src: SourceSet) -> Clip:
    """Read one clip and return its 17 joints at 50 Hz (see the module docstring)."""
    if spec.kind in ("cmu", "boxing"):
        path = src.assimp_dir / spec.file
        if spec.kind == "cmu":
            lm, motion = _bvh_landmarks(path, CMU_SCALE, CMU_LIMBS, CMU_MIDLINE, drop_first=True)
            used = f"1-{motion.motion.shape[0] - 1} of 0-{motion.motion.shape[0] - 1} (frame 0, a T-pose, dropped)"
        else:
            lm, motion = _bvh_landmarks(path, 0.01, BOXING_LIMBS, BOXING_MIDLINE, drop_first=False)
            used = f"all {motion.motion.shape[0]} declared frames"
            if motion.extra_rows:
                used += f" ({motion.extra_rows} surplus row(s) after the declared count dropped)"
        joints, info = to_h36m17(lm)
        rate = motion.rate
        out = resample_linear(joints, rate, RATE)
        return Clip(spec, out, motion.motion.shape[0], rate, used, extra=info)
    if spec.kind == "fencing":
        lm, finfo = _fencing_landmarks(src.assimp_dir / spec.file)
        joints, info = to_h36m17(lm)
        info.update(finfo)
        out = resample_linear(joints, finfo["rate"], RATE)
        return Clip(spec, out, len(lm), finfo["rate"], f"all {len(lm)} frames", extra=info)
    if spec.kind == "holosoma":
        names = holosoma.read_joint_names(src.holosoma_dir / "holosoma_retargeting" / "config_types" / "data_type.py")
        lm = _holosoma_landmarks(src.holosoma_dir / spec.file, names)
        joints, info = to_h36m17(lm)
        out = resample_linear(joints, holosoma.ASSUMED_RATE, RATE)
        return Clip(spec, out, len(lm), holosoma.ASSUMED_RATE, f"all {len(lm)} frames (rate assumed)",
                    extra=info)
    if spec.kind == "deepmimic":
        clip = deepmimic.load_deepmimic(src.pybullet_dir / spec.file)
        cyclic = clip.loop == "wrap"
        cycles = 1
        if cyclic and clip.duration < MIN_CYCLIC_SECONDS:
            cycles = int(np.ceil(MIN_CYCLIC_SECONDS / clip.duration - 1e-9))
            clip_l = deepmimic.loop_clip(clip, cycles)
        else:
            clip_l = clip
        res = deepmimic.resample_clip(clip_l, RATE)
        lm = _deepmimic_landmarks(res.frames)
        joints, info = to_h36m17(lm)
        rate = (len(clip.times) - 1) / clip.duration
        info["duration_s"] = clip.duration
        used = f"all {len(clip.frames)} frames ({clip.duration:.3f} s, Loop={clip.loop})"
        if cycles > 1:
            used += f", looped x{cycles}"
        return Clip(spec, joints, len(clip.frames), rate, used, cyclic=cyclic, cycles=cycles, extra=info)
    raise ValueError(f"unknown clip kind {spec.kind!r}")
