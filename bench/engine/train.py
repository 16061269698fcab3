"""The training loop (VideoPose3D recipe, model-specs.md section 3.1).

Adam (optionally AMSGrad; or Ranger, the attention TCN's) with the learning rate multiplied by ``lr_decay``
after every epoch (or by ``lr_gamma`` at ``lr_milestones``, UGCN's step schedule, or cosine-annealed to
``lr_min``, the attention TCN's); BatchNorm momentum decayed exponentially from
``bn_momentum_start`` to ``bn_momentum_end``; loss = MPJPE (or MSE) on root-relative 3D in metres, plus
UGCN's motion loss when ``train.motion_loss.intervals`` is set. Under ``train.steps`` the budget is that
many optimizer steps instead of ``train.epochs`` passes, with the epochs' schedule compressed onto the
steps (bench/engine/budget.py); ``train.warmup_steps`` warms the learning rate up linearly under either. Single-frame windows go through the
model's fast strided path automatically (the model picks it when the input length equals its receptive
field).

Inside a process group (``bench train --ddp``, bench/engine/distributed.py) every process draws the same
global batches and trains on its share of each; the gradients are averaged over the processes before the
step, the training curve is the global one, and only rank 0 validates.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from bench.contract import ModelContract, model_contract
from bench.data.dataset import Sequence
from bench.engine import distributed
from bench.engine.device import model_device, to_device
from bench.engine.optim import ranger
from bench.engine.windows import WindowBatcher
from bench.errors import ConfigError, TrainingError
from bench.losses import motion_loss
from bench.skeleton import Skeleton
from bench.typed_config import section, typed


@dataclass
class TrainResult:
    curve: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best_state: dict | None = None
    batch_time_s: float = 0.0
    step_time_s: float = 0.0
    num_windows: int = 0
    best_step: int | None = None  # optimizer steps before the kept state (eval.epoch = best)
    steps: int = 0  # optimizer steps taken
    windows_seen: int = 0  # training windows consumed, flip copies included
    budget: dict | None = None  # the run record's ``budget``
    loss_terms: dict | None = None  # {start, end}: bench.losses.loss_terms of the first batch


def param_groups(model: nn.Module, weight_decay: float, scope: str = "all") -> list[dict]:
    """Optimiser parameter groups: weight decay on every parameter (``all``) or only on the weights of
    convolution layers (``conv``, UGCN: "weight decay 1e-5 for parameters of convolution layers")."""
    if scope == "all" or weight_decay == 0:
        return [{"params": list(model.parameters()), "weight_decay": weight_decay}]
    conv = {id(m.weight) for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)}
    decay = [p for p in model.parameters() if id(p) in conv]
    rest = [p for p in model.parameters() if id(p) not in conv]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, train_cfg) -> torch.optim.Optimizer:
    tc = section(train_cfg, "train")
    name, lr = tc.optimizer, tc.lr
    groups = param_groups(model, tc.weight_decay, tc.weight_decay_scope)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, amsgrad=tc.amsgrad)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, amsgrad=tc.amsgrad)
    if name == "ranger":
        return ranger(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=0.9)


def cosine_lr(epoch: int, train_cfg) -> float:
    """Learning rate at the start of (0-based) ``epoch`` of a cosine annealing from ``lr`` to ``lr_min``
    over ``epochs`` (attention TCN: 1e-3 -> 1e-5 over 80 epochs)."""
    tc = section(train_cfg, "train")
    lr0, lr_min, epochs = tc.lr, tc.lr_min, tc.epochs
    return lr_min + (lr0 - lr_min) * (1 + math.cos(math.pi * min(epoch, epochs) / epochs)) / 2


def lr_factor_after(epoch: int, train_cfg) -> float:
    """Factor applied to the learning rate after (1-based) ``epoch``: ``lr_decay`` every epoch
    (exponential, VideoPose3D), ``lr_gamma`` after each epoch in ``lr_milestones`` (step, UGCN), or the
    ratio of consecutive cosine-annealing values (cosine, attention TCN)."""
    tc = section(train_cfg, "train")
    if tc.lr_schedule == "step":
        return tc.lr_gamma if epoch in tc.lr_milestones else 1.0
    if tc.lr_schedule == "cosine":
        return cosine_lr(epoch, tc) / cosine_lr(epoch - 1, tc)
    return tc.lr_decay


def bn_momentum(epoch: int, epochs: int, start: float, end: float) -> float:
    """VideoPose3D's decay: start * exp(-(epoch / epochs) * ln(start / end))."""
    return start * math.exp(-(epoch / epochs) * math.log(start / end))


def training_loss(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "mse":
        return ((pred - target) ** 2).mean()
    return torch.norm(pred - target, dim=-1).mean()  # MPJPE in metres (Protocol 1 as a loss)


def output_frames(model: nn.Module) -> int:
    """Consecutive output frames per training window (the contract's ``train_out_frames``: the T of a
    sequence-to-sequence model)."""
    return model_contract(model).train_out_frames


def check_training(model: nn.Module, train_cfg, model_name: str = "model") -> None:
    """Options of the recipe that only make sense for some models (raises ConfigError)."""
    tc = section(train_cfg, "train")
    intervals = tc.motion_loss.intervals
    if intervals:
        t = output_frames(model)
        if max(intervals) >= t:
            raise ConfigError(f"train.motion_loss.intervals: interval {max(intervals)} needs more than "
                              f"{max(intervals)} output frames per training window, but {model_name} predicts "
                              f"{t} (a sequence-to-sequence model such as ugcn, or a shorter interval)")
    if tc.lr_schedule == "step" and not tc.lr_milestones:
        raise ConfigError("train.lr_schedule=step needs train.lr_milestones (epochs after which lr is "
                          "multiplied by train.lr_gamma)")


def make_loss_fn(train_cfg):
    """The loss of one predicted pose sequence: L_p (``train.loss``) + lambda L_m (UGCN Eq. 6) when
    ``train.motion_loss.intervals`` is not empty."""
    tc = section(train_cfg, "train")
    kind, ml = tc.loss, tc.motion_loss
    intervals = ml.intervals

    def loss_fn(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        loss = training_loss(p, t, kind)
        if intervals and ml.weight > 0:
            loss = loss + ml.weight * motion_loss(p, t, intervals, ml.operator, ml.normalize, ml.distance)
        return loss

    return loss_fn


def make_batcher(model: nn.Module, seqs: list[Sequence], keypoints_layout: Skeleton, skeleton: Skeleton,
                 tc) -> WindowBatcher:
    """Training windows for ``model``: convolutional models get receptive-field windows with
    ``train_out_frames`` outputs; sequence-to-sequence models (``output_mode == 'seq2seq'``) get every
    T-frame window (stride 1 before ``train.window_stride``) with all T frames as targets."""
    c, tc = model_contract(model), section(tc, "train")
    if c.seq2seq:
        return WindowBatcher(seqs, 1, 0, keypoints_layout, skeleton, tc.batch_size,
                             out_frames=c.train_out_frames, flip=tc.flip, window_stride=tc.window_stride,
                             step=1, context=c.needs_context)
    return WindowBatcher(seqs, c.receptive_field, c.causal_shift, keypoints_layout, skeleton,
                         tc.batch_size, out_frames=c.train_out_frames, flip=tc.flip,
                         window_stride=tc.window_stride, context=c.needs_context)


def model_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, context: torch.Tensor | None,
               loss_fn, contract: ModelContract | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, prediction). ``loss_fn`` is the per-pose loss (:func:`make_loss_fn`); a model with
    ``loss_terms`` adds its own terms around it (DG-Net's multi-level loss, Eq. 17). ``contract``: the
    model's, when the caller has read it already (the training loop, once)."""
    kw = {} if context is None else {"context": context}
    loss_terms = (model_contract(model) if contract is None else contract).loss_terms
    if loss_terms is not None:
        return loss_terms(x, y, loss_fn, **kw)
    pred = model(x, **kw)
    return loss_fn(pred, y), pred


#: A loss above this (metres, or square metres for MSE) means training diverged: no pose error of a
#: working lifter comes near a kilometre, and the step after it would be non-finite or meaningless.
DIVERGED_LOSS = 1e6


def check_loss(loss: torch.Tensor, epoch: int, step: int, lr: float) -> None:
    """Stop with one line (TrainingError) when the loss of a step is not finite or has diverged."""
    value = float(loss.detach())
    if not math.isfinite(value) or value > DIVERGED_LOSS:
        what = "is not finite" if not math.isfinite(value) else f"diverged ({value:.3g})"
        raise TrainingError(f"training stopped: the loss {what} at epoch {epoch}, step {step} "
                            f"(train.lr={lr:g}); nothing was written. Lower train.lr or check the data")


def check_weights(model: nn.Module, epoch: int) -> None:
    """Stop with one line (TrainingError) when a parameter is not finite after an epoch."""
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            raise TrainingError(f"training stopped: parameter {name} is not finite after epoch {epoch}; "
                                f"nothing was written. Lower train.lr or enable train.grad_clip")


def _distributed_backward(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                          context: torch.Tensor | None, loss_fn, rank: int, world_size: int,
                          contract: ModelContract | None = None):
    """One data-parallel backward pass: this process's share of the global batch (x, y, context), its
    loss scaled by ``world_size * n_local / n_global`` so that the averaged gradient is the gradient of
    the mean loss over the global batch, then the gradients all-reduced. Returns (x, y, prediction) of
    the share (empty tensors for an empty share)."""
    n = len(x)
    lo, hi = distributed.shard(n, rank, world_size)
    x, y = x[lo:hi], y[lo:hi]
    opt.zero_grad(set_to_none=True)
    pred = y
    loss = None
    if hi > lo:
        loss, pred = model_loss(model, x, y, None if context is None else context[lo:hi], loss_fn, contract)
        (loss * (world_size * (hi - lo) / n)).backward()
    distributed.average_gradients(model, world_size)
    return x, y, pred, loss


def _keep_rng(fn):
    """Run ``fn()`` and restore torch's CPU (and current CUDA device's) random state afterwards, so that a
    side computation (validation, the loss-term probe) cannot shift the training run's random stream."""
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    try:
        return fn()
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda)


def loss_terms_probe(tc):
    """``bench.losses.loss_terms`` when the recipe has a motion loss (``train.motion_loss.intervals``);
    else None."""
    if not section(tc, "train").motion_loss.intervals:
        return None
    from bench.losses import loss_terms

    return loss_terms


def probe_loss_terms(fn, model: nn.Module, batch: tuple, tc) -> dict:
    """``fn``'s loss terms of one batch (x, y, context) predicted by ``model`` in eval mode without
    gradients; the model's mode and the random state are restored."""
    x, y, c = batch
    was_training = model.training

    def run():
        model.eval()
        try:
            with torch.no_grad():
                pred = model(x) if c is None else model(x, context=c)
                return {k: None if v is None else float(v) for k, v in fn(pred, y, tc).items()}
        finally:
            model.train(was_training)

    return _keep_rng(run)


def train_model(model: nn.Module, cfg: dict, train_seqs: list[Sequence], val_seqs: list[Sequence],
                keypoints_layout: Skeleton, skeleton: Skeleton, progress: bool = False,
                writer=None, log=None) -> TrainResult:
    """Train ``model`` in place; returns the curve.

    The budget is ``train.epochs`` passes over the training windows, or exactly ``train.steps`` optimizer
    steps (batches drawn pass after pass, reshuffled each pass; the epochs' schedule compressed onto the
    steps, bench/engine/budget.py). A curve row (training MPJPE since the row before, validation MPJPE,
    lr, time) is written at the steps of :func:`bench.engine.budget.validation_steps`. Validation never
    changes the training: it draws nothing from the batch generator and torch's random state is
    restored around it.

    With ``eval.epoch == 'best'`` the state of the row with the lowest validation MPJPE is kept
    (validation data are training subjects or the ends of training takes held out, never the test split).

    In a process group of more than one process (data-parallel training, bench/engine/distributed.py)
    each process trains on its share of every global batch with gradients averaged over the processes;
    the curve is the global one and only rank 0 validates (and keeps the best state).
    """
    from bench.engine.budget import (schedule_text, step_bn_momentum, step_lr, validation_steps,
                                     warmup_factor)
    from bench.engine.evaluate import evaluate_sequences

    cfg = typed(cfg)
    tc = cfg.train
    rank, world_size = distributed.active()
    contract = model_contract(model, cfg.model.name)
    check_training(model, tc, cfg.model.name)
    loss_fn = make_loss_fn(tc)
    batcher = make_batcher(model, train_seqs, keypoints_layout, skeleton, tc)
    if batcher.num_windows < 2:
        raise ConfigError(f"only {batcher.num_windows} training window(s) after data.actions / "
                          f"data.train_actions, data.downsample and train.window_stride={tc.window_stride}: "
                          f"a batch needs at least 2 (BatchNorm); select more data or a smaller stride")
    opt = make_optimizer(model, tc)
    rng = np.random.RandomState(cfg.seed)
    result = TrainResult(num_windows=batcher.num_windows)
    best = math.inf
    epochs = tc.epochs
    steps_per_pass = len(batcher)
    step_budget = tc.steps is not None
    total_steps = tc.steps if step_budget else epochs * steps_per_pass
    warmup = tc.warmup_steps
    per_pass_rows = not step_budget and tc.val_every is None  # today's one row per epoch
    rows_at = validation_steps(total_steps, steps_per_pass, tc.val_every, step_budget)
    probe = loss_terms_probe(tc) if rank == 0 else None
    probe_batch = None
    max_norm = contract.apply_max_norm
    dev = model_device(model)  # batches are drawn in host memory and copied there (bench/engine/device.py)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total_steps, unit="batch", leave=False, dynamic_ncols=True)
    if world_size > 1:
        distributed.broadcast_parameters(model)
    epoch_lrs = [g["lr"] for g in opt.param_groups]  # the per-epoch schedule's lr, before warm-up
    batch_time = step_time = 0.0
    step = windows_seen = epoch = 0
    total, count = 0.0, 0
    t_row = time.perf_counter()
    while step < total_steps:
        epoch += 1
        if not step_budget:
            contract.set_bn_momentum(bn_momentum(epoch - 1, epochs, tc.bn_momentum_start, tc.bn_momentum_end))
        model.train()
        tb = time.perf_counter()
        for batch_i, (x, y, *ctx) in enumerate(batcher.batches(rng), 1):
            x, y, c = to_device(dev, x, y, ctx[0] if ctx else None)
            if step_budget:
                contract.set_bn_momentum(step_bn_momentum(step, total_steps, tc))
                lr_now = step_lr(step, total_steps, tc) * warmup_factor(step, warmup)
                for g in opt.param_groups:
                    g["lr"] = lr_now
            elif warmup:
                for g, base in zip(opt.param_groups, epoch_lrs):
                    g["lr"] = base * warmup_factor(step, warmup)
            if probe is not None and step == 0:
                probe_batch = tuple(None if t is None else t.clone() for t in (x, y, c))
                result.loss_terms = {"start": probe_loss_terms(probe, model, probe_batch, tc)}
            windows_seen += len(x)  # the global batch, flip copies included
            ts = time.perf_counter()
            batch_time += ts - tb
            if world_size > 1:
                x, y, pred, loss = _distributed_backward(model, opt, x, y, c, loss_fn, rank, world_size,
                                                         contract)
            else:
                loss, pred = model_loss(model, x, y, c, loss_fn, contract)
                opt.zero_grad(set_to_none=True)
                loss.backward()
            if loss is not None:
                check_loss(loss, epoch, batch_i, opt.param_groups[0]["lr"])
            if tc.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            if max_norm is not None:
                max_norm()
            step += 1
            tb = time.perf_counter()
            step_time += tb - ts
            if len(x):
                with torch.no_grad():
                    err = torch.norm(pred - y, dim=-1).mean().item()
                total += err * len(x)
                count += len(x)
            if bar is not None:
                bar.update(1)
                where = f"epoch {epoch}/{epochs}" if not step_budget else f"step {step}/{total_steps}"
                bar.set_description(f"{where} train {1000 * total / max(count, 1):.1f} mm")
            if step in rows_at:
                check_weights(model, epoch)
                if world_size > 1:
                    total, count = distributed.all_sum([total, count])
                    distributed.average_bn_stats(model, world_size)
                lr = opt.param_groups[0]["lr"]
                row = {} if step_budget else {"epoch": epoch}
                row.update({"step": step, "train_mpjpe": 1000 * total / max(count, 1), "val_mpjpe": None,
                            "lr": lr, "time_s": time.perf_counter() - t_row})
                if val_seqs and rank == 0:
                    val = _keep_rng(lambda: evaluate_sequences(model, val_seqs, cfg, keypoints_layout, skeleton,
                                                               metrics=("mpjpe",), variant={}))
                    row["val_mpjpe"] = val["mpjpe"]
                    if cfg.eval.epoch == "best" and val["mpjpe"] < best:
                        best = val["mpjpe"]
                        result.best_epoch = None if step_budget else epoch
                        result.best_step = step
                        result.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                result.curve.append(row)
                x_axis = epoch if per_pass_rows else step
                if writer is not None:
                    writer.add_scalar("train/mpjpe_mm", row["train_mpjpe"], x_axis)
                    writer.add_scalar("train/lr", lr, x_axis)
                    if row["val_mpjpe"] is not None:
                        writer.add_scalar("val/mpjpe_mm", row["val_mpjpe"], x_axis)
                if log is not None:
                    val_txt = f", val {row['val_mpjpe']:.1f} mm" if row["val_mpjpe"] is not None else ""
                    where = (f"epoch {epoch}/{epochs}" if per_pass_rows else
                             f"step {step}/{total_steps}" + ("" if step_budget else f" (epoch {epoch})"))
                    log(f"{where}: train {row['train_mpjpe']:.1f} mm{val_txt}, lr {lr:.2e}, "
                        f"{row['time_s']:.1f} s")
                total, count = 0.0, 0
                t_row = tb = time.perf_counter()
            if step >= total_steps:
                break
        if not step_budget:
            factor = lr_factor_after(epoch, tc)
            for g in opt.param_groups:
                g["lr"] *= factor
            epoch_lrs = [lr * factor for lr in epoch_lrs]
    if bar is not None:
        bar.close()
    if probe_batch is not None:
        result.loss_terms["end"] = probe_loss_terms(probe, model, probe_batch, tc)
    result.batch_time_s, result.step_time_s = batch_time, step_time
    result.steps, result.windows_seen = step, windows_seen
    result.budget = {"unit": "steps" if step_budget else "epochs", "steps": step,
                     "windows_seen": windows_seen, "passes": windows_seen / batcher.num_windows,
                     "schedule": schedule_text(tc, total_steps, step_budget), "warmup_steps": warmup,
                     "steps_per_pass": steps_per_pass}
    if result.best_state is not None:
        model.load_state_dict(result.best_state)
    return result
