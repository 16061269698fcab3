"""Closed-form checks of the pose metrics (model-specs.md 5.4 and 7)."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from bench import metrics
from bench.errors import ConfigError

RNG = np.random.default_rng(0)
POSE = RNG.normal(size=(17, 3))  # one chiral (non-planar) pose, arbitrary units


def _rot_z(deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def test_mpjpe_constant_offset_is_offset_length():
    target = np.stack([POSE, POSE + 1])
    pred = target + np.array([3.0, 4.0, 0.0])
    assert metrics.mpjpe(pred, target) == pytest.approx(5.0)
    np.testing.assert_allclose(metrics.mpjpe_per_frame(pred, target), [5.0, 5.0])


def test_similarity_transform_gives_zero_p_mpjpe_and_known_mpjpe():
    # Rotate 90 deg about z, scale by 2, translate: P2 must undo it exactly.
    target = np.stack([POSE, 0.5 * POSE])
    rot = _rot_z(90)
    pred = 2.0 * target @ rot.T + np.array([1.0, -2.0, 0.5])
    assert metrics.p_mpjpe(pred, target) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(metrics.procrustes_align(pred, target), target, atol=1e-9)
    # Hand-computed P1 on a simpler pair: two joints at the origin and (1, 0, 0), prediction
    # rotated 90 deg about z around the origin -> errors 0 and sqrt(2).
    g = np.array([[[0.0, 0, 0], [1.0, 0, 0]]])
    p = g @ _rot_z(90).T
    assert metrics.mpjpe(p, g) == pytest.approx(np.sqrt(2) / 2)
    assert metrics.p_mpjpe(p, g) == pytest.approx(0.0, abs=1e-9)


def _reference_p_mpjpe(pred, target):
    """Independent proper-rotation Procrustes: Kabsch via scipy, then the optimal scale."""
    out = []
    for p, g in zip(pred, target):
        p0, g0 = p - p.mean(0), g - g.mean(0)
        rot, _ = Rotation.align_vectors(g0, p0)  # proper rotation minimising ||g0 - R p0||
        rp = rot.apply(p0)
        a = np.sum(rp * g0) / np.sum(p0 * p0)
        out.append(np.linalg.norm(a * rp - g0, axis=-1).mean())
    return np.mean(out)


def test_reflected_pose_is_not_aligned_by_a_reflection():
    mirror = np.diag([-1.0, 1.0, 1.0])
    target = np.stack([POSE, POSE * [1, 2, 1]])
    pred = target @ mirror
    ours = metrics.p_mpjpe(pred, target)
    assert ours > 0.1  # a chiral pose cannot be rotated onto its mirror image
    assert ours == pytest.approx(_reference_p_mpjpe(pred, target), rel=1e-6)
    # A planar pose (z = 0) mirrored in x equals a 180 deg rotation about y: P2 is exactly 0.
    flat = POSE * [1, 1, 0]
    assert metrics.p_mpjpe((flat @ mirror)[None], flat[None]) == pytest.approx(0.0, abs=1e-6)


def test_p_mpjpe_matches_reference_on_noisy_poses_and_collapsed_prediction():
    target = RNG.normal(size=(5, 17, 3))
    pred = target @ _rot_z(33).T * 0.7 + RNG.normal(scale=0.2, size=target.shape)
    assert metrics.p_mpjpe(pred, target) == pytest.approx(_reference_p_mpjpe(pred, target), rel=1e-6)
    collapsed = np.zeros_like(target[:1])  # all joints at one point: aligned to the centroid
    expected = np.linalg.norm(target[0] - target[0].mean(0), axis=-1).mean()
    assert metrics.p_mpjpe(collapsed, target[:1]) == pytest.approx(expected)


def test_n_mpjpe_removes_pure_scale_and_not_a_shift():
    target = np.stack([POSE, 2 * POSE])
    assert metrics.n_mpjpe(1.7 * target, target) == pytest.approx(0.0, abs=1e-12)
    assert metrics.mpjpe(1.7 * target, target) > 0.1
    # Closed form: one joint g = (1, 0, 0), p = (1, 1, 0): s = 1/2, s p - g = (-1/2, 1/2, 0).
    p, g = np.array([[[1.0, 1, 0]]]), np.array([[[1.0, 0, 0]]])
    assert metrics.n_mpjpe(p, g) == pytest.approx(np.sqrt(0.5))


def test_mpjve_constant_offset_and_linear_drift():
    t = np.arange(10.0)[:, None, None]
    target = POSE[None] + t * np.array([0.1, 0.0, 0.0])  # moving subject
    assert metrics.mpjve(target + np.array([5.0, -1.0, 2.0]), target) == pytest.approx(0.0, abs=1e-12)
    drift = target + t * np.array([0.0, 3.0, 4.0])  # error grows by (0, 3, 4) per frame
    assert metrics.mpjve(drift, target) == pytest.approx(5.0)
    assert metrics.mpjve_per_frame(drift, target).shape == (9,)
    with pytest.raises(ValueError):
        metrics.mpjve(target[:1], target[:1])


def _errors_along_x(errs_mm):
    """A one-frame pose whose joint j has error exactly errs_mm[j] (offsets along x)."""
    target = np.zeros((1, len(errs_mm), 3))
    pred = target.copy()
    pred[0, :, 0] = errs_mm
    return pred, target


def test_pck_is_strict_at_the_threshold_and_takes_a_subset():
    pred, target = _errors_along_x([0.0, 50.0, 149.0, 150.0, 151.0, 300.0])
    assert metrics.pck(pred, target) == pytest.approx(100 * 3 / 6)  # 150 itself is not < 150
    assert metrics.pck(pred, target, threshold=151.0) == pytest.approx(100 * 4 / 6)
    assert metrics.pck(pred, target, joints=[0, 3, 5]) == pytest.approx(100 / 3)
    # Metre inputs: a threshold in metres, or a scale to millimetres.
    assert metrics.pck(pred / 1000, target, threshold=0.15) == pytest.approx(50.0)
    assert metrics.pck(pred / 1000, target, scale=1000) == pytest.approx(50.0)
    np.testing.assert_allclose(metrics.pck_per_frame(pred, target), [50.0])


def test_auc_on_hand_built_errors():
    np.testing.assert_allclose(metrics.auc_thresholds(), np.arange(0, 151, 5))
    # Error 52 mm: correct for thresholds 55..150 = 20 of 31.
    pred, target = _errors_along_x([52.0])
    assert metrics.auc(pred, target) == pytest.approx(100 * 20 / 31)
    # Error exactly 50 mm: 50 is not < 50, so again thresholds 55..150.
    pred, target = _errors_along_x([50.0])
    assert metrics.auc(pred, target) == pytest.approx(100 * 20 / 31)
    # Perfect prediction: every threshold but 0 -> 30/31; huge error -> 0.
    pred, target = _errors_along_x([0.0, 1000.0])
    assert metrics.auc(pred, target) == pytest.approx(50 * 30 / 31)
    # Metres with scale=1000 give the same number as millimetres.
    pred, target = _errors_along_x([52.0, 7.0])
    mm = metrics.auc(pred, target)
    assert metrics.auc(pred / 1000, target / 1000, max_threshold=150, num_thresholds=31,
                       scale=1000) == pytest.approx(mm)
    assert metrics.auc(pred, target, joints=metrics.PCK14_JOINTS_H36M[:1]) == pytest.approx(
        metrics.auc(pred[:, 1:2], target[:, 1:2]))


def test_action_wise_and_frame_wise_averaging_differ_by_known_amount():
    errors = {
        ("S9", "Walking", 0): [30.0],
        ("S9", "Walking 1", 0): [10.0, 10.0, 10.0],
        ("S9", "Eating", 0): [40.0],
    }

    def group(key):
        return key[1].split(" ")[0]

    # Walking: (30 + 3*10) / 4 = 15; Eating: 40. Action-wise (15 + 40) / 2 = 27.5;
    # frame-wise (30 + 30 + 40) / 5 = 20.
    assert metrics.aggregate(errors, group, "action") == pytest.approx(27.5)
    assert metrics.aggregate(errors, group, "frame") == pytest.approx(20.0)
    assert metrics.per_action(errors, group) == {"Eating": pytest.approx(40.0),
                                                 "Walking": pytest.approx(15.0)}
    as_mapping = {k: group(k) for k in errors}
    assert metrics.aggregate(errors, as_mapping) == pytest.approx(27.5)
    with pytest.raises(ConfigError, match="averaging mode"):
        metrics.aggregate(errors, group, "weighted")
    with pytest.raises(ConfigError, match="no sequences"):
        metrics.aggregate({}, group)


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="differs"):
        metrics.mpjpe(np.zeros((2, 17, 3)), np.zeros((2, 16, 3)))


def test_torch_mpjpe_and_n_mpjpe_are_differentiable():
    torch = pytest.importorskip("torch")
    target = torch.tensor(np.stack([POSE, POSE + 1]))
    pred = (target + torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64)).requires_grad_(True)
    loss = metrics.mpjpe(pred, target)
    assert loss.ndim == 0 and float(loss.detach()) == pytest.approx(5.0)
    loss.backward()
    expected = torch.tensor([0.6, 0.8, 0.0], dtype=torch.float64) / (2 * 17)
    torch.testing.assert_close(pred.grad, expected.expand_as(pred))
    pred2 = (1.5 * target).requires_grad_(True)
    loss2 = metrics.n_mpjpe(pred2, target)
    assert loss2.ndim == 0 and float(loss2.detach()) == pytest.approx(0.0, abs=1e-9)
    (metrics.n_mpjpe(pred2 + 0.1, target)).backward()
    assert pred2.grad is not None and torch.isfinite(pred2.grad).all()
    assert float(metrics.n_mpjpe(pred2.detach().numpy() + 0.1, target.numpy())) == pytest.approx(
        float(metrics.n_mpjpe(pred2.detach() + 0.1, target)))
