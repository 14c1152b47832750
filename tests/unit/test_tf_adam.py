"""TFAdam: TF1 AdamOptimizer's update (eps on sqrt(v)), one step count shared by its sharers, exact resume."""

from __future__ import annotations

import copy
import math

import torch

from inpaintbench.training.systems.tf_adam import StepCounter, TFAdam

LR, BETAS, EPS = 1e-4, (0.5, 0.9), 1e-8


def _pair(counter: StepCounter) -> tuple[torch.nn.Parameter, torch.nn.Parameter, TFAdam, TFAdam]:
    g, d = (
        torch.nn.Parameter(torch.ones(4, dtype=torch.float64)),
        torch.nn.Parameter(torch.ones(3, dtype=torch.float64)),
    )
    return g, d, TFAdam([g], LR, BETAS, EPS, counter), TFAdam([d], LR, BETAS, EPS, counter)


def test_a_first_update_after_a_sharers_step_is_bias_corrected_as_step_two() -> None:
    g, d, opt_g, opt_d = _pair(StepCounter())
    d.grad = torch.full((3,), 0.3, dtype=torch.float64)
    opt_d.step()
    grad = torch.tensor([1e-3, -2.0, 5e-9, 0.0], dtype=torch.float64)
    g.grad = grad.clone()
    opt_g.step()
    b1, b2 = BETAS
    lr_t = LR * math.sqrt(1 - b2**2) / (1 - b1**2)  # TF: beta powers after two applies of the one optimiser
    expected = 1.0 - lr_t * (1 - b1) * grad / (((1 - b2) * grad**2).sqrt() + EPS)
    torch.testing.assert_close(g.detach(), expected, rtol=1e-14, atol=0)
    assert opt_g.counter.value == opt_d.counter.value == 2


def test_state_dicts_resume_the_shared_count_and_moments_exactly() -> None:
    torch.manual_seed(0)
    grads = [(torch.randn(4, dtype=torch.float64), torch.randn(3, dtype=torch.float64)) for _ in range(4)]
    g, d, opt_g, opt_d = _pair(StepCounter())
    for grad_g, grad_d in grads[:3]:
        d.grad = grad_d
        opt_d.step()
        g.grad = grad_g
        opt_g.step()
    saved = (*copy.deepcopy((opt_g.state_dict(), opt_d.state_dict())), g.detach().clone(), d.detach().clone())
    g2, d2, opt_g2, opt_d2 = _pair(StepCounter())
    with torch.no_grad():
        g2.copy_(saved[2])
        d2.copy_(saved[3])
    opt_g2.load_state_dict(saved[0])
    opt_d2.load_state_dict(saved[1])
    assert opt_g2.counter.value == 6
    for params, optimizers in (((g, d), (opt_g, opt_d)), ((g2, d2), (opt_g2, opt_d2))):
        params[1].grad, params[0].grad = grads[3][1], grads[3][0]
        optimizers[1].step()
        optimizers[0].step()
    assert torch.equal(g, g2) and torch.equal(d, d2)
