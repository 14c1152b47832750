"""WGAN-GP terms and DeepFill v1's spatially discounted L1, as neuralgym / DeepFill v1.0.0 compute them.

- critic loss `mean(fake) - mean(real)`, generator loss `-mean(fake)` (neuralgym `gan_wgan_loss`);
- gradient penalty on per-sample random interpolates between real and fake, with the squared
  gradient **summed** over C,H,W after multiplying by a mask (DeepFill passes the hole mask, so only
  hole pixels count), `mean((||g|| - 1)^2)` (neuralgym `gradients_penalty`);
- spatial discounting weight `gamma ** min(i, H - i, j, W - j)` over the local crop (the code's
  form, gamma 0.9 in the official config; the paper states 0.99 and "distance to the nearest known
  pixel").

Deviation: the gradient norm is `sqrt(max(sum, 1e-12))` instead of `sqrt(sum)`: identical values
except when the masked gradient is exactly zero (an empty hole), where TF's sqrt has an infinite
derivative and the penalty's gradient would be NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def wgan_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """The critic minimises mean(D(fake)) - mean(D(real))."""
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: Tensor) -> Tensor:
    """The generator minimises -mean(D(fake))."""
    return -fake_scores.mean()


def random_interpolates(real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """real + alpha·(fake - real) with one alpha ~ U[0,1) per sample."""
    alpha = torch.rand(
        real.shape[0], *([1] * (real.ndim - 1)), generator=generator, dtype=real.dtype, device=real.device
    )
    return real + alpha * (fake - real)


def gradient_penalty(
    critic: nn.Module,
    real: Tensor,
    fake: Tensor,
    mask: Tensor | None = None,
    norm: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """mean over samples of (sqrt(sum_{C,H,W} (dD/dx)^2 · mask) - norm)^2 at random interpolates.

    `fake` should be detached; the penalty keeps its graph (create_graph) so the critic trains on it.
    """
    interpolates = random_interpolates(real.detach(), fake.detach(), generator).requires_grad_(True)
    scores = critic(interpolates)
    (gradients,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    squared = gradients.square()
    if mask is not None:
        squared = squared * mask
    slopes = squared.flatten(1).sum(dim=1).clamp_min(1e-12).sqrt()
    return (slopes - norm).square().mean()


def spatial_discounting_mask(height: int, width: int, gamma: float = 0.9) -> Tensor:
    """(1,1,H,W) weights gamma ** min(i, H - i, j, W - j), exactly the official formula."""
    rows = torch.arange(height, dtype=torch.float64)
    cols = torch.arange(width, dtype=torch.float64)
    dist_rows = torch.minimum(rows, height - rows)
    dist_cols = torch.minimum(cols, width - cols)
    distance = torch.minimum(dist_rows[:, None], dist_cols[None, :])
    return (gamma**distance).to(torch.float32)[None, None]


def discounted_l1(target: Tensor, pred: Tensor, weights: Tensor) -> Tensor:
    """mean(|target - pred| · weights): the official `reduce_mean` over batch, pixels and channels."""
    return ((target - pred).abs() * weights).mean()
