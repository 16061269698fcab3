"""Motion loss (bench/losses.py, UGCN Eq. 3-4): encodings on hand-computed trajectories, the pendulum toy
of the paper's Fig. 1, the normalisation, operator combinations and the derivative-loss special case."""
import math

import pytest
import torch

from bench.errors import ConfigError
from bench.losses import derivative_loss, motion_encoding, motion_loss, parse_operators


def circle(frames: int, omega: float, radius: float = 1.0) -> torch.Tensor:
    """One joint on a circle in the xy plane: s_t = r (cos wt, sin wt, 0); shape (1, T, 1, 3)."""
    t = torch.arange(frames, dtype=torch.float64)
    return radius * torch.stack([torch.cos(omega * t), torch.sin(omega * t), torch.zeros_like(t)], -1)[None, :, None]


def test_encodings_on_a_circle_by_hand():
    s = circle(10, 0.3, radius=2.0)
    cross = motion_encoding(s, 3, "cross")
    inner = motion_encoding(s, 3, "inner")
    sub = motion_encoding(s, 3, "subtraction")
    assert cross.shape == (1, 7, 1, 3) and inner.shape == (1, 7, 1, 1)
    # r^2 sin(w tau) along z, r^2 cos(w tau), and a chord of length 2 r sin(w tau / 2)
    torch.testing.assert_close(cross[..., 2], torch.full((1, 7, 1), 4 * math.sin(0.9), dtype=torch.float64))
    torch.testing.assert_close(cross[..., :2], torch.zeros(1, 7, 1, 2, dtype=torch.float64))
    torch.testing.assert_close(inner[..., 0], torch.full((1, 7, 1), 4 * math.cos(0.9), dtype=torch.float64))
    torch.testing.assert_close(sub.norm(dim=-1), torch.full((1, 7, 1), 4 * math.sin(0.45), dtype=torch.float64))


def pendulum_traces(frames=60, c=0.2):
    """Ground truth x(t) = sin(t / 5) and three estimates with the same mean l1 error c (Fig. 1)."""
    t = torch.arange(frames, dtype=torch.float64)
    gt = torch.zeros(1, frames, 1, 3, dtype=torch.float64)
    gt[..., 0] = torch.sin(t / 5)[None, :, None]
    shifted, stepped, jittery = gt.clone(), gt.clone(), gt.clone()
    shifted[..., 0] += c                                                     # same shape
    stepped[..., 0] += torch.where(t < frames // 2, c, -c)[None, :, None]    # trend changes once
    jittery[..., 0] += (c * (-1) ** t)[None, :, None]                        # fluctuates every frame
    return gt, shifted, stepped, jittery


def test_pendulum_toy_same_l1_different_motion_loss():
    gt, shifted, stepped, jittery = pendulum_traces()
    for est in (shifted, stepped, jittery):
        assert (est - gt).abs().sum(-1).mean().item() == pytest.approx(0.2)
    losses = [motion_loss(e, gt, [1], "subtraction").item() for e in (shifted, stepped, jittery)]
    # shifted: no motion error; stepped: one jump of 2c among 59 displacements; jittery: 2c every frame
    assert losses[0] == pytest.approx(0.0, abs=1e-12)
    assert losses[1] == pytest.approx(0.4 / 59)
    assert losses[2] == pytest.approx(0.4)


def loop_reference(pred, target, intervals, op, per_joint=False):
    """Eq. 4 with the normalisation written out with loops (per sample and interval, or also per joint)."""
    b, t, j, _ = pred.shape
    per_tau = []
    for tau in intervals:
        num, count = 0.0, 0
        for n in range(b):
            enc = [[motion_encoding(target[n:n + 1, :, k:k + 1], tau, op)[0, i, 0] for i in range(t - tau)]
                   for k in range(j)]
            sample_scale = sum(x.norm() for g in enc for x in g) / ((t - tau) * j)
            for k in range(j):
                m = [motion_encoding(pred[n:n + 1, :, k:k + 1], tau, op)[0, i, 0] for i in range(t - tau)]
                g = enc[k]
                scale = sum(x.norm() for x in g) / (t - tau) if per_joint else sample_scale
                if op != "subtraction":
                    if scale <= 1e-8:
                        continue
                    m, g = [x / scale for x in m], [x / scale for x in g]
                num += sum((x - y).abs().sum() for x, y in zip(m, g))
                count += t - tau
        per_tau.append(num / count)
    return sum(per_tau) / len(per_tau)


@pytest.mark.parametrize("op", ["subtraction", "inner", "cross"])
@pytest.mark.parametrize("per_joint", [False, True])
def test_motion_loss_matches_loop_reference(op, per_joint):
    torch.manual_seed(0)
    target = torch.randn(2, 9, 3, 3, dtype=torch.float64)
    pred = target + 0.3 * torch.randn_like(target)
    got = motion_loss(pred, target, [1, 4], op, "temporal_mean_joint" if per_joint else "temporal_mean")
    assert got.item() == pytest.approx(float(loop_reference(pred, target, [1, 4], op, per_joint)), rel=1e-9)
    if op != "subtraction":  # the two scopes differ
        other = motion_loss(pred, target, [1, 4], op, "temporal_mean" if per_joint else "temporal_mean_joint")
        assert other.item() != pytest.approx(got.item(), rel=1e-3)


@pytest.mark.parametrize("scope", ["temporal_mean", "temporal_mean_joint"])
def test_normalised_cross_loss_is_scale_free(scope):
    torch.manual_seed(1)
    target = torch.randn(2, 12, 4, 3, dtype=torch.float64)
    target[:, :, 0] = 0  # root-relative: the root never moves
    pred = target + 0.1 * torch.randn_like(target)
    a = motion_loss(pred, target, [2, 5], "cross", scope)
    b = motion_loss(10 * pred, 10 * target, [2, 5], "cross", scope)
    assert a.item() == pytest.approx(b.item(), rel=1e-9)  # both encodings scale by 100, and so does the mean


def test_per_joint_normalisation_leaves_the_root_out():
    torch.manual_seed(1)
    target = torch.randn(2, 12, 4, 3, dtype=torch.float64)
    target[:, :, 0] = 0  # root-relative: the root never moves
    pred = target + 0.1 * torch.randn_like(target)
    a = motion_loss(pred, target, [2, 5], "cross", "temporal_mean_joint")
    b = motion_loss(10 * pred, 10 * target, [2, 5], "cross", "temporal_mean_joint")
    assert a.item() == pytest.approx(b.item(), rel=1e-9)  # both encodings scale by 100, and so does the mean
    assert motion_loss(pred, target, [2], "cross", normalize="none").item() != pytest.approx(
        motion_loss(10 * pred, 10 * target, [2], "cross", normalize="none").item())
    # the root's prediction does not enter the normalised loss (its ground-truth encoding is zero) ...
    moved = pred.clone()
    moved[:, :, 0] += 0.5
    per_joint = [motion_loss(q, target, [2], "cross", "temporal_mean_joint").item() for q in (moved, pred)]
    assert per_joint[0] == pytest.approx(per_joint[1])
    # ... and the gradient stays finite
    p = pred.clone().requires_grad_(True)
    motion_loss(p, target, [2], "cross", "temporal_mean_joint").backward()
    assert torch.isfinite(p.grad).all()


def test_normaliser_carries_no_gradient():
    torch.manual_seed(2)
    target = torch.randn(1, 8, 2, 3, dtype=torch.float64, requires_grad=True)
    pred = torch.randn(1, 8, 2, 3, dtype=torch.float64)
    motion_loss(pred, target, [1], "inner", "temporal_mean_joint").backward()
    # the same loss with the normaliser computed beforehand as a constant
    t2 = target.detach().clone().requires_grad_(True)
    scale = motion_encoding(target.detach(), 1, "inner").norm(dim=-1).mean(1, keepdim=True)[..., None]
    m, g = motion_encoding(pred, 1, "inner") / scale, motion_encoding(t2, 1, "inner") / scale
    (m - g).abs().sum(-1).mean().backward()
    torch.testing.assert_close(target.grad, t2.grad)


def test_combination_is_the_sum_of_single_operators():
    torch.manual_seed(3)
    target = torch.randn(2, 10, 3, 3)
    pred = target + 0.2 * torch.randn_like(target)
    both = motion_loss(pred, target, [3], "subtraction+cross")
    single = motion_loss(pred, target, [3], "subtraction") + motion_loss(pred, target, [3], "cross")
    assert both.item() == pytest.approx(single.item(), rel=1e-6)


def test_interval_set_is_averaged_and_l2_differs_from_l1():
    torch.manual_seed(4)
    target = torch.randn(1, 20, 2, 3)
    pred = target + 0.2 * torch.randn_like(target)
    avg = (motion_loss(pred, target, [2], "cross") + motion_loss(pred, target, [8], "cross")) / 2
    assert motion_loss(pred, target, [2, 8], "cross").item() == pytest.approx(avg.item(), rel=1e-6)
    assert motion_loss(pred, target, [2], "subtraction", distance="l2").item() < \
        motion_loss(pred, target, [2], "subtraction", distance="l1").item()


def test_derivative_loss_is_subtraction_at_interval_one():
    torch.manual_seed(5)
    target = torch.randn(2, 6, 3, 3)
    pred = target + torch.randn_like(target)
    expected = ((pred[:, 1:] - pred[:, :-1]) - (target[:, 1:] - target[:, :-1])).abs().sum(-1).mean()
    assert derivative_loss(pred, target).item() == pytest.approx(expected.item(), rel=1e-6)


def test_identical_sequences_have_zero_motion_loss():
    target = torch.randn(2, 10, 3, 3)
    assert motion_loss(target, target, [1, 4, 9], "subtraction+inner+cross").item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("spec,match", [
    ("dot", "unknown operator 'dot'"),
    ("cross+cross", "repeats"),
    ("", "expected one of"),
])
def test_bad_operators(spec, match):
    with pytest.raises(ConfigError, match=match):
        parse_operators(spec)


def test_bad_shapes_and_intervals():
    x = torch.zeros(1, 5, 2, 3)
    with pytest.raises(ValueError, match="interval 5"):
        motion_loss(x, x, [5])
    with pytest.raises(ValueError, match="differ"):
        motion_loss(x, torch.zeros(1, 6, 2, 3), [1])
    with pytest.raises(ValueError, match="empty interval set"):
        motion_loss(x, x, [])
    assert parse_operators("Subtraction + cross") == ["subtraction", "cross"]
