"""Optimisers the engine offers beyond torch's: Ranger = RAdam + Lookahead (the attention-TCN recipe).

Ranger (Wright 2019) wraps RAdam (Liu et al., ICLR 2020) in Lookahead (Zhang et al., NeurIPS 2019): every
``k`` inner steps the "slow" weights move a fraction ``alpha`` towards the "fast" weights the inner
optimiser produced, and the fast weights restart from there. Ranger's published defaults are used:
RAdam betas (0.95, 0.999), eps 1e-5, Lookahead k = 6, alpha = 0.5.
"""
from __future__ import annotations

import torch


class Lookahead(torch.optim.Optimizer):
    """Lookahead around any optimiser (Zhang et al. 2019, Algorithm 1).

    ``param_groups`` is the inner optimiser's list, so a learning-rate schedule that edits
    ``opt.param_groups[i]["lr"]`` acts on the inner optimiser as with a plain one.
    """

    def __init__(self, inner: torch.optim.Optimizer, k: int = 6, alpha: float = 0.5):
        if k < 1:
            raise ValueError(f"Lookahead k must be >= 1, got {k}")
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"Lookahead alpha must be in (0, 1], got {alpha}")
        self.inner, self.k, self.alpha = inner, int(k), float(alpha)
        self.param_groups = inner.param_groups
        self.defaults = inner.defaults
        self.state = inner.state
        self.steps = 0
        # Slow weights start equal to the initial (fast) weights.
        self.slow = [[p.detach().clone() for p in g["params"]] for g in self.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self, closure=None):
        loss = self.inner.step(closure)
        self.steps += 1
        if self.steps % self.k == 0:
            for group, slow in zip(self.param_groups, self.slow):
                for p, s in zip(group["params"], slow):
                    s.add_(p.detach() - s, alpha=self.alpha)  # slow += alpha * (fast - slow)
                    p.copy_(s)
        return loss

    def state_dict(self) -> dict:
        return {"inner": self.inner.state_dict(), "slow": self.slow, "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state["inner"])
        self.slow, self.steps = state["slow"], state["steps"]


def ranger(params, lr: float, weight_decay: float = 0.0) -> Lookahead:
    """Ranger with its published defaults (RAdam betas (0.95, 0.999), eps 1e-5; Lookahead k 6, alpha 0.5)."""
    inner = torch.optim.RAdam(params, lr=lr, betas=(0.95, 0.999), eps=1e-5, weight_decay=weight_decay)
    return Lookahead(inner, k=6, alpha=0.5)
