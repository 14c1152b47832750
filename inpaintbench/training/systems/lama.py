"""LaMa's training recipe (`DefaultInpaintingTrainingModule` of advimman/lama, reference/lama.md section 3).

Per batch, manual optimisation in the order Lightning 1.2 ran LaMa's two optimisers:
1. generator step: pred = G([image * (1 - mask), mask]) (raw sigmoid output, not the composite);
   loss = L1 on known pixels (weight 10 per pixel, 0 in holes, mean over all pixels)
        + 30 * HRF perceptual (sum of 4 layer MSEs, whole image)
        + 10 * softplus(-D(pred)).mean()
        + 100 * mean over D layers of mse(D_feats(pred), D_feats(image));
   the discriminator is frozen during this step.
2. discriminator step on a fresh generator forward (no gradient), as Lightning 1.2 re-ran the
   generator for the second optimiser: softplus(-D(image)) + 0.001 * R1(image) + fake term with hole
   patches fake and known patches real, averaged. The adversarial weight 10 is not applied here.
Adam (betas 0.9/0.999) with constant learning rates 1e-3 (G) and 1e-4 (D), gradient-norm clipping at 1
per optimiser, fp32.

The frozen HRF backbone is not saved in Lightning checkpoints (its weights come from its own file);
`on_load_checkpoint` puts the current tensors back so checkpoints reload strictly. Lightning counts
every optimiser step in `global_step`, so `trainer.max_steps=N` runs N/2 batches.

The HRF backbone's BatchNorm runs on batch statistics during training (`hrf_bn: train`), as the
official trainer under pytorch-lightning 1.2.9 does (inpaintbench/losses/hrf_perceptual.py).

Deliberate deviations, each a named option recorded in the checkpoint and card:
- `hrf_bn: eval` keeps the HRF backbone's running statistics; `perceptual_backbone: none` (explicit)
  trains without HRF-PL, and `imagenet_resnet50dilated` is a named substitute.
- No validation loop or best-checkpoint selection on `val_ssim_fid100_f1`: evaluation is the shared
  metric runner's job.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from inpaintbench.archs.patchgan import NLayerDiscriminator
from inpaintbench.losses.adversarial import (
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    r1_penalty,
)
from inpaintbench.losses.hrf_perceptual import BN_MODES, NONE, HRFPerceptualLoss, build_hrf_backbone
from inpaintbench.training.systems.base import SYSTEMS, InpaintingSystem

HRF_PREFIX = "hrf_loss."


def masked_l1(pred: Tensor, target: Tensor, mask: Tensor, weight_known: float, weight_missing: float) -> Tensor:
    """LaMa's `masked_l1_loss`: per-pixel weights (known / missing) times |pred - target|, mean over all."""
    pixel_weights = mask * weight_missing + (1.0 - mask) * weight_known
    return (pixel_weights * F.l1_loss(pred, target, reduction="none")).mean()


@SYSTEMS.register("lama")
class LamaSystem(InpaintingSystem):
    """LaMa GAN training: generator `arch` (a registered LaMa variant) + NLayer PatchGAN discriminator."""

    def __init__(
        self,
        arch: str,
        arch_args: dict[str, Any] | None = None,
        *,
        lr: float,
        lr_discriminator: float,
        l1_weight_known: float,
        l1_weight_missing: float,
        hrf_perceptual_weight: float,
        perceptual_backbone: str,
        perceptual_weights: str | None = None,
        hrf_bn: str,
        adversarial_weight: float,
        feature_matching_weight: float,
        r1_weight: float,
        mask_as_fake_target: bool,
        gradient_clip_val: float,
        discriminator_channels: int,
        discriminator_layers: int,
    ) -> None:
        super().__init__(
            arch,
            arch_args,
            lr=lr,
            lr_discriminator=lr_discriminator,
            l1_weight_known=l1_weight_known,
            l1_weight_missing=l1_weight_missing,
            hrf_perceptual_weight=hrf_perceptual_weight,
            perceptual_backbone=perceptual_backbone,
            perceptual_weights=perceptual_weights,
            hrf_bn=hrf_bn,
            adversarial_weight=adversarial_weight,
            feature_matching_weight=feature_matching_weight,
            r1_weight=r1_weight,
            mask_as_fake_target=mask_as_fake_target,
            gradient_clip_val=gradient_clip_val,
            discriminator_channels=discriminator_channels,
            discriminator_layers=discriminator_layers,
        )
        if hrf_bn not in BN_MODES:
            raise ValueError(f"unknown hrf_bn '{hrf_bn}' (known: {', '.join(BN_MODES)})")
        self.automatic_optimization = False
        self.discriminator = NLayerDiscriminator(3, discriminator_channels, discriminator_layers)
        backbone = build_hrf_backbone(perceptual_backbone, perceptual_weights)
        self.hrf_loss = HRFPerceptualLoss(backbone, bn=hrf_bn) if backbone is not None else None

    # ---------------------------------------------------------------- losses
    def generator_losses(self, image: Tensor, mask: Tensor, pred: Tensor) -> dict[str, Tensor]:
        """Weighted generator terms; the discriminator must be frozen by the caller."""
        hp = self.hparams
        losses = {"l1": masked_l1(pred, image, mask, hp.l1_weight_known, hp.l1_weight_missing)}
        if self.hrf_loss is not None and hp.hrf_perceptual_weight:
            losses["hrf_perceptual"] = hp.hrf_perceptual_weight * self.hrf_loss(pred, image)
        fake_logits, fake_features = self.discriminator(pred)
        losses["adversarial"] = hp.adversarial_weight * generator_adversarial_loss(fake_logits)
        if hp.feature_matching_weight:
            with torch.no_grad():
                _, real_features = self.discriminator(image)
            matching = feature_matching_loss(fake_features, real_features)
            losses["feature_matching"] = hp.feature_matching_weight * matching
        return losses

    def discriminator_losses(self, image: Tensor, mask: Tensor, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Total discriminator loss (real + weighted R1 + mask-aware fake) and its parts."""
        real = image.detach().requires_grad_(self.hparams.r1_weight > 0)
        real_logits, _ = self.discriminator(real)
        r1 = self.hparams.r1_weight * r1_penalty(real_logits, real) if self.hparams.r1_weight > 0 else 0.0
        fake_logits, _ = self.discriminator(fake.detach())
        return discriminator_loss(real_logits, fake_logits, mask, r1, self.hparams.mask_as_fake_target)

    # ---------------------------------------------------------------- training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Tensor]:
        image, mask = batch["image"], batch["mask"]
        opt_g, opt_d = self.optimizers()

        self.discriminator.requires_grad_(False)
        pred = self.generator(image, mask)
        g_losses = self.generator_losses(image, mask, pred)
        g_total = torch.stack(list(g_losses.values())).sum()
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_total)
        self.clip_gradients(opt_g, gradient_clip_val=self.hparams.gradient_clip_val, gradient_clip_algorithm="norm")
        opt_g.step()
        self.discriminator.requires_grad_(True)

        with torch.no_grad():
            fake = self.generator(image, mask)
        d_total, d_parts = self.discriminator_losses(image, mask, fake)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_total)
        self.clip_gradients(opt_d, gradient_clip_val=self.hparams.gradient_clip_val, gradient_clip_algorithm="norm")
        opt_d.step()

        logged = {f"train/g_{k}": v.detach() for k, v in g_losses.items()}
        logged |= {f"train/d_{k}": v for k, v in d_parts.items()}
        batch_size = image.shape[0]
        self.log_dict(logged, batch_size=batch_size)
        self.log_dict({"g_loss": g_total.detach(), "d_loss": d_total.detach()}, prog_bar=True, batch_size=batch_size)
        return {"loss": g_total.detach(), "d_loss": d_total.detach(), **{k: v.detach() for k, v in g_losses.items()}}

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [
            torch.optim.Adam(self.generator.parameters(), lr=self.hparams.lr),
            torch.optim.Adam(self.discriminator.parameters(), lr=self.hparams.lr_discriminator),
        ]

    # ---------------------------------------------------------------- bookkeeping
    def loss_weights(self) -> dict[str, float]:
        """Active terms and weights; the HRF key names its backbone ('none' = disabled)."""
        hp = self.hparams
        backbone = hp.perceptual_backbone
        # the key names the backbone and, when one is active, its BatchNorm mode (hrf_bn)
        hrf_key = f"hrf_perceptual[{backbone}]" if backbone == NONE else f"hrf_perceptual[{backbone},bn={hp.hrf_bn}]"
        return {
            "l1_known": float(hp.l1_weight_known),
            "l1_missing": float(hp.l1_weight_missing),
            hrf_key: float(hp.hrf_perceptual_weight) if backbone != NONE else 0.0,
            "adversarial_nonsaturating": float(hp.adversarial_weight),
            "feature_matching": float(hp.feature_matching_weight),
            "r1": float(hp.r1_weight),
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Leave the frozen HRF backbone out: it is rebuilt from its own weight file."""
        state = checkpoint.get("state_dict", {})
        for key in [k for k in state if k.startswith(HRF_PREFIX)]:
            del state[key]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Put the current HRF backbone tensors back so the strict load succeeds."""
        state = checkpoint.get("state_dict")
        if state is not None:
            state.update({k: v for k, v in self.state_dict().items() if k.startswith(HRF_PREFIX)})
