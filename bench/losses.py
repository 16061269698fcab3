"""Training losses beyond the per-pose error: the motion loss of UGCN (Wang et al., ECCV 2020, section 3.1).

Pairwise motion encoding (Eq. 3): m_{t,j,tau} = s_{t,j} (*) s_{t+tau,j} for a binary operator (*) =
subtraction, inner product or cross product. Motion loss (Eq. 4), position loss (Eq. 5) and their sum (Eq. 6):

    L_m = 1/|T| sum_{tau in T} sum_{t=1}^{T-tau} sum_j || m_{t,j,tau} - m^gt_{t,j,tau} ||
    L_p = sum_{t=1}^{T} sum_j || s_{t,j} - s^gt_{t,j} ||_2^2
    L   = L_p + lambda L_m

"Considering the various value ranges of different motion encoding ..., we normalize the inner-product and
cross product encoding by the temporal-wise mean value before computing motion loss. Based on this
normalization, we can set lambda = 1 to balance the reconstruction loss and our motion loss" (section 3.3).

Choices the paper leaves open (model-specs.md 4.1), each a ``train.motion_loss.*`` switch:

* distance -- ``l1`` (the paper's word: sum of absolute components) or ``l2`` (Euclidean norm);
* averaging -- the sums over samples, t and j are means here (L_p too, ``train.loss``). The paper sums both
  terms over frames and joints, so its ratio L_m / L_p is the ratio of the means times (T - tau) / T (0.75 to
  0.92 for tau = 24 to 8 at T = 96), independent of the batch size;
* normalisation (``train.motion_loss.normalize``) -- "by the temporal-wise mean value":

  - ``temporal_mean`` (default) divides both encodings of a (sample, tau) by the mean over t and joints of
    ||m^gt||: L_m is a relative error without unit;
  - ``temporal_mean_joint`` divides per (sample, joint, tau), the mean over t only (a joint whose
    ground-truth encoding is zero at every t, the root in root-relative coordinates, is then left out).
    Not the default because joints rigidly tied to the root (the hips) have encodings ~20x smaller than
    the limbs' on the stand-in (mean |cross| at tau = 12: 0.003 vs 0.05-0.1 m^2), so their relative errors
    dominate the loss;
  - ``temporal_mean_length`` (the balanced reading) is ``temporal_mean`` multiplied by the sample's pose
    scale sigma = the mean over t and joints of ||s^gt_{t,j}|| (root-relative ground truth, the root
    counted at 0): L_m is then a length, the relative motion error of each sample in the unit of its
    positions. With ``train.loss = mpjpe`` (L_p = the mean Euclidean joint error, Eq. 5 without the
    square) both terms are lengths in the same unit, so L_m / L_p does not depend on the unit (metres or
    millimetres give the same ratio) and lambda = 1 keeps them within an order of magnitude from the first
    step to the last (measured below);
  - ``none``: raw encodings (cross and inner products in length^2).

  The normaliser (and sigma) is a constant: no gradient flows through it. Subtraction encodings are never
  normalised (the paper normalises inner and cross only); they are lengths already;
* several operators (Table 5's "Subtraction + Cross product") -- encodings concatenated, so with the l1
  distance the loss is the sum of the single-operator losses.

Why ``temporal_mean_length`` with an MPJPE L_p. Measured with ``tools/ugcn_loss_terms.py`` (it prints
:func:`loss_terms` for every reading) on the bundled stand-in: UGCN at quick width (widths 16/32/64/64/64,
merge 16), one real training batch of 64 96-frame windows (bench.engine.train.make_batcher, gt 2D, window
stride 64), the four-scale cross product {8, 12, 16, 24}, ratio = lambda L_m / L_p at lambda = 1. "300 steps":
after 300 Adam steps on L_p = MPJPE alone (lr 3e-3; batch MPJPE 444 -> 177 mm, eval mode); "100 mm", "30 mm":
the ground truth plus temporally smooth noise of that MPJPE (white noise: the same cross-product ratios
within 2 %):

  L_p ; normalize                               init   300 steps   100 mm   30 mm    in mm instead of m
  mse ; temporal_mean (the protocols before)    18     73          557      1,840    x 1e-6
  mpjpe ; temporal_mean                         3.3    7.2         22       22       x 1e-3
  the paper's sums (Eq. 4, 5) ; temporal_mean   5.1    21          160      528      x 1e-6
  mse ; temporal_mean_length                    7.8    32          239      793      x 1e-3
  mpjpe ; temporal_mean_length (balanced)       1.43   3.1         9.4      9.4      x 1 (unit free)

Other operators under the balanced reading (init / 300 steps / 30 mm): inner {12} 0.95 / 0.59 / 0.63,
subtraction {12} 0.32 / 0.65 / 2.1, subtraction {1} (the derivative loss) 0.03 / 0.09 / 0.70. A squared L_p
falls with the square of the error while an l1 L_m falls linearly, so with ``mse`` no constant lambda
balances them through training (the ratio grows ~100x from init to 30 mm); with the MPJPE L_p both are
linear in the error and the ratio moves only by the factor the encoding itself sets (at init the motion
error is the whole ground-truth encoding, |m^gt| ~ |s|^2 sin(angle swept in tau frames); trained, it is
~2 |s| |ds|), the same ~6.6x for every constant normaliser (mpjpe ; temporal_mean moves by it too), from
1.4 to 9.4 here. Trained with lambda = 1 under the old reading the model goes to the zero pose (300 steps:
mean |prediction| 14 mm, MPJPE 431 mm against the zero pose's 444 mm; ``--train old``); under the balanced
reading it trains (``--train balanced``, 300 steps: MPJPE 264 mm, mean |prediction| 0.34 m against the
ground truth's 0.43 m, ratio 2.4; L_p alone: 177 mm).

The derivative loss of Hossain & Little (ECCV 2018) that Table 5 compares against is, in UGCN's reading
("regularizes the joint offset between adjacent frames"), the special case operator ``subtraction`` with the
interval set {1}: :func:`derivative_loss`. The authors' release penalises the predicted frame-to-frame
displacement itself, weighted per joint, not its error against the ground truth; that form is the
``hossain`` model's own smoothness term (``baselines/hossain.py``, option ``smoothness_weight``).

:func:`loss_terms` gives the magnitudes of both terms for one batch (the engine records them at the start and
the end of training).
"""
from __future__ import annotations

import torch

from bench.errors import ConfigError

OPERATORS = ("subtraction", "inner", "cross")
DISTANCES = ("l1", "l2")
NORMALISATIONS = ("temporal_mean", "temporal_mean_joint", "none", "temporal_mean_length")
POSITION_LOSSES = ("mpjpe", "mse")


def parse_operators(spec) -> list[str]:
    """``'subtraction+cross'`` -> ['subtraction', 'cross']; unknown or repeated operators are an error."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"motion loss operator: expected one of {', '.join(OPERATORS)} (or several "
                          f"joined by '+'), got {spec!r}")
    ops = [p.strip().lower() for p in spec.split("+")]
    bad = [p for p in ops if p not in OPERATORS]
    if bad:
        raise ConfigError(f"motion loss operator: unknown operator {bad[0]!r} in {spec!r}; "
                          f"choose from {', '.join(OPERATORS)} joined by '+'")
    if len(set(ops)) != len(ops):
        raise ConfigError(f"motion loss operator: {spec!r} repeats an operator")
    return ops


def _check_sequence(s: torch.Tensor, name: str) -> None:
    if s.dim() != 4 or s.shape[-1] != 3:
        raise ValueError(f"{name}: expected (B, T, J, 3) poses, got {tuple(s.shape)}")


def motion_encoding(s: torch.Tensor, tau: int, operator: str) -> torch.Tensor:
    """Eq. 3: (B, T, J, 3) -> (B, T - tau, J, C) with C = 3 (subtraction, cross) or 1 (inner).

    Subtraction is s_{t+tau} - s_t (the displacement; the sign does not change the loss).
    """
    _check_sequence(s, "motion_encoding")
    if not 1 <= tau < s.shape[1]:
        raise ValueError(f"motion_encoding: interval {tau} needs 1 <= tau < T = {s.shape[1]}")
    a, b = s[:, :-tau], s[:, tau:]
    if operator == "subtraction":
        return b - a
    if operator == "inner":
        return (a * b).sum(-1, keepdim=True)
    if operator == "cross":
        return torch.linalg.cross(a, b, dim=-1)
    raise ValueError(f"motion_encoding: unknown operator {operator!r}; choose from {', '.join(OPERATORS)}")


def _distance(d: torch.Tensor, distance: str) -> torch.Tensor:
    return d.abs().sum(-1) if distance == "l1" else torch.linalg.vector_norm(d, dim=-1)


def motion_loss(pred: torch.Tensor, target: torch.Tensor, intervals, operator: str = "cross",
                normalize: str = "temporal_mean", distance: str = "l1", eps: float = 1e-8) -> torch.Tensor:
    """Eq. 4 over the interval set ``intervals`` (see the module docstring for the averaging and the
    normalisations, ``temporal_mean_length`` being the reading under which lambda = 1 of Eq. 6 balances
    L_m against an MPJPE L_p). ``pred`` and ``target`` are (B, T, J, 3) root-relative sequences; returns a
    scalar."""
    _check_sequence(pred, "motion_loss")
    if pred.shape != target.shape:
        raise ValueError(f"motion_loss: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    intervals = list(intervals)
    if not intervals:
        raise ValueError("motion_loss: empty interval set")
    if distance not in DISTANCES:
        raise ValueError(f"motion_loss: unknown distance {distance!r}; choose from {', '.join(DISTANCES)}")
    if normalize not in NORMALISATIONS:
        raise ValueError(f"motion_loss: unknown normalize {normalize!r}; choose from {', '.join(NORMALISATIONS)}")
    sigma = pose_scale(target)[:, None, None] if normalize == "temporal_mean_length" else None  # (B, 1, 1)
    total = pred.new_zeros(())
    for op in parse_operators(operator):
        per_tau = []
        for tau in intervals:
            m, m_gt = motion_encoding(pred, tau, op), motion_encoding(target, tau, op)
            if op == "subtraction" or normalize == "none":
                per_tau.append(_distance(m - m_gt, distance).mean())
                continue
            scale = torch.linalg.vector_norm(m_gt, dim=-1).mean(1, keepdim=True).detach()  # (B, 1, J)
            if normalize != "temporal_mean_joint":
                scale = scale.mean(2, keepdim=True)  # (B, 1, 1): over frames and joints
            valid = scale > eps
            d = _distance((m - m_gt) / scale.clamp_min(eps)[..., None], distance)  # (B, T - tau, J)
            if sigma is not None:
                d = d * sigma  # relative error x the pose scale: a length
            weight = valid.expand_as(d).to(d.dtype)
            per_tau.append((d * weight).sum() / weight.sum().clamp_min(1.0))
        total = total + torch.stack(per_tau).mean()
    return total


def pose_scale(target: torch.Tensor) -> torch.Tensor:
    """sigma of ``temporal_mean_length``: per sample, the mean over frames and joints of the norm of the
    (root-relative) ground-truth positions, (B, T, J, 3) -> (B,); a constant (no gradient)."""
    return torch.linalg.vector_norm(target.detach(), dim=-1).mean((1, 2))


def position_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "mpjpe") -> torch.Tensor:
    """L_p as ``train.loss`` reads it (the formula of bench.engine.train.training_loss): ``mpjpe`` = the mean
    Euclidean joint error (Eq. 5 without the square, a length), ``mse`` = the mean squared component error
    (Eq. 5 averaged, a squared length, over 3 components)."""
    if kind not in POSITION_LOSSES:
        raise ValueError(f"position_loss: unknown kind {kind!r}; choose from {', '.join(POSITION_LOSSES)}")
    if kind == "mse":
        return ((pred - target) ** 2).mean()
    return torch.norm(pred - target, dim=-1).mean()


def loss_terms(pred: torch.Tensor, target: torch.Tensor, train_cfg) -> dict:
    """Magnitudes of the two terms of Eq. 6 for one batch, as the training loss combines them:
    {"position": L_p (``train.loss``), "motion": L_m (``train.motion_loss.*``; 0.0 without intervals),
    "weighted_motion": lambda L_m, "ratio": lambda L_m / L_p} as floats (``ratio`` 0.0 when L_p is 0).
    ``pred`` and ``target`` are (B, T, J, 3) root-relative sequences; no gradient is computed. ``train_cfg``
    is the typed train section of a resolved experiment (bench.typed_config.section)."""
    tc = train_cfg
    ml = tc.motion_loss
    intervals, weight = list(ml.intervals), float(ml.weight)
    with torch.no_grad():
        position = float(position_loss(pred, target, tc.loss))
        motion = 0.0
        if intervals:
            motion = float(motion_loss(pred, target, intervals, ml.operator, ml.normalize, ml.distance))
    weighted = weight * motion
    ratio = weighted / position if position > 0 else 0.0  # L_p = 0 only for a perfect prediction: L_m = 0 too
    return {"position": position, "motion": motion, "weighted_motion": weighted, "ratio": ratio}


def derivative_loss(pred: torch.Tensor, target: torch.Tensor, distance: str = "l1") -> torch.Tensor:
    """The derivative (temporal consistency) loss of Hossain & Little as UGCN Table 5 compares it: the
    subtraction encoding at interval 1, i.e. the error of the frame-to-frame displacement."""
    return motion_loss(pred, target, (1,), "subtraction", "none", distance)
