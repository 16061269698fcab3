"""Both terms of UGCN's loss (Eq. 6, L = L_p + lambda L_m) under each reading, at init and after training.

UGCN at quick width on the bundled stand-in, one real training batch (bench.engine.train.make_batcher);
prints bench.losses.loss_terms for every reading (train.loss x train.motion_loss.normalize), in metres and
in millimetres, at init, after --steps Adam steps on --train (mpjpe: L_p alone; balanced: the protocols'
reading; old: mse + temporal_mean), and for the ground truth plus smooth noise of 100 and 30 mm MPJPE.

Usage: python tools/ugcn_loss_terms.py [--steps 300] [--train mpjpe|balanced|old] [--threads 1]
(about 0.8 s per step on one CPU thread; the numbers are quoted in bench/losses.py).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bench.config import resolve
from bench.engine.data import get_dataset, split_sequences
from bench.engine.seed import seed_everything
from bench.engine.train import make_batcher, make_loss_fn, make_optimizer
from bench.losses import loss_terms
from bench.registry import create_model
from bench.typed_config import section

READINGS = [("mse", "temporal_mean"), ("mpjpe", "temporal_mean"), ("mse", "temporal_mean_length"),
            ("mpjpe", "temporal_mean_length")]
MOTIONS = [("cross", [8, 12, 16, 24]), ("cross", [12]), ("inner", [12]), ("subtraction", [12]),
           ("subtraction", [1])]
TRAIN = {"mpjpe": {"train.loss": "mpjpe"},
         "balanced": {"train.loss": "mpjpe", "train.motion_loss.intervals": [8, 12, 16, 24],
                      "train.motion_loss.normalize": "temporal_mean_length"},
         "old": {"train.loss": "mse", "train.motion_loss.intervals": [8, 12, 16, 24]}}


def table(tag: str, pred: torch.Tensor, target: torch.Tensor) -> None:
    print(f"\n== {tag}: MPJPE {1000 * float(torch.norm(pred - target, dim=-1).mean()):.1f} mm, "
          f"mean |prediction| {float(torch.norm(pred, dim=-1).mean()):.3f} m")
    for op, intervals in MOTIONS:
        print(f"  {op} {intervals}")
        for loss, normalize in READINGS:
            cfg = section(resolve({"train": {"loss": loss, "motion_loss": {
                "intervals": intervals, "operator": op, "weight": 1.0, "normalize": normalize,
                "distance": "l1"}}})["train"], "train")
            m, mm = loss_terms(pred, target, cfg), loss_terms(1000 * pred, 1000 * target, cfg)
            print(f"    {loss:>5} ; {normalize:<21} L_p {m['position']:9.4g}  L_m {m['motion']:9.4g}  "
                  f"ratio {m['ratio']:9.4g}  (in mm: {mm['ratio']:.4g})")


def smooth_noise(target: torch.Tensor, mm: float, gen: torch.Generator) -> torch.Tensor:
    """Noise low-passed over 9 frames, the root kept at 0, scaled to an MPJPE of ``mm``."""
    b, t, j, _ = target.shape
    n = torch.randn(target.shape, generator=gen).permute(0, 2, 3, 1).reshape(-1, 1, t)
    n = torch.nn.functional.conv1d(n, torch.ones(1, 1, 9) / 9, padding=4).reshape(b, j, 3, t).permute(0, 3, 1, 2)
    n[:, :, 0] = 0
    return n * (mm / 1000) / torch.norm(n, dim=-1)[:, :, 1:].mean()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--train", choices=sorted(TRAIN), default="mpjpe")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = resolve({"model.name": "ugcn", "model.options.widths": [16, 32, 64, 64, 64],
                   "model.options.merge_channels": 16, "data.dataset": "standin", "data.source": "gt",
                   "train.batch_size": 64, "train.window_stride": 64, "train.flip": False, "train.amsgrad": False,
                   "train.lr": 0.003}, TRAIN[args.train])
    seed_everything(0)
    ds = get_dataset(cfg["data"])
    train_seqs = split_sequences(ds, cfg["data"])[0]
    model = create_model("ugcn", **cfg["model"]["options"])
    batcher = make_batcher(model, train_seqs, ds.keypoints_layout, ds.skeleton, cfg["train"])
    x, y = next(iter(batcher.batches(np.random.RandomState(123))))[:2]

    def predict():
        model.eval()
        with torch.no_grad():
            out = model(x)
        model.train()
        return out

    table("init", predict(), y)
    gen = torch.Generator().manual_seed(0)
    for mm in (100, 30):
        table(f"ground truth + smooth noise, {mm} mm", y + smooth_noise(y, mm, gen), y)
    loss_fn, opt, rng = make_loss_fn(cfg["train"]), make_optimizer(model, cfg["train"]), np.random.RandomState(0)
    step, t0 = 0, time.time()
    while step < args.steps:
        for xb, yb in batcher.batches(rng):
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step >= args.steps:
                break
    print(f"\n({args.steps} steps on '{args.train}' in {time.time() - t0:.0f} s)")
    table(f"after {args.steps} steps on '{args.train}'", predict(), y)


if __name__ == "__main__":
    main()
