"""Parsers and forward kinematics of the stand-in build, on tiny hand-written fixtures."""
import numpy as np
import pytest

from bench.data.standin_build import bvh, csm, deepmimic
from bench.errors import DataError

BVH_3 = """HIERARCHY
ROOT Root
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Mid
  {
    OFFSET 0 2 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Tip
    {
      OFFSET 0 3 0
      CHANNELS 3 Xrotation Yrotation Zrotation
      End Site
      {
        OFFSET 1 0 0
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.01
1 2 3 0 0 0 0 0 0 0 0 0
0 0 0 90 0 0 0 90 0 0 0 90
"""


def test_bvh_forward_kinematics_known_angles():
    m = bvh.parse_bvh_text(BVH_3)
    assert m.skeleton.names == ["Root", "Mid", "Tip", "Tip_End"]
    assert m.rate == pytest.approx(100.0)
    pos, rot = bvh.forward_kinematics(m)
    # Frame 0: no rotation, root translated by (1, 2, 3).
    np.testing.assert_allclose(pos[0], [[1, 2, 3], [1, 4, 3], [1, 7, 3], [2, 7, 3]], atol=1e-12)
    # Frame 1: root turns 90 deg about z: Mid's offset (0, 2, 0) -> (-2, 0, 0).
    # Mid turns 90 deg about x (second channel): Tip's offset (0, 3, 0) -> x-rot gives (0, 0, 3),
    # then the root's z-rot keeps it (0, 0, 3). Tip turns 90 deg about z (third channel): the end
    # site (1, 0, 0) -> z-rot (0, 1, 0) -> Mid x-rot (0, 0, 1) -> root z-rot (0, 0, 1).
    np.testing.assert_allclose(pos[1], [[0, 0, 0], [-2, 0, 0], [-2, 0, 3], [-2, 0, 4]], atol=1e-12)
    np.testing.assert_allclose(rot[1, 0], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)


def test_bvh_channel_order_matters():
    # Zrotation then Xrotation (R = Rz Rx) differs from Xrotation then Zrotation (R = Rx Rz).
    zx = BVH_3.replace("0 0 0 90 0 0 0 90 0 0 0 90", "0 0 0 0 0 0 90 90 0 0 0 0")
    xz = zx.replace("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS 3 Xrotation Zrotation Yrotation")
    p_zx = bvh.forward_kinematics(bvh.parse_bvh_text(zx))[0][1, 2]
    p_xz = bvh.forward_kinematics(bvh.parse_bvh_text(xz))[0][1, 2]
    # Mid: R = Rz(90) Rx(90) takes (0,3,0) -> Rx: (0,0,3) -> Rz: (0,0,3); R = Rx(90) Rz(90): (0,3,0)
    # -> Rz: (-3,0,0) -> Rx: (-3,0,0).
    np.testing.assert_allclose(p_zx, [0, 2, 3], atol=1e-12)
    np.testing.assert_allclose(p_xz, [-3, 2, 0], atol=1e-12)


def test_bvh_surplus_rows_dropped_and_short_motion_rejected():
    extra = BVH_3 + "0 0 0 0 0 0 0 0 0 0 0 0\n"
    m = bvh.parse_bvh_text(extra)
    assert m.motion.shape == (2, 12) and m.extra_rows == 1
    with pytest.raises(DataError, match="MOTION has"):
        bvh.parse_bvh_text(BVH_3.rsplit("\n", 2)[0] + "\n")


def _dm_frame(**kw):
    f = np.zeros(44)
    f[0] = 0.5
    for k in deepmimic.QUATS.values():
        f[k] = 1.0  # identity quaternions
    f[1:4] = kw.get("root", (0.0, 1.0, 0.0))
    for name, q in kw.get("quats", {}).items():
        f[deepmimic.QUATS[name]:deepmimic.QUATS[name] + 4] = q
    for name, a in kw.get("angles", {}).items():
        f[deepmimic.ANGLES[name]] = a
    return f


def test_deepmimic_fk_rest_pose_uses_the_offsets():
    fk = deepmimic.forward_kinematics(_dm_frame()[None])
    o = deepmimic.OFFSETS
    np.testing.assert_allclose(fk["r_hip"][0], [0, 1, o["r_hip"][2]])
    np.testing.assert_allclose(fk["r_ankle"][0], [0, 1 + o["knee"][1] + o["ankle"][1], o["r_hip"][2]])
    np.testing.assert_allclose(fk["head"][0], [0, 1 + o["chest"][1] + o["neck"][1] + o["head"][1], 0])
    np.testing.assert_allclose(fk["l_wrist"][0], np.add([0, 1, 0], o["chest"]) + np.add(o["l_shoulder"], (0, o["elbow"][1] + o["wrist"][1], 0)))


def test_deepmimic_fk_hand_built_rotations():
    # Root turned 90 deg about +y (w = cos 45, y = sin 45); right knee bent 90 deg about local z.
    c = np.cos(np.pi / 4)
    frame = _dm_frame(quats={"root": (c, 0, c, 0)}, angles={"r_knee": np.pi / 2})
    fk = deepmimic.forward_kinematics(frame[None])
    o = deepmimic.OFFSETS
    # The root's +z (right hip side) goes to +x under a +90 deg turn about y.
    hip = np.array([o["r_hip"][2], 1.0, 0.0])
    np.testing.assert_allclose(fk["r_hip"][0], hip, atol=1e-12)
    knee = hip + np.array([0, o["knee"][1], 0])
    np.testing.assert_allclose(fk["r_knee"][0], knee, atol=1e-12)
    # Knee rotation +90 deg about local z maps the shin offset (0, -l, 0) to (+l, 0, 0) in the hip
    # frame; the root turn maps local +x to world -z.
    l_shin = -o["ankle"][1]
    np.testing.assert_allclose(fk["r_ankle"][0], knee + np.array([0, 0, -l_shin]), atol=1e-12)


def test_deepmimic_slerp_resampling_and_seamless_loop():
    c = np.cos(np.pi / 8)
    s = np.sin(np.pi / 8)
    frames = np.stack([_dm_frame(root=(0, 1, 0)), _dm_frame(root=(1, 1, 0), quats={"chest": (c, 0, 0, s)})])
    clip = deepmimic.DeepMimicClip(frames, np.array([0.0, 0.5]), "wrap")
    res = deepmimic.resample_clip(clip, 4.0)
    assert len(res.frames) == 3
    np.testing.assert_allclose(res.frames[1, 1:4], [0.5, 1, 0])
    half = np.cos(np.pi / 16), 0, 0, np.sin(np.pi / 16)  # half of a 45 deg turn about z
    np.testing.assert_allclose(res.frames[1, 8:12], half, atol=1e-12)
    looped = deepmimic.loop_clip(clip, 3)
    assert len(looped.frames) == 4  # 2 + 1 + 1: the shared seam frames are not repeated
    np.testing.assert_allclose(looped.frames[:, 1], [0, 1, 2, 3], atol=1e-12)  # translation carried on


def test_csm_dropout_interpolated():
    text = "$Rate 100\n$Order\nA B\n$Points\n1 0 0 0 5 5 5\n2 DROPOUT 6 6 6\n3 2 4 6 7 7 7\n"
    names, m, rate = csm.parse_csm_text(text)
    assert names == ["A", "B"] and rate == 100 and np.isnan(m[1, 0]).all()
    filled, n = csm.fill_dropouts(m, names)
    assert n == 1
    np.testing.assert_allclose(filled[1, 0], [1, 2, 3])
    with pytest.raises(DataError, match="every frame"):
        csm.fill_dropouts(np.full((3, 1, 3), np.nan), ["X"])
