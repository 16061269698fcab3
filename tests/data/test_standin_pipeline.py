"""Resampling, split rule, joint definitions and the detector noise model of the stand-in build."""
import numpy as np
import pytest

from bench.data.standin_build import detector_noise as dn
from bench.data.standin_build.joints import SPINE_FRACTION, Landmarks, closest_arc, point_at_arc, to_h36m17
from bench.data.standin_build.resample import resample_linear
from bench.data.standin_build.retarget import BODIES, retarget
from bench.data.standin_build.split import GAP, MIN_TRAIN, split_clip


def test_resampling_preserves_linear_motion():
    t = np.arange(121) / 120.0
    x = np.stack([1.0 + 2.0 * t, -0.5 * t, 0.3 + 0 * t], axis=1)[:, None].repeat(17, axis=1)  # (F, 17, 3)
    y = resample_linear(x, 120.0, 50.0)
    t_out = np.arange(len(y)) / 50.0
    assert len(y) == 51
    np.testing.assert_allclose(y[:, 5, 0], 1.0 + 2.0 * t_out, atol=1e-12)
    np.testing.assert_allclose(y[:, 5, 1], -0.5 * t_out, atol=1e-12)
    # 16 Hz -> 50 Hz (upsampling, as for the DeepMimic backflip) as well.
    z = resample_linear(np.arange(17.0)[:, None] / 16.0, 16.0, 50.0)
    np.testing.assert_allclose(z[:, 0], np.arange(len(z)) / 50.0, atol=1e-12)


@pytest.mark.parametrize("n", [77, 107, 152, 320, 1016, 1146, 1879, 4000])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_split_gap_and_no_overlap(n, seed):
    sp = split_clip(n, seed)
    a, b = sp.test
    assert 0 <= a < b <= n and abs((b - a) - 0.25 * n) <= 1
    used = np.zeros(n, int)
    used[a:b] += 1
    for s, e in sp.train:
        assert e - s >= MIN_TRAIN
        used[s:e] += 1
        gap = s - b if s >= b else a - e
        assert gap >= (GAP if n > 0.25 * n + GAP + MIN_TRAIN + 1 else sp.gap) >= 30  # ~1 s (>= 0.6 s for the kick)
    assert used.max() == 1
    if n >= 300:
        assert sp.gap == GAP


def test_joint_definitions_on_a_straight_trunk():
    f = 3
    z = lambda h: np.tile([0.0, 0.0, h], (f, 1))  # noqa: E731
    limbs = {"l_hip": z(1.0) + [0, 0.1, 0], "r_hip": z(1.0) - [0, 0.1, 0], "l_knee": z(0.5) + [0, 0.1, 0],
             "r_knee": z(0.5) - [0, 0.1, 0], "l_ankle": z(0.1) + [0, 0.1, 0], "r_ankle": z(0.1) - [0, 0.1, 0],
             "l_shoulder": z(1.5) + [0, 0.2, 0], "r_shoulder": z(1.5) - [0, 0.2, 0],
             "l_elbow": z(1.2) + [0, 0.25, 0], "r_elbow": z(1.2) - [0, 0.25, 0],
             "l_wrist": z(1.0) + [0, 0.25, 0], "r_wrist": z(1.0) - [0, 0.25, 0]}
    mid = np.stack([z(1.1), z(1.3), z(1.6)], axis=1)
    lm = Landmarks(limbs, mid, z(1.75), np.tile([0.0, 0, 1], (f, 1)), np.tile([1.0, 0, 0], (f, 1)))
    j, info = to_h36m17(lm)
    np.testing.assert_allclose(j[:, 0], z(1.0))                      # Hip = mid-hips
    np.testing.assert_allclose(j[:, 8], z(1.5), atol=1e-12)          # Thorax at shoulder level
    np.testing.assert_allclose(j[:, 7], z(1.0 + SPINE_FRACTION * 0.5), atol=1e-12)
    assert j[0, 9, 0] > 0.05 and j[0, 10, 2] > 1.75                  # nose in front, head above
    poly = np.stack([z(0.0), z(1.0), z(3.0)], axis=1)
    np.testing.assert_allclose(point_at_arc(poly, np.full(f, 2.0)), z(2.0))
    np.testing.assert_allclose(closest_arc(poly, z(2.5) + [1, 0, 0]), 2.5)


def test_retarget_keeps_directions_and_sets_lengths():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 17, 3))
    x[..., 2] += 1.0
    body = BODIES["S9"]
    y = retarget(x, body)
    from bench.skeleton import H36M_17
    lens = body.joint_lengths()
    for j, p in enumerate(H36M_17.parents):
        if p < 0:
            continue
        d_in = (x[:, j] - x[:, p]) / np.linalg.norm(x[:, j] - x[:, p], axis=1, keepdims=True)
        d_out = y[:, j] - y[:, p]
        np.testing.assert_allclose(np.linalg.norm(d_out, axis=1), lens[j], rtol=1e-12)
        np.testing.assert_allclose(d_out / lens[j], d_in, atol=1e-12)
    assert y[..., 2].min() >= -1e-12  # nothing below the floor


def test_detector_noise_deterministic_and_documented_statistics():
    n = 20000
    kp = np.full((n, 17, 2), 500.0)
    a, ev_a = dn.detector_noise(kp, 123, (1000, 1000))
    b, _ = dn.detector_noise(kp, 123, (1000, 1000))
    c, _ = dn.detector_noise(kp, 124, (1000, 1000))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # Jitter alone: stationary std SIGMA_PX * joint scale and lag-1 correlation RHO.
    e = dn.ar1_jitter(np.random.default_rng(5), n, dn.SIGMA_PX * dn.JOINT_SCALE_H36M)
    np.testing.assert_allclose(e.std(axis=(0, 2)), dn.SIGMA_PX * dn.JOINT_SCALE_H36M, rtol=0.1)
    r = np.mean([np.corrcoef(e[1:, j, 0], e[:-1, j, 0])[0, 1] for j in range(17)])
    assert abs(r - dn.RHO) < 0.03
    # Robust spread of the full model matches the jitter; outliers and swaps occur at about the rates.
    d = a - kp
    mad = 1.4826 * np.median(np.abs(d - np.median(d, axis=0)), axis=0).mean(axis=1)
    np.testing.assert_allclose(mad, dn.SIGMA_PX * dn.JOINT_SCALE_H36M, rtol=0.15)
    expected_out = n * dn.OUTLIER_RATE * dn.JOINT_SCALE_H36M.sum()
    assert 0.7 * expected_out < ev_a["outliers"] < 1.3 * expected_out
    assert 0.5 * n * dn.SWAP_RATE < ev_a["swaps"] < 1.6 * n * dn.SWAP_RATE  # Poisson, mean 40
    big = np.linalg.norm(d, axis=2) > 12 * dn.SIGMA_PX * dn.JOINT_SCALE_H36M
    assert big.any() and big.mean() < 0.02


def test_detector_swaps_exchange_left_and_right():
    n = 4000
    kp = np.zeros((n, 17, 2))
    kp[:, list(dn.SWAP_GROUPS_H36M[0][1])] = [600.0, 500.0]   # left leg on the right of the image
    kp[:, list(dn.SWAP_GROUPS_H36M[0][0])] = [400.0, 500.0]
    out, ev = dn.detector_noise(kp + 1.0, 7, (1000, 1000))
    swapped = out[:, 3, 0] > 500  # the right ankle found where the left one is
    assert ev["swaps"] > 0 and swapped.any() and swapped.mean() < 0.05
