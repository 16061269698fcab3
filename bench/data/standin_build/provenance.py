"""PROVENANCE.md and the licence texts of the stand-in folders (docs/data-sources.md sections 1-3).

Every number in PROVENANCE.md comes from the build itself (the summary dict of build.py and the
constants of the modules), so the text is regenerated, byte for byte, by every rebuild.
"""
from __future__ import annotations

import json
from pathlib import Path

from bench.data.standin_build import clips as clips_mod
from bench.data.standin_build import detector_noise as dn
from bench.data.standin_build import deepmimic, holosoma, joints, retarget, settings, split
from bench.data.standin_build.sources import SourceSet, sha256_file
from bench.errors import DataError

APACHE = Path("/usr/share/common-licenses/Apache-2.0")


def _licence_files(src: SourceSet) -> dict[str, bytes]:
    """Licence and source-note texts found with the sources: name -> bytes."""
    out = {}
    notes = src.assimp_dir / "BVH" / "01_nn.bvh.source.txt"
    fencing = src.assimp_dir / "CSM" / "ThomasFechten.source.txt"
    zlib = sorted(src.pybullet_dir.glob("pybullet-*.dist-info/LICENSE.txt"))
    needed = {"CMU-mocap-terms (BVH/01_nn.bvh.source.txt)": notes,
              "fencing note (CSM/ThomasFechten.source.txt)": fencing,
              "Debian copyright of assimp-testmodels": src.debian_copyright,
              "Apache-2.0 text (/usr/share/common-licenses/Apache-2.0)": APACHE,
              "pybullet LICENSE.txt": zlib[0] if zlib else None}
    missing = [k for k, p in needed.items() if p is None or not Path(p).is_file()]
    if missing:
        raise DataError(f"licence text(s) not found: {', '.join(missing)}; they come with the packages "
                        f"(apt-get install -y assimp-testmodels base-files; the pybullet wheel)")
    out["CMU-mocap-terms.txt"] = notes.read_bytes()
    out["fencing-ThomasFechten-free-for-any-purpose.txt"] = fencing.read_bytes()
    out["assimp-testmodels-BSD-3-Clause-debian-copyright.txt"] = Path(src.debian_copyright).read_bytes()
    out["holosoma-retargeting-Apache-2.0.txt"] = (
        b"holosoma-retargeting 0.1.0 (Amazon FAR Team), wheel METADATA: License: Apache-2.0.\n"
        b"Full licence text follows (Debian's copy in /usr/share/common-licenses/Apache-2.0).\n\n"
        + APACHE.read_bytes())
    out["pybullet-zlib.txt"] = zlib[0].read_bytes()
    return out


def _table(rows: list[list], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _source_files(src: SourceSet) -> list[list]:
    rows = []
    for f in ("BVH/01_01.bvh", "BVH/01_03.bvh", "BVH/Boxing_Toes.bvh", "CSM/ThomasFechten.csm"):
        rows.append([f"`{f}`", "Debian assimp-testmodels 5.2.5~ds0-1", "BSD-3-Clause (package); CMU terms /"
                     " free for any purpose, see LICENSES", sha256_file(src.assimp_dir / f)[:16]])
    for p in src.holosoma_clips():
        rel = p.relative_to(src.holosoma_dir).as_posix()
        rows.append([f"`{rel}`", "PyPI holosoma-retargeting 0.1.0", "Apache-2.0", sha256_file(p)[:16]])
    dt = src.holosoma_dir / "holosoma_retargeting" / "config_types" / "data_type.py"
    rows.append(["`holosoma_retargeting/config_types/data_type.py` (joint names only)",
                 "PyPI holosoma-retargeting 0.1.0", "Apache-2.0", sha256_file(dt)[:16]])
    for p in src.deepmimic_clips():
        rel = p.relative_to(src.pybullet_dir).as_posix()
        rows.append([f"`{rel}`", "PyPI pybullet 3.2.7", "zlib", sha256_file(p)[:16]])
    return rows


def _bodies_table() -> str:
    rows = []
    for name, b in retarget.BODIES.items():
        L = b.lengths()
        rows.append([name, f"{b.height:.2f}", f"{2 * L['hip']:.3f}", f"{L['thigh']:.3f}", f"{L['shin']:.3f}",
                     f"{L['spine']:.3f}", f"{L['chest']:.3f}", f"{L['neck']:.3f}", f"{L['head']:.3f}",
                     f"{2 * L['shoulder']:.3f}", f"{L['upper_arm']:.3f}", f"{L['forearm']:.3f}",
                     f"{b.ankle_height:.3f}"])
    return _table(rows, ["body", "height", "hip width", "thigh", "shin", "pelvis-spine", "spine-thorax",
                         "thorax-nose", "nose-head", "shoulder width", "upper arm", "forearm", "ankle height"])


def provenance_text(summary: dict, src: SourceSet) -> str:
    """The text of PROVENANCE.md."""
    c = summary["clips"]
    fr = summary["frames"]["standin"]
    fr_he = summary["frames"]["standin_humaneva"]
    st = summary["stats"]
    clip_rows = [[x["action"], f"`{x['file']}`", x["source_frames"], f"{x['source_rate']:.2f}", x["frames_used"],
                  x["frames_50hz"], f"{x['test'][0]}-{x['test'][1]}",
                  ", ".join(f"{a}-{b}" for a, b in x["train"]) or "-", x["gap"], " ".join(x["train_bodies"]),
                  " ".join(x["humaneva_subjects"])] for x in c]
    side = {}
    for p in summary["placements"]:
        key = (p["dataset"], p["subject"])
        side.setdefault(key, [0, 0])
        side[key][0] += p["frames"][1] - p["frames"][0]
        side[key][1] += 1
    frame_rows = [[s, "train" if s in ("S1", "S5", "S6", "S7", "S8") else "test", n, side[("standin", s)][1]]
                  for s, n in fr.items()]
    he_rows = [[s, n, side[("standin_humaneva", s)][1]] for s, n in fr_he.items()]
    thorax = {x["action"]: x["extra"].get("thorax_fraction") for x in c}
    noise = dn.describe()
    fencing = next(x for x in c if x["kind"] == "fencing")["extra"]
    cams = summary["humaneva_cameras"]
    cam_rows = []
    for s, cs in cams.items():
        for cam in cs:
            cam_rows.append([s, cam["id"], ", ".join(f"{v:.4f}" for v in cam["translation"]),
                             ", ".join(f"{v:.5f}" for v in cam["orientation"]),
                             ", ".join(f"{v:.1f}" for v in cam["focal_length"]),
                             ", ".join(f"{v:.1f}" for v in cam["center"]),
                             ", ".join(f"{v:.3f}" for v in cam["radial_distortion"]),
                             ", ".join(f"{v:.4f}" for v in cam["tangential_distortion"])])
    looped = [x["action"] for x in c if x["cycles"] > 1]
    drop_h = st["standin"].get("dropped_frames", 0)
    drop_e = st["standin_humaneva"].get("dropped_frames", 0)
    wheels = "\n".join(f"* `{k}`: sha256 `{v}`" for k, v in sorted(src.wheels.items()))
    return f"""# Provenance of the bundled stand-in datasets

Generated by `bench data build-standin` (`bench.data.standin_build.build_standin`); every number below
comes from that build. Sources and their facts: docs/data-sources.md sections 1-4. Rebuild and compare
with `bench.data.standin_build.verify_standin` (checksums in `SHA256SUMS`).

**What it is**: {sum(x['frames_50hz'] for x in c)} frames (50 Hz) of real motion capture from {len(c)} clips,
retargeted onto 7 bodies and seen through the 4 Human3.6M cameras, in the VideoPose3D npz layout
(`standin/`), plus a HumanEva-15 export of the same clips (`standin_humaneva/`). It is far smaller and more
athletic than Human3.6M: absolute errors on it are not comparable with any paper.

## 1. Source files

{_table(_source_files(src), ["file", "package", "licence", "sha256 (first 16 hex)"])}

Wheels used (unzipped members only):
{wheels}

Licence and terms texts are in `LICENSES/`: CMU's terms ("free for use in research and commercial
projects", quoted in `BVH/01_nn.bvh.source.txt`), the Debian copyright file of assimp-testmodels (BSD-3-Clause),
the fencing file's note ("Free for any purpose"), Apache-2.0 (holosoma-retargeting) and zlib (pybullet).
Please acknowledge CMU as its terms ask: "The data used in this project was obtained from mocap.cs.cmu.edu.
The database was created with funding from NSF EIA-0196217."

## 2. Clips, frames used and the split

Rates are the sources' own (holosoma: **{holosoma.ASSUMED_RATE:.0f} Hz assumed** - the package never states
its rate; its loader keeps every 4th frame and plays at 30 fps). "test" and "train" are frame ranges of the
50 Hz clip ([start-stop)); the frames between them ("gap") are dropped.

{_table(clip_rows, ["action", "file", "source frames", "source Hz", "frames used", "50 Hz frames", "test", "train", "gap", "training bodies", "HumanEva subjects"])}

## 3. Processing steps

1. **Reading**. BVH: channels in the declared order per joint, Euler angles in degrees, R = product of
   the axis rotations in channel order, positions by forward kinematics (`bvh.py`); Boxing_Toes.bvh holds one
   row more than its declared 3069 frames: the declared count is used. CMU: frame 0 (an added T-pose)
   dropped; units x 0.0254/0.45 to metres. Boxing: centimetres. DeepMimic: quaternion forward kinematics with
   the rest offsets of data-sources.md section 3, 1-DoF knees/elbows about the local z axis (`deepmimic.py`).
   holosoma: joint positions as stored, names from `MOCAP_DEMO_JOINTS` (read with `ast`). Fencing: markers in
   mm, `DROPOUT` samples filled by linear interpolation ({fencing.get('dropouts_filled', 0)} samples in this
   file) and joint centres estimated (step 3).
2. **Axes**: Y-up sources rotated to Z up ((x, y, z) -> (x, -z, y)); metres everywhere.
3. **Fencing joint centres** (`csm.py`, expected errors 1-3 cm): hip centres by a Harrington-like pelvis
   regression on the four waist markers (taken as ASIS/PSIS: offsets -0.24 PD - 9.9 mm backwards,
   -0.30 PW - 10.9 mm down, +-(0.33 PW + 7.3) mm sideways from the front-waist midpoint); knee, ankle and
   elbow centres = the lateral marker moved medially by 55 / 40 / 40 mm along the segment's medio-lateral
   axis (from the lateral wand markers THI / SHN / UPA); wrist = midpoint of WRA/WRB; shoulder = SHO moved
   45 mm down the thorax axis; midline = mid(T10, STRN), mid(C7, CLAV); head centre = mean of the four head
   markers, head axes from front-back and left-right marker differences. The right ankle marker RANK drifts
   off the foot for about the first half of the take; ANK markers that depart from a rigid HEL/TOE/MT5 foot
   cluster are blended into the cluster's prediction (frames mostly replaced: {fencing.get('cluster_filled')}).
4. **Joint definitions** (`joints.py`, the same for every source): Hip = midpoint of the hip joint
   centres; limb joints = joint centres (RFoot/LFoot = ankle centres); Thorax = point of the trunk midline
   polyline [Hip, source spine/neck joints, head centre] at a fixed fraction of its length, the per-clip
   median of where the polyline passes closest to the shoulder midpoint (shoulder level); Spine = the point
   at {joints.SPINE_FRACTION} of the arc length Hip -> Thorax (Human3.6M: 0.23 m + 0.26 m); Neck/Nose = head
   centre + {joints.NOSE_FORWARD} m along the head's forward axis - {joints.NOSE_DOWN} m along its up axis;
   Head = head centre + {joints.HEAD_UP} m along the up axis. Head centre: CMU/Boxing midpoint of the Head
   joint and its end site, head axes from the Head joint's rotation; DeepMimic the model's head centre and
   neck rotation; fencing the head markers; holosoma the Head joint + {clips_mod.HOLOSOMA_HEAD_ABOVE_SKULL_BASE}
   m along Neck->Head, forward axis = trunk forward (holosoma has no head orientation). Source joints mapped:
   CMU {', '.join(f'{k}<-{v}' for k, v in clips_mod.CMU_LIMBS.items())}, midline {' '.join(clips_mod.CMU_MIDLINE)};
   Boxing {', '.join(f'{k}<-{v}' for k, v in clips_mod.BOXING_LIMBS.items())}, midline
   {' '.join(clips_mod.BOXING_MIDLINE)}; holosoma {', '.join(f'{k}<-{v}' for k, v in clips_mod.HOLOSOMA_LIMBS.items())},
   midline {' '.join(clips_mod.HOLOSOMA_MIDLINE)}; DeepMimic its joints of the same names, midline chest, neck.
   Thorax fractions found: {json.dumps({k: round(v, 3) for k, v in thorax.items()})}.
5. **Resampling to 50 Hz**: linear interpolation of joint positions at t = k/50 s (`resample.py`); DeepMimic
   clips are resampled on their rotations (slerp, linear root and 1-DoF angles) before forward kinematics.
6. **Clip-length rule** (`split.py`): cyclic DeepMimic clips (`Loop: wrap`) shorter than
   {clips_mod.MIN_CYCLIC_SECONDS:.0f} s are looped to at least that length; each repetition continues from the
   previous one's end position and heading, and the last {deepmimic.SEAM_WINDOW} s of each repetition is blended into the next
   one's first frame (the clips' last frames do not exactly repeat their first). Looped: {', '.join(looped)}.
   Their test segments repeat poses of the training side (on other bodies, placements and cameras).
   Non-cyclic clips are never looped; when a full gap would leave fewer than {split.MIN_TRAIN} training frames the
   gap shrinks (only Kick 1).
7. **Split**: per clip one contiguous test segment of {split.TEST_FRACTION:.0%} of the frames, its start drawn
   from a seed of the action name, moved to a clip end when it would leave a training piece under
   {split.MIN_PIECE} frames; {split.GAP} frames (1 s) dropped on each side of it. Training pieces are performed by
   2 of the 5 training bodies (rotating over clips, see the table), test segments by both test bodies S9 and
   S11. Each piece is its own sequence; a training side cut in two is stored as "<action> chunk0"/"chunk1".
8. **Retargeting** (`retarget.py`): bone directions kept per frame, bone lengths set per body (section 4);
   root trajectory scaled by body leg length / source leg length (median thigh + shin); feet on the floor:
   the clip is shifted so that the 1st percentile of the lower ankle's height equals the body's ankle
   height; frames with a joint below z = 0 are lifted (smoothed). Frames whose highest joint exceeds
   {retarget.Z_CAP} m (bodies standing on climbing boxes or playground bars with raised arms) are lowered by the
   excess, never by more than the support height (feet stay on or above the floor), because Human3.6M's
   cameras see only up to about 2.3 m at the middle of the volume.
9. **Placement**: per sequence a rotation about the vertical (seeded by subject, action, frame range; 12
   candidates 30 deg apart) and a horizontal position drawn among the 0.2 m grid positions where every joint
   of every frame stays {retarget.GOOD_MARGIN_PX:.0f} px inside all 4 images (pinhole test on the convex hull);
   accepted only if the distorted projections of all points stay {retarget.MIN_MARGIN_PX:.0f} px inside and at
   least {retarget.MIN_DEPTH_M} m in front of every camera (the subject's own published extrinsics). A sequence
   that fits no placement (long walks and runs of looped clips leave the volume) is cut in halves ("chunk"
   names), down to {settings.MIN_CHUNK} frames; pieces still unplaceable are dropped: {drop_h} frames in `standin`,
   {drop_e} in `standin_humaneva`.
10. **2D**: `gt` = projection of the stored 3D with the Human3.6M distortion model
   (`Camera.project_world(distort=True)`), pixels. `det` = `gt` + the detector imitation (section 5).
11. **Storage**: 3D rounded to 1/{settings.Q3D:.0f} m, 2D to 1/{settings.Q2D:.0f} px, float32; npz written with fixed zip dates
   (`checksums.py`).

## 4. Bodies (metres; nominal height, bone lengths as set by retargeting)

{_bodies_table()}

Human3.6M subjects S1, S5, S6, S7, S8 train and S9, S11 test; the HumanEva export uses the bodies of
S1, S6 and S9 as its subjects S1, S2 and S3.

## 5. The `det` source: detector imitation (`detector_noise.py`)

* jitter: AR(1) per joint and axis, lag-1 correlation rho = {noise['rho']}, stationary std
  {noise['sigma_px']} px x joint scale; joint scales (H36M order Hip, RHip, RKnee, RFoot, LHip, LKnee, LFoot,
  Spine, Thorax, Neck/Nose, Head, LShoulder, LElbow, LWrist, RShoulder, RElbow, RWrist):
  {', '.join(f'{v:g}' for v in noise['joint_scale_h36m'])} (extremities noisier);
* outliers: per joint, start probability {noise['outlier_rate_per_frame']} x joint scale per frame, duration
  {noise['outlier_frames'][0]}-{noise['outlier_frames'][1]} frames, displacement of random direction and length
  {noise['outlier_px'][0]:g}-{noise['outlier_px'][1]:g} px (constant during the event);
* left/right swaps: start probability {noise['swap_rate_per_frame']} per frame, duration
  {noise['swap_frames'][0]}-{noise['swap_frames'][1]} frames, exchanging one pair of whole legs, lower legs, whole
  arms or forearms;
* clipped to the image; seeded by SHA-256 of ("det", subject, action, camera). HumanEva export: the same model
  with every displacement x {settings.HE_PX_SCALE} (smaller images). Events drawn: standin {st['standin'].get('outliers', 0)} outliers,
  {st['standin'].get('swaps', 0)} swaps; standin_humaneva {st['standin_humaneva'].get('outliers', 0)} outliers,
  {st['standin_humaneva'].get('swaps', 0)} swaps.

## 6. Frame counts

`standin` (frames per subject, summed over its sequences; each has 4 camera views):

{_table(frame_rows, ["subject", "side", "frames", "sequences"])}

`standin_humaneva` (3 cameras each):

{_table(he_rows, ["subject", "frames", "sequences"])}

## 7. HumanEva export (`standin_humaneva/`)

Same clips, 15 joints (`bench.skeleton.HUMANEVA_15`, taken by name from the 17: Hip, Thorax, shoulders,
elbows, wrists, hips, knees, ankles = H36M RFoot/LFoot, Neck/Nose). Subjects `Train/S1..S3` (training pieces)
and `Validate/S1..S3` (test segments of the same bodies), as HumanEva splits by frames. Action names: Walk ->
Walking, Run -> Jog, Boxing -> Box (performed by all three subjects), the others as in `standin` (one subject
each, rotating). Frame rate 50 Hz (HumanEva's is 60). Key `cameras` of `data_3d_humaneva15.npz`: per subject
3 chosen cameras (HumanEva's calibration is not available): 640 x 480, around the origin at 5.7-6.4 m, aimed
1.0 m above the floor, f about 700 px, mild barrel distortion, each subject's copy moved by up to 5 cm:

{_table(cam_rows, ["subject", "camera", "translation (m)", "orientation (w, x, y, z)", "focal (px)", "center (px)", "radial k1-k3", "tangential p1, p2"])}
"""


def write_provenance(tmp: Path, summary: dict, src: SourceSet) -> None:
    """Write PROVENANCE.md and LICENSES/ into both built folders."""
    text = provenance_text(summary, src)
    lic = _licence_files(src)
    for name in ("standin", "standin_humaneva"):
        folder = tmp / name
        body = text if name == "standin" else (
            "# Provenance of the HumanEva-15 stand-in\n\nBuilt together with `../standin/` from the same "
            "clips; the full record (sources, steps, bodies, noise model, cameras) is repeated here.\n\n" + text)
        (folder / "PROVENANCE.md").write_text(body)
        (folder / "LICENSES").mkdir(exist_ok=True)
        for fname, data in lic.items():
            (folder / "LICENSES" / fname).write_bytes(data)
