"""Joint-layout converters on hand-built points."""
import numpy as np
import pytest

from bench.data.layouts import (MPI3DHP_17, conversion_matrix, convert_keypoints, resolve_layout,
                                supported_conversions)
from bench.errors import ConfigError, DataError
from bench.skeleton import COCO_17, H36M_17, HUMANEVA_15, MPII_16


def _named(layout, points):
    """An array (J, D) built from a dict joint name -> point."""
    dim = len(next(iter(points.values())))
    out = np.full((layout.num_joints, dim), np.nan)
    for name, p in points.items():
        out[layout.joint_names.index(name)] = p
    assert not np.isnan(out).any(), "every joint needs a point"
    return out


COCO_POINTS = {
    "Nose": (0, 170), "LEye": (2, 172), "REye": (-2, 172), "LEar": (4, 168), "REar": (-4, 168),
    "LShoulder": (20, 140), "RShoulder": (-20, 140), "LElbow": (30, 110), "RElbow": (-30, 110),
    "LWrist": (35, 80), "RWrist": (-35, 80), "LHip": (10, 90), "RHip": (-10, 90),
    "LKnee": (12, 50), "RKnee": (-12, 50), "LAnkle": (13, 5), "RAnkle": (-13, 5),
}


def test_coco_to_h36m_definitions():
    coco = _named(COCO_17, COCO_POINTS)
    h = convert_keypoints(coco, "coco17", "h36m17")
    assert h.shape == (17, 2)
    j = {n: h[i] for i, n in enumerate(H36M_17.joint_names)}
    np.testing.assert_allclose(j["Hip"], (0, 90))
    np.testing.assert_allclose(j["Thorax"], (0, 140))
    np.testing.assert_allclose(j["Spine"], (0, 115))  # midpoint of hip and thorax
    np.testing.assert_allclose(j["Neck/Nose"], (0, 170))
    np.testing.assert_allclose(j["Head"], (0, 170))  # mean of eyes and ears
    np.testing.assert_allclose(j["RFoot"], (-13, 5))
    np.testing.assert_allclose(j["LWrist"], (35, 80))
    np.testing.assert_allclose(j["RShoulder"], (-20, 140))


def test_mpii_to_h36m_definitions():
    pts = {"RAnkle": (-1, 0), "RKnee": (-1, 4), "RHip": (-1, 8), "LHip": (1, 8), "LKnee": (1, 4),
           "LAnkle": (1, 0), "Pelvis": (0, 8), "Thorax": (0, 14), "UpperNeck": (0, 15),
           "HeadTop": (0, 18), "RWrist": (-4, 9), "RElbow": (-3, 11), "RShoulder": (-2, 14),
           "LShoulder": (2, 14), "LElbow": (3, 11), "LWrist": (4, 9)}
    h = convert_keypoints(_named(MPII_16, pts), "mpii", "h36m")
    j = {n: h[i] for i, n in enumerate(H36M_17.joint_names)}
    np.testing.assert_allclose(j["Hip"], (0, 8))
    np.testing.assert_allclose(j["Spine"], (0, 11))
    np.testing.assert_allclose(j["Thorax"], (0, 14))
    np.testing.assert_allclose(j["Neck/Nose"], (0, 15))
    np.testing.assert_allclose(j["Head"], (0, 18))
    np.testing.assert_allclose(j["RFoot"], (-1, 0))
    np.testing.assert_allclose(j["LElbow"], (3, 11))
    np.testing.assert_allclose(j["RWrist"], (-4, 9))


def test_coco_to_humaneva_is_the_gast_remap():
    coco = np.arange(17 * 2, dtype=np.float64).reshape(17, 2)
    he = convert_keypoints(coco, COCO_17, HUMANEVA_15)
    np.testing.assert_allclose(he[0], (coco[11] + coco[12]) / 2)
    np.testing.assert_allclose(he[1], (coco[5] + coco[6]) / 2)
    np.testing.assert_allclose(he[2:8], coco[[5, 7, 9, 6, 8, 10]])
    np.testing.assert_allclose(he[8:14], coco[[11, 13, 15, 12, 14, 16]])
    np.testing.assert_allclose(he[14], coco[0])


def test_h36m_to_humaneva_in_3d_keeps_names():
    h36m = np.arange(17 * 3, dtype=np.float32).reshape(1, 17, 3)
    he = convert_keypoints(h36m, "h36m17", "humaneva15")
    assert he.shape == (1, 15, 3) and he.dtype == np.float32
    for i, name in enumerate(HUMANEVA_15.joint_names):
        src = {"LAnkle": "LFoot", "RAnkle": "RFoot"}.get(name, name)
        np.testing.assert_array_equal(he[0, i], h36m[0, H36M_17.joint_names.index(src)])


def test_3dhp_reorder_and_coco_to_h36m_composition_in_3d():
    pts = np.random.default_rng(1).normal(size=(4, 17, 3))
    out = convert_keypoints(pts, MPI3DHP_17, "h36m17")
    np.testing.assert_array_equal(out[:, 0], pts[:, 14])  # pelvis is the root
    np.testing.assert_array_equal(out[:, 10], pts[:, 0])  # head top -> Head
    assert sorted(np.argmax(conversion_matrix("3dhp", "h36m"), axis=1)) == list(range(17))


def test_identity_torch_and_errors():
    torch = pytest.importorskip("torch")
    kp = np.ones((3, 15, 2))
    assert convert_keypoints(kp, "humaneva15", "humaneva") is kp
    t = torch.ones((2, 17, 2), dtype=torch.float32, requires_grad=True)
    out = convert_keypoints(t, "coco", "humaneva")
    assert out.shape == (2, 15, 2)
    out.sum().backward()
    assert t.grad is not None
    with pytest.raises(ConfigError, match="supported: .*coco17->h36m17"):
        convert_keypoints(np.zeros((17, 2)), "h36m17", "coco17")
    with pytest.raises(ConfigError, match="unknown joint layout"):
        resolve_layout("openpose25")
    with pytest.raises(DataError, match="coco17"):
        convert_keypoints(np.zeros((5, 16, 2)), "coco17", "h36m17")
    assert ("coco17", "humaneva15") in supported_conversions()
