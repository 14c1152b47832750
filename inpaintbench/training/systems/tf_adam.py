"""TensorFlow 1's `tf.train.AdamOptimizer` update in torch, for recipes whose official code is TF1.

Two differences from `torch.optim.Adam` (same lr, betas and eps):
- eps is added to sqrt(v), not to sqrt(v_hat): the step is `lr·sqrt(1-b2^t)/(1-b1^t) · m/(sqrt(v)+eps)`
  with `m += (g - m)(1-b1)`, `v += (g² - v)(1-b2)` (TF's `ApplyAdam` kernel);
- the step count t (TF's `beta1_power`/`beta2_power`) belongs to the optimiser object, not to each
  variable: DeepFill v1's train.py minimises the generator and the critic losses with ONE
  AdamOptimizer, so every generator and critic step advances the same t. `TFAdam` instances built with
  the same `StepCounter` share it the same way.

The count is saved in each optimiser's state dict (`tf_step`) and restored on load, so a resumed run
continues the bias correction exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["StepCounter", "TFAdam"]


class StepCounter:
    """The shared step count t of one TF optimiser object (number of updates applied so far)."""

    def __init__(self) -> None:
        self.value = 0


class TFAdam(torch.optim.Optimizer):
    """`tf.compat.v1.train.AdamOptimizer(lr, beta1, beta2, epsilon)` for `params`, counting on `counter`."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        counter: StepCounter | None = None,
    ) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})
        self.counter = counter if counter is not None else StepCounter()

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.counter.value += 1
        t = self.counter.value
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr_t = group["lr"] * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
            for param in group["params"]:
                if param.grad is None:
                    continue  # TF applies only to variables with a gradient; t still advances
                grad = param.grad
                state = self.state[param]
                if not state:
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.add_((grad - m) * (1.0 - beta1))
                v.add_((grad * grad - v) * (1.0 - beta2))
                param.sub_(lr_t * m / (v.sqrt() + group["eps"]))
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "tf_step": self.counter.value}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        saved = state_dict.pop("tf_step", None)
        super().load_state_dict(state_dict)
        if saved is not None:
            self.counter.value = max(self.counter.value, int(saved))  # both sharers saved the same count
