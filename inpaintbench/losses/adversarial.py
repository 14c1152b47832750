"""LaMa's adversarial terms (reference/lama.md section 3; `losses/adversarial.py` `NonSaturatingWithR1`
and `losses/feature_matching.py` of advimman/lama).

- generator: non-saturating `softplus(-D(fake)).mean()`, no mask weighting;
- discriminator: `softplus(-D(real))` + R1 penalty on real images, and for fakes (with
  `mask_as_fake_target`) hole patches are labelled fake and known patches real, the mask being resized
  to the logit grid with nearest interpolation (the code's rule; the paper says "patches that
  intersect the hole"); the per-patch sum is averaged;
- R1: `mean_b ||d sum D(real) / d real||^2`, every step (no lazy regularisation);
- feature matching: mean over discriminator layers of the MSE between fake and real features.
Weights are applied by the caller (the system), so each function returns the unweighted term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def generator_adversarial_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss on the raw prediction's patch logits."""
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_logits: Tensor, real_images: Tensor) -> Tensor:
    """Mean over the batch of the squared gradient norm of sum(D(real)) w.r.t. the real images.

    `real_images` must require grad and `real_logits` must come from them; the graph is kept so the
    penalty itself can be back-propagated into the discriminator.
    """
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


def patch_mask(mask: Tensor, logits: Tensor) -> Tensor:
    """The hole mask resized to the discriminator's logit grid (nearest, as `interpolate_mask`)."""
    return F.interpolate(mask, size=logits.shape[-2:], mode="nearest")


def discriminator_loss(
    real_logits: Tensor,
    fake_logits: Tensor,
    mask: Tensor,
    r1: Tensor | float = 0.0,
    mask_as_fake_target: bool = True,
) -> tuple[Tensor, dict[str, Tensor]]:
    """`mean(softplus(-D(real)) + r1 + fake_term)`; `r1` is the already weighted penalty.

    Returns the total and its parts (each a mean) for logging.
    """
    real_term = F.softplus(-real_logits)
    fake_term = F.softplus(fake_logits)
    if mask_as_fake_target:
        holes = patch_mask(mask, fake_logits)
        fake_term = fake_term * holes + F.softplus(-fake_logits) * (1.0 - holes)
    total = (real_term + r1 + fake_term).mean()
    r1_tensor = torch.as_tensor(r1, dtype=total.dtype, device=total.device)
    return total, {"real": real_term.mean().detach(), "fake": fake_term.mean().detach(), "r1": r1_tensor.detach()}


def feature_matching_loss(fake_features: list[Tensor], real_features: list[Tensor]) -> Tensor:
    """Mean over layers of `mse(fake_feature, real_feature)`; real features carry no gradient."""
    if len(fake_features) != len(real_features) or not fake_features:
        raise ValueError(f"feature lists differ or are empty: {len(fake_features)} vs {len(real_features)}")
    terms = [F.mse_loss(fake, real.detach()) for fake, real in zip(fake_features, real_features, strict=True)]
    return torch.stack(terms).mean()
