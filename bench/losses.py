"""Training losses beyond the per-pose error: the motion loss of UGCN (Wang et al., ECCV 2020, section 3.1).

Pairwise motion encoding (Eq. 3): m_{t,j,tau} = s_{t,j} (*) s_{t+tau,j} for a binary operator (*) =
subtraction, inner product or cross product. Motion loss (Eq. 4):

    L_m = 1/|T| sum_{tau in T} sum_{t=1}^{T-tau} sum_j || m_{t,j,tau} - m^gt_{t,j,tau} ||

Choices the paper leaves open (model-specs.md 4.1), each a ``train.motion_loss.*`` switch:

* distance -- ``l1`` (the paper's word: sum of absolute components) or ``l2`` (Euclidean norm);
* averaging -- the sums over samples, t and j are means here, so lambda = 1 keeps L_m on the scale of an
  averaged L_p (the paper sums; with sums lambda would depend on T and the batch size);
* normalisation -- "we normalize the inner-product and cross product encoding by the temporal-wise mean
  value": ``temporal_mean`` (default) divides both encodings of a (sample, tau) by the mean over t and
  joints of ||m^gt||; ``temporal_mean_joint`` divides per (sample, joint, tau), the mean over t only (a
  joint whose ground-truth encoding is zero at every t, the root in root-relative coordinates, is then
  left out). The normaliser is a constant: no gradient flows through it. The per-joint form is not the
  default because joints rigidly tied to the root (the hips) have encodings ~20x smaller than the limbs'
  on the stand-in (mean |cross| at tau = 12: 0.003 vs 0.05-0.1 m^2), so their relative errors dominate
  the loss. Subtraction encodings are never normalised (the paper normalises inner and cross only);
* several operators (Table 5's "Subtraction + Cross product") -- encodings concatenated, so with the l1
  distance the loss is the sum of the single-operator losses.

The derivative loss of Hossain & Little (ECCV 2018) that Table 5 compares against is, in UGCN's reading
("regularizes the joint offset between adjacent frames"), the special case operator ``subtraction`` with the
interval set {1}: :func:`derivative_loss`. The authors' release penalises the predicted frame-to-frame
displacement itself, weighted per joint, not its error against the ground truth; that form is the
``hossain`` model's own smoothness term (``baselines/hossain.py``, option ``smoothness_weight``).
"""
from __future__ import annotations

import torch

from bench.errors import ConfigError

OPERATORS = ("subtraction", "inner", "cross")
DISTANCES = ("l1", "l2")
NORMALISATIONS = ("temporal_mean", "temporal_mean_joint", "none")


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
    normalisation). ``pred`` and ``target`` are (B, T, J, 3) root-relative sequences; returns a scalar."""
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
    total = pred.new_zeros(())
    for op in parse_operators(operator):
        per_tau = []
        for tau in intervals:
            m, m_gt = motion_encoding(pred, tau, op), motion_encoding(target, tau, op)
            if op == "subtraction" or normalize == "none":
                per_tau.append(_distance(m - m_gt, distance).mean())
                continue
            scale = torch.linalg.vector_norm(m_gt, dim=-1).mean(1, keepdim=True).detach()  # (B, 1, J)
            if normalize == "temporal_mean":
                scale = scale.mean(2, keepdim=True)  # (B, 1, 1): over frames and joints
            valid = scale > eps
            d = _distance((m - m_gt) / scale.clamp_min(eps)[..., None], distance)  # (B, T - tau, J)
            weight = valid.expand_as(d).to(d.dtype)
            per_tau.append((d * weight).sum() / weight.sum().clamp_min(1.0))
        total = total + torch.stack(per_tau).mean()
    return total


def derivative_loss(pred: torch.Tensor, target: torch.Tensor, distance: str = "l1") -> torch.Tensor:
    """The derivative (temporal consistency) loss of Hossain & Little as UGCN Table 5 compares it: the
    subtraction encoding at interval 1, i.e. the error of the frame-to-frame displacement."""
    return motion_loss(pred, target, (1,), "subtraction", "none", distance)
