"""The training loop (VideoPose3D recipe, model-specs.md section 3.1).

Adam (optionally AMSGrad; or Ranger, the attention TCN's) with the learning rate multiplied by ``lr_decay``
after every epoch (or by ``lr_gamma`` at ``lr_milestones``, UGCN's step schedule, or cosine-annealed to
``lr_min``, the attention TCN's); BatchNorm momentum decayed exponentially from
``bn_momentum_start`` to ``bn_momentum_end``; loss = MPJPE (or MSE) on root-relative 3D in metres, plus
UGCN's motion loss when ``train.motion_loss.intervals`` is set. Single-frame windows go through the
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


@dataclass
class TrainResult:
    curve: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best_state: dict | None = None
    batch_time_s: float = 0.0
    step_time_s: float = 0.0
    num_windows: int = 0


def param_groups(model: nn.Module, weight_decay: float, scope: str = "all") -> list[dict]:
    """Optimiser parameter groups: weight decay on every parameter (``all``) or only on the weights of
    convolution layers (``conv``, UGCN: "weight decay 1e-5 for parameters of convolution layers")."""
    if scope == "all" or weight_decay == 0:
        return [{"params": list(model.parameters()), "weight_decay": weight_decay}]
    conv = {id(m.weight) for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)}
    decay = [p for p in model.parameters() if id(p) in conv]
    rest = [p for p in model.parameters() if id(p) not in conv]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, train_cfg: dict) -> torch.optim.Optimizer:
    name, lr = train_cfg["optimizer"], train_cfg["lr"]
    groups = param_groups(model, train_cfg["weight_decay"], train_cfg.get("weight_decay_scope", "all"))
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, amsgrad=train_cfg["amsgrad"])
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, amsgrad=train_cfg["amsgrad"])
    if name == "ranger":
        return ranger(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=0.9)


def cosine_lr(epoch: int, train_cfg: dict) -> float:
    """Learning rate at the start of (0-based) ``epoch`` of a cosine annealing from ``lr`` to ``lr_min``
    over ``epochs`` (attention TCN: 1e-3 -> 1e-5 over 80 epochs)."""
    lr0, lr_min, epochs = train_cfg["lr"], train_cfg.get("lr_min", 1e-5), train_cfg["epochs"]
    return lr_min + (lr0 - lr_min) * (1 + math.cos(math.pi * min(epoch, epochs) / epochs)) / 2


def lr_factor_after(epoch: int, train_cfg: dict) -> float:
    """Factor applied to the learning rate after (1-based) ``epoch``: ``lr_decay`` every epoch
    (exponential, VideoPose3D), ``lr_gamma`` after each epoch in ``lr_milestones`` (step, UGCN), or the
    ratio of consecutive cosine-annealing values (cosine, attention TCN)."""
    schedule = train_cfg.get("lr_schedule", "exponential")
    if schedule == "step":
        return train_cfg["lr_gamma"] if epoch in train_cfg["lr_milestones"] else 1.0
    if schedule == "cosine":
        return cosine_lr(epoch, train_cfg) / cosine_lr(epoch - 1, train_cfg)
    return train_cfg["lr_decay"]


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


def check_training(model: nn.Module, train_cfg: dict, model_name: str = "model") -> None:
    """Options of the recipe that only make sense for some models (raises ConfigError)."""
    intervals = train_cfg.get("motion_loss", {}).get("intervals") or []
    if intervals:
        t = output_frames(model)
        if max(intervals) >= t:
            raise ConfigError(f"train.motion_loss.intervals: interval {max(intervals)} needs more than "
                              f"{max(intervals)} output frames per training window, but {model_name} predicts "
                              f"{t} (a sequence-to-sequence model such as ugcn, or a shorter interval)")
    if train_cfg.get("lr_schedule") == "step" and not train_cfg.get("lr_milestones"):
        raise ConfigError("train.lr_schedule=step needs train.lr_milestones (epochs after which lr is "
                          "multiplied by train.lr_gamma)")


def make_loss_fn(train_cfg: dict):
    """The loss of one predicted pose sequence: L_p (``train.loss``) + lambda L_m (UGCN Eq. 6) when
    ``train.motion_loss.intervals`` is not empty."""
    kind = train_cfg["loss"]
    ml = train_cfg.get("motion_loss") or {}
    intervals = ml.get("intervals") or []

    def loss_fn(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        loss = training_loss(p, t, kind)
        if intervals and ml["weight"] > 0:
            loss = loss + ml["weight"] * motion_loss(p, t, intervals, ml["operator"], ml["normalize"],
                                                     ml["distance"])
        return loss

    return loss_fn


def make_batcher(model: nn.Module, seqs: list[Sequence], keypoints_layout: Skeleton, skeleton: Skeleton,
                 tc: dict) -> WindowBatcher:
    """Training windows for ``model``: convolutional models get receptive-field windows with
    ``train_out_frames`` outputs; sequence-to-sequence models (``output_mode == 'seq2seq'``) get every
    T-frame window (stride 1 before ``train.window_stride``) with all T frames as targets."""
    c = model_contract(model)
    if c.seq2seq:
        return WindowBatcher(seqs, 1, 0, keypoints_layout, skeleton, tc["batch_size"],
                             out_frames=c.train_out_frames, flip=tc["flip"], window_stride=tc["window_stride"],
                             step=1, context=c.needs_context)
    return WindowBatcher(seqs, c.receptive_field, c.causal_shift, keypoints_layout, skeleton,
                         tc["batch_size"], out_frames=c.train_out_frames, flip=tc["flip"],
                         window_stride=tc["window_stride"], context=c.needs_context)


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


def train_model(model: nn.Module, cfg: dict, train_seqs: list[Sequence], val_seqs: list[Sequence],
                keypoints_layout: Skeleton, skeleton: Skeleton, progress: bool = False,
                writer=None, log=None) -> TrainResult:
    """Train ``model`` in place for ``cfg['train']['epochs']`` epochs; returns the curve.

    With ``eval.epoch == 'best'`` the state of the epoch with the lowest validation MPJPE is kept
    (validation subjects are training subjects held out, never the test split).

    In a process group of more than one process (data-parallel training, bench/engine/distributed.py)
    each process trains on its share of every global batch with gradients averaged over the processes;
    the curve is the global one and only rank 0 validates (and keeps the best state).
    """
    from bench.engine.evaluate import evaluate_sequences

    tc = cfg["train"]
    rank, world_size = distributed.active()
    contract = model_contract(model, cfg["model"]["name"])
    check_training(model, tc, cfg["model"]["name"])
    loss_fn = make_loss_fn(tc)
    batcher = make_batcher(model, train_seqs, keypoints_layout, skeleton, tc)
    if batcher.num_windows < 2:
        raise ConfigError(f"only {batcher.num_windows} training window(s) after data.actions / "
                          f"data.train_actions, data.downsample and train.window_stride={tc['window_stride']}: "
                          f"a batch needs at least 2 (BatchNorm); select more data or a smaller stride")
    opt = make_optimizer(model, tc)
    rng = np.random.RandomState(cfg["seed"])
    result = TrainResult(num_windows=batcher.num_windows)
    best = math.inf
    epochs = tc["epochs"]
    max_norm = contract.apply_max_norm
    dev = model_device(model)  # batches are drawn in host memory and copied there (bench/engine/device.py)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=epochs * len(batcher), unit="batch", leave=False, dynamic_ncols=True)
    if world_size > 1:
        distributed.broadcast_parameters(model)
    batch_time = step_time = 0.0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        contract.set_bn_momentum(bn_momentum(epoch, epochs, tc["bn_momentum_start"], tc["bn_momentum_end"]))
        model.train()
        total, count = 0.0, 0
        tb = time.perf_counter()
        for step, (x, y, *ctx) in enumerate(batcher.batches(rng), 1):
            x, y, c = to_device(dev, x, y, ctx[0] if ctx else None)
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
                check_loss(loss, epoch + 1, step, opt.param_groups[0]["lr"])
            if tc["grad_clip"] > 0:
                nn.utils.clip_grad_norm_(model.parameters(), tc["grad_clip"])
            opt.step()
            if max_norm is not None:
                max_norm()
            tb = time.perf_counter()
            step_time += tb - ts
            if len(x):
                with torch.no_grad():
                    err = torch.norm(pred - y, dim=-1).mean().item()
                total += err * len(x)
                count += len(x)
            if bar is not None:
                bar.update(1)
                bar.set_description(f"epoch {epoch + 1}/{epochs} train {1000 * total / max(count, 1):.1f} mm")
        check_weights(model, epoch + 1)
        if world_size > 1:
            total, count = distributed.all_sum([total, count])
            distributed.average_bn_stats(model, world_size)
        lr = opt.param_groups[0]["lr"]
        row = {"epoch": epoch + 1, "train_mpjpe": 1000 * total / max(count, 1), "val_mpjpe": None,
               "lr": lr, "time_s": time.perf_counter() - t0}
        if val_seqs and rank == 0:
            val = evaluate_sequences(model, val_seqs, cfg, keypoints_layout, skeleton,
                                     metrics=("mpjpe",), variant={})
            row["val_mpjpe"] = val["mpjpe"]
            if cfg["eval"]["epoch"] == "best" and val["mpjpe"] < best:
                best = val["mpjpe"]
                result.best_epoch = epoch + 1
                result.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        result.curve.append(row)
        if writer is not None:
            writer.add_scalar("train/mpjpe_mm", row["train_mpjpe"], epoch + 1)
            writer.add_scalar("train/lr", lr, epoch + 1)
            if row["val_mpjpe"] is not None:
                writer.add_scalar("val/mpjpe_mm", row["val_mpjpe"], epoch + 1)
        if log is not None:
            val_txt = f", val {row['val_mpjpe']:.1f} mm" if row["val_mpjpe"] is not None else ""
            log(f"epoch {epoch + 1}/{epochs}: train {row['train_mpjpe']:.1f} mm{val_txt}, "
                f"lr {lr:.2e}, {row['time_s']:.1f} s")
        factor = lr_factor_after(epoch + 1, tc)
        for g in opt.param_groups:
            g["lr"] *= factor
    if bar is not None:
        bar.close()
    result.batch_time_s, result.step_time_s = batch_time, step_time
    if result.best_state is not None:
        model.load_state_dict(result.best_state)
    return result
