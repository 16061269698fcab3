"""Ranger (RAdam + Lookahead) and the cosine learning-rate schedule."""
import math

import pytest
import torch

from bench.config import resolve
from bench.engine.optim import Lookahead, ranger
from bench.engine.train import cosine_lr, lr_factor_after, make_optimizer

pytestmark = pytest.mark.usefixtures("one_thread")


def test_lookahead_interpolates_slow_weights_every_k_steps():
    # Inner SGD with lr 1 on loss = w (gradient 1): fast weights drop by 1 per step.
    w = torch.nn.Parameter(torch.tensor([10.0]))
    opt = Lookahead(torch.optim.SGD([w], lr=1.0), k=3, alpha=0.5)
    for step in range(1, 7):
        opt.zero_grad()
        w.sum().backward()
        opt.step()
        if step == 1:
            assert w.item() == pytest.approx(9.0)   # plain inner step
        if step == 3:
            # fast reached 7; slow = 10 + 0.5 * (7 - 10) = 8.5 and fast restarts there
            assert w.item() == pytest.approx(8.5)
    # second cycle: fast 8.5 -> 5.5, slow = 8.5 + 0.5 * (5.5 - 8.5) = 7.0
    assert w.item() == pytest.approx(7.0)


def test_lookahead_shares_param_groups_so_schedules_act_on_inner():
    w = torch.nn.Parameter(torch.zeros(2))
    opt = ranger([w], lr=1e-3)
    opt.param_groups[0]["lr"] *= 0.5
    assert opt.inner.param_groups[0]["lr"] == pytest.approx(5e-4)
    assert isinstance(opt.inner, torch.optim.RAdam)
    assert opt.inner.defaults["betas"] == (0.95, 0.999) and opt.k == 6 and opt.alpha == 0.5


def test_ranger_from_config_reduces_a_quadratic():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    cfg = resolve({"train.optimizer": "ranger", "train.lr": 0.2})["train"]
    opt = make_optimizer(model, cfg)
    x = torch.randn(64, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])  # learnable exactly: loss can reach 0
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first


def test_cosine_schedule_runs_from_lr_to_lr_min():
    tc = resolve({"train": {"lr_schedule": "cosine", "lr": 1e-3, "lr_min": 1e-5, "epochs": 80}})["train"]
    assert cosine_lr(0, tc) == pytest.approx(1e-3)
    assert cosine_lr(40, tc) == pytest.approx((1e-3 + 1e-5) / 2)
    assert cosine_lr(80, tc) == pytest.approx(1e-5)
    lr = tc["lr"]
    for epoch in range(1, 81):
        lr *= lr_factor_after(epoch, tc)
        assert lr == pytest.approx(cosine_lr(epoch, tc))
    assert lr == pytest.approx(1e-5)
    # half way the cosine is steepest: its factor is below the first epoch's
    assert lr_factor_after(40, tc) < lr_factor_after(1, tc) < 1.0
    assert math.isclose(lr_factor_after(1, tc), cosine_lr(1, tc) / 1e-3)


def test_lr_min_at_default_stays_out_of_the_experiment_hash():
    from bench.config import hash_view

    cfg = resolve({})
    assert "lr_min" not in hash_view(cfg)["train"]
    assert hash_view(resolve({"train.lr_min": 1e-4}))["train"]["lr_min"] == 1e-4
