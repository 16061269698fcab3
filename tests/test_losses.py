"""Motion loss (bench/losses.py, UGCN Eq. 3-6): encodings on hand-computed trajectories, the pendulum toy
of the paper's Fig. 1, the normalisation, operator combinations, the derivative-loss special case, the
balanced reading (temporal_mean_length with an MPJPE L_p) and loss_terms."""
import math

import pytest
import torch

from bench.config import resolve
from bench.typed_config import section
from bench.errors import ConfigError
from bench.losses import (derivative_loss, loss_terms, motion_encoding, motion_loss, parse_operators,
                          pose_scale, position_loss)


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


# ---------------------------------------------------------------- the balanced reading and loss_terms

def two_joint_circle(frames=10, omega=0.3, radius=2.0):
    """Root at 0 (root-relative) and one joint on a circle of ``radius``: (1, T, 2, 3)."""
    return torch.cat([torch.zeros(1, frames, 1, 3, dtype=torch.float64), circle(frames, omega, radius)], 2)


def balanced_cfg(intervals=(3,), operator="cross", weight=1.0, loss="mpjpe", normalize="temporal_mean_length"):
    return section(resolve({"train": {"loss": loss, "motion_loss": {"intervals": list(intervals), "operator": operator,
                                                            "weight": weight, "normalize": normalize,
                                                            "distance": "l1"}}})["train"], "train")


def test_balanced_reading_on_a_circle_by_hand():
    """gt: root + a joint on a circle of radius r = 2; prediction: the same circle scaled by a = 2.
    cross encodings along z: gt r^2 sin(w tau), prediction a^2 r^2 sin(w tau); their temporal-wise mean over
    frames and joints (the root's is 0) is r^2 sin(w tau) / 2, so the normalised l1 error is 2 (a^2 - 1) on
    the circle joint and 0 on the root, mean a^2 - 1 = 3; the pose scale sigma (mean joint distance from the
    root) is r / 2 = 1; L_m = 3 * 1 = 3 (a length), L_p = MPJPE = (a - 1) r / 2 = 1, ratio a + 1 = 3."""
    gt = two_joint_circle()
    pred = two_joint_circle(radius=4.0)
    assert pose_scale(gt).tolist() == pytest.approx([1.0])
    assert motion_loss(pred, gt, [3], "cross", "temporal_mean").item() == pytest.approx(3.0)  # unit free
    assert motion_loss(pred, gt, [3], "cross", "temporal_mean_length").item() == pytest.approx(3.0)
    terms = loss_terms(pred, gt, balanced_cfg())
    assert terms == pytest.approx({"position": 1.0, "motion": 3.0, "weighted_motion": 3.0, "ratio": 3.0})
    # in other units (r = 2 km, or 2000 mm): L_m and L_p both scale by 1000, the ratio does not move
    big = loss_terms(1000 * pred, 1000 * gt, balanced_cfg())
    assert big == pytest.approx({"position": 1000.0, "motion": 3000.0, "weighted_motion": 3000.0, "ratio": 3.0})
    # subtraction encodings are lengths already: not normalised, not scaled
    assert motion_loss(pred, gt, [3], "subtraction", "temporal_mean_length").item() == pytest.approx(
        motion_loss(pred, gt, [3], "subtraction", "none").item())


def test_balanced_ratio_does_not_depend_on_the_unit_and_the_old_readings_do():
    torch.manual_seed(6)
    target = torch.randn(3, 24, 5, 3, dtype=torch.float64)
    target[:, :, 0] = 0
    pred = target + 0.1 * torch.randn_like(target)
    for op in ("cross", "inner", "subtraction", "subtraction+inner+cross"):
        cfg = balanced_cfg((2, 8), op)
        metres, millimetres = loss_terms(pred, target, cfg), loss_terms(1000 * pred, 1000 * target, cfg)
        assert millimetres["ratio"] == pytest.approx(metres["ratio"], rel=1e-9), op
        assert millimetres["position"] == pytest.approx(1000 * metres["position"], rel=1e-9)
    for loss, normalize, factor in (("mpjpe", "temporal_mean", 1e-3), ("mse", "temporal_mean", 1e-6),
                                    ("mse", "temporal_mean_length", 1e-3)):
        cfg = balanced_cfg((2, 8), "cross", loss=loss, normalize=normalize)
        metres, millimetres = loss_terms(pred, target, cfg), loss_terms(1000 * pred, 1000 * target, cfg)
        assert millimetres["ratio"] == pytest.approx(factor * metres["ratio"], rel=1e-9), (loss, normalize)


def test_loss_terms_keys_weight_and_the_training_loss():
    from bench.engine.train import make_loss_fn, training_loss

    torch.manual_seed(7)
    target = torch.randn(2, 16, 4, 3)
    pred = target + 0.2 * torch.randn_like(target)
    cfg = balanced_cfg((4, 8), "cross", weight=0.5)
    terms = loss_terms(pred, target, cfg)
    assert set(terms) == {"position", "motion", "weighted_motion", "ratio"}
    assert all(isinstance(v, float) for v in terms.values())
    assert terms["weighted_motion"] == pytest.approx(0.5 * terms["motion"])
    assert terms["ratio"] == pytest.approx(terms["weighted_motion"] / terms["position"])
    # the two terms are what the engine adds up
    assert terms["position"] + terms["weighted_motion"] == pytest.approx(make_loss_fn(cfg)(pred, target).item(),
                                                                         rel=1e-5)
    for kind in ("mpjpe", "mse"):
        assert position_loss(pred, target, kind).item() == training_loss(pred, target, kind).item()
    none = loss_terms(pred, target, balanced_cfg((), loss="mse"))
    assert none["motion"] == none["weighted_motion"] == none["ratio"] == 0.0 and none["position"] > 0
    assert loss_terms(target, target, cfg) == {"position": 0.0, "motion": 0.0, "weighted_motion": 0.0,
                                               "ratio": 0.0}
    # a partial section is not a resolved config: refused by name, never completed with restated defaults
    with pytest.raises(ConfigError, match="config lacks train.epochs"):
        section({"loss": "mpjpe"}, "train")


def test_balanced_reading_is_a_config_option_and_old_ids_stay():
    from bench.config import experiment_id

    base = {"model.name": "ugcn", "train.motion_loss.intervals": [12]}
    cfg = resolve(base, {"train.motion_loss.normalize": "temporal_mean_length"})
    assert cfg["train"]["motion_loss"]["normalize"] == "temporal_mean_length"
    assert experiment_id(resolve(base), [{}]) != experiment_id(cfg, [{}])
    with pytest.raises(ConfigError, match="temporal_mean_length"):
        resolve(base, {"train.motion_loss.normalize": "balanced"})
