"""Training budgets in optimizer steps, the validation points of a run, and its convergence criterion.

Under ``train.steps`` the paper's schedule of ``train.epochs`` epochs is compressed onto the steps: the
progress of step s (0-based, the step about to be taken) is p = s / steps, and

* exponential: lr = lr0 * lr_decay ** (epochs * p)
* step:        lr = lr0 * lr_gamma ** (number of milestones m with p >= m / epochs)
* cosine:      lr = lr_min + (lr0 - lr_min) * (1 + cos(pi p)) / 2

the BatchNorm momentum is VideoPose3D's exponential decay at epoch ``epochs * p``, and both are set
before every step. ``train.warmup_steps`` W multiplies the learning rate of step s by min(1, (s + 1) / W)
under either budget. An epoch budget (``train.steps`` null) keeps the per-epoch schedule of
bench/engine/train.py unchanged.
"""
from __future__ import annotations

import math

from bench.typed_config import section

#: Validations (curve rows) of a step budget when train.val_every is null.
DEFAULT_VALIDATIONS = 20
#: Fewer curve points than this and the convergence criterion says nothing (converged = null).
MIN_CONVERGENCE_POINTS = 4
#: The smallest improvement (mm) that counts as still improving, whatever the tolerance.
MIN_IMPROVEMENT_MM = 0.5


def step_lr(step: int, steps: int, tc: dict) -> float:
    """Learning rate of (0-based) optimizer ``step`` of a ``steps``-step budget, before warm-up: the
    schedule of ``tc.epochs`` epochs compressed onto the steps (module docstring)."""
    tc = section(tc, "train")
    lr0, epochs = tc.lr, tc.epochs
    p = step / steps
    if tc.lr_schedule == "step":
        crossed = sum(1 for m in tc.lr_milestones if p >= m / epochs)
        return lr0 * tc.lr_gamma ** crossed
    if tc.lr_schedule == "cosine":
        return tc.lr_min + (lr0 - tc.lr_min) * (1 + math.cos(math.pi * min(p, 1.0))) / 2
    return lr0 * tc.lr_decay ** (epochs * p)


def step_bn_momentum(step: int, steps: int, tc: dict) -> float:
    """BatchNorm momentum of (0-based) ``step``: start * (end / start) ** (step / steps), the per-epoch
    decay (train.bn_momentum) on the progress of a step budget."""
    tc = section(tc, "train")
    start, end = tc.bn_momentum_start, tc.bn_momentum_end
    return start * math.exp(-(step / steps) * math.log(start / end))


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear warm-up: min(1, (step + 1) / warmup_steps) for 0-based ``step``; 1 without warm-up."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step + 1) / warmup_steps)


def validation_steps(total_steps: int, steps_per_pass: int, val_every: int | None,
                     step_budget: bool) -> set[int]:
    """Optimizer-step counts after which a curve row is written (and the validation set evaluated):
    every ``val_every`` steps; with ``val_every`` null the end of every pass (epoch budget) or
    ``DEFAULT_VALIDATIONS`` evenly spaced steps (step budget). The last step is always one."""
    if val_every is not None:
        points = set(range(val_every, total_steps + 1, val_every))
    elif step_budget:
        n = DEFAULT_VALIDATIONS
        points = {-(-k * total_steps // n) for k in range(1, n + 1)}  # ceil(k * steps / n)
    else:
        points = set(range(steps_per_pass, total_steps + 1, steps_per_pass))
    points.add(total_steps)
    return points


def schedule_text(tc: dict, total_steps: int, step_budget: bool) -> str:
    """One line naming the learning-rate schedule a run followed (the record's budget.schedule)."""
    tc = section(tc, "train")
    epochs = tc.epochs
    shape = {"exponential": f"exponential (x{tc.lr_decay:g} per epoch)",
             "step": f"step (x{tc.lr_gamma:g} after epochs {', '.join(map(str, tc.lr_milestones))})",
             "cosine": f"cosine ({tc.lr:g} -> {tc.lr_min:g})"}[tc.lr_schedule]
    if step_budget:
        text = f"{shape} over {epochs} epochs compressed onto {total_steps} steps, lr set every step"
    else:
        text = f"{shape} over {epochs} epochs, lr set every epoch"
    warm = tc.warmup_steps
    return text + (f", linear warm-up over {warm} steps" if warm else "")


def convergence(curve: list[dict], total_steps: int, tolerance: float) -> dict:
    """The convergence criterion of one run from its curve rows (``step`` and ``val_mpjpe`` /
    ``train_mpjpe`` in mm).

    The run is converged when the best MPJPE in the last quarter of the budget (rows with
    step > 3/4 of ``total_steps``) is at most max(``tolerance`` x the best before it, 0.5 mm) lower than
    the best before the last quarter, i.e. it stopped improving. The validation curve is used when the
    rows have validation values, else the training curve (and the criterion says so). With fewer than
    ``MIN_CONVERGENCE_POINTS`` points, or none on one side of the quarter, ``converged`` is None.
    """
    val = [(r["step"], r["val_mpjpe"]) for r in curve if r.get("val_mpjpe") is not None]
    which = "val" if val else "train"
    points = val or [(r["step"], r["train_mpjpe"]) for r in curve if r.get("train_mpjpe") is not None]
    what = "validation MPJPE" if val else "training MPJPE (no validation set)"
    criterion = (f"converged when the best {what} in the last quarter of the budget (after step "
                 f"{0.75 * total_steps:g} of {total_steps}) is at most max({tolerance:g} x the best before "
                 f"it, {MIN_IMPROVEMENT_MM:g} mm) lower than the best before it")
    cut = 0.75 * total_steps
    before = [v for s, v in points if s <= cut]
    last = [v for s, v in points if s > cut]
    out = {"criterion": criterion, "curve": which, "converged": None, "best_before_last_quarter": None,
           "best_last_quarter": None, "improvement_mm": None}
    if before:
        out["best_before_last_quarter"] = min(before)
    if last:
        out["best_last_quarter"] = min(last)
    if len(points) < MIN_CONVERGENCE_POINTS or not before or not last:
        return out
    improvement = out["best_before_last_quarter"] - out["best_last_quarter"]
    out["improvement_mm"] = improvement
    out["converged"] = bool(improvement <= max(tolerance * out["best_before_last_quarter"], MIN_IMPROVEMENT_MM))
    return out
