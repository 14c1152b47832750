"""DeepFill v1 training recipe (TF v1.0.0 `build_graph_with_losses` + `inpaint.yml`).

Losses, all computed in the network's own convention (BGR in [-1,1]) as the official code does:
- spatially discounted L1 on the local crop: `l1_alpha · (coarse_l1_alpha · mean(|gt - x1|·w) +
  mean(|gt - x2|·w))`, raw (uncomposited) outputs, w = gamma^min(i, H-i, j, W-j), gamma 0.9;
- "ae" L1 on the known pixels, renormalised: `ae_alpha · (coarse_l1_alpha · mean(|gt - x1|·(1-m)) +
  mean(|gt - x2|·(1-m))) / mean(1-m)`;
- WGAN: `gan_alpha · (global_wgan_alpha · g_global + g_local)` for G; the critics see composites;
  critic loss `d_local + d_global + gp_lambda · (gp_local + gp_global)`, penalties masked to holes.
- Official weights: l1 1.2, coarse 1.2, ae 1.2, gan 0.001, gp 10; Adam lr 1e-4, betas (0.5, 0.9);
  5 critic steps per generator step, each on its own batch.

Manual optimisation: Lightning's `global_step` counts every optimizer step, so steps
`k·(critic_steps+1) + 0 .. critic_steps-1` update the critics and step `k·(critic_steps+1) +
critic_steps` the generator; this also makes the cycle resume exactly from a checkpoint.
`trainer.max_steps` therefore counts critic and generator steps together.

The local critic needs a crop around the hole. The official bbox is the 128x128 (H/2 x W/2) square
the box hole was cut from, with the hole shrunk symmetrically inside it; we take the
`local_size` window centred on the hole's bounding box (clamped into the image), which for those
masks is exactly the official bbox. When the hole's bounding box is larger than the window
(irregular masks), the bounding box itself is cropped and resized bilinearly (align_corners=False)
to the window size, for the images, the outputs and the mask alike. An empty mask uses the centre.

Optimiser (`adam`, recorded in the checkpoint): `tf` (default, the official) is train.py's single
TF1 AdamOptimizer for G and D (`systems.tf_adam.TFAdam`: one step counter shared by G and D, eps
added to sqrt(v)); `torch` is two independent `torch.optim.Adam`s with the same settings, which
differ in the first ~50 generator iterations only (the official generator's k-th step is
bias-corrected as step 6k: 1.10x torch's at k=1, up to 1.55x at k=3, 1.02x at k=30; critic steps
at most 1.05x; TF's eps is effectively 3.2e-8 at step 1).

Deviations: per-sample masks instead of one mask per batch; the ae loss's known-area divisor is kept
above 1e-8 so an all-hole batch does not divide by zero. DeepFill v1 has no perceptual loss
(`perceptual_backbone` must be `none`).

Tested against the official TF graph (tests/fixtures/training_parity/deepfill_official.json): every
term to 2e-5, one critic and one generator step with either `adam` (tests/unit/test_training_parity_deepfill.py).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from inpaintbench.archs.deepfill_v1 import global_critic, local_critic
from inpaintbench.losses.wgan import (
    discounted_l1,
    gradient_penalty,
    spatial_discounting_mask,
    wgan_critic_loss,
    wgan_generator_loss,
)
from inpaintbench.training.systems.base import SYSTEMS, InpaintingSystem
from inpaintbench.training.systems.tf_adam import StepCounter, TFAdam

ADAMS = ("tf", "torch")
Box = tuple[int, int, int, int]  # top, left, height, width


def _fit_window(lo: int, hi: int, size: int, limit: int) -> tuple[int, int]:
    """Start and extent along one axis: `size` centred on [lo, hi) and clamped, or [lo, hi) if larger."""
    extent = hi - lo
    if extent > size:
        return lo, extent
    start = lo - (size - extent) // 2
    return min(max(start, 0), limit - size), size


def hole_windows(mask: Tensor, size: tuple[int, int]) -> list[Box]:
    """Per sample, the local critic's window: `size` around the hole's bounding box (see module doc)."""
    holes = mask[:, 0] > 0.5
    rows, cols = holes.any(dim=2), holes.any(dim=1)
    height, width = mask.shape[-2:]
    boxes = []
    for row, col in zip(rows.tolist(), cols.tolist(), strict=True):  # per sample, not per pixel
        if any(row):
            y0, y1 = row.index(True), len(row) - row[::-1].index(True)
            x0, x1 = col.index(True), len(col) - col[::-1].index(True)
        else:
            y0 = y1 = height // 2
            x0 = x1 = width // 2
        top, box_h = _fit_window(y0, y1, size[0], height)
        left, box_w = _fit_window(x0, x1, size[1], width)
        boxes.append((top, left, box_h, box_w))
    return boxes


def crop_windows(x: Tensor, boxes: list[Box], size: tuple[int, int]) -> Tensor:
    """Crop each sample's box; boxes of another size are resized bilinearly to `size`."""
    crops = []
    for i, (top, left, h, w) in enumerate(boxes):
        crop = x[i : i + 1, :, top : top + h, left : left + w]
        if (h, w) != tuple(size):
            crop = F.interpolate(crop, size=size, mode="bilinear", align_corners=False)
        crops.append(crop)
    return torch.cat(crops, dim=0)


@SYSTEMS.register("deepfill_v1")
class DeepFillV1System(InpaintingSystem):
    """Generator plus global and local WGAN-GP critics; manual optimisation, 5 critic steps per G step."""

    def __init__(
        self,
        arch: str,
        arch_args: dict[str, Any] | None = None,
        *,
        lr: float,
        beta1: float,
        beta2: float,
        critic_steps: int,
        l1_alpha: float,
        coarse_l1_alpha: float,
        ae_alpha: float,
        gan_alpha: float,
        global_wgan_alpha: float,
        gp_lambda: float,
        discount_gamma: float,
        critic_cnum: int,
        image_size: int,
        perceptual_backbone: str | None,
        adam: str,
    ) -> None:
        if adam not in ADAMS:
            raise ValueError(f"unknown adam '{adam}' (known: {', '.join(ADAMS)})")
        if perceptual_backbone not in (None, "none"):
            raise ValueError(
                f"DeepFill v1 has no perceptual loss; set system.perceptual_backbone to none, "
                f"got {perceptual_backbone!r}"
            )
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {image_size}")
        super().__init__(
            arch,
            arch_args,
            lr=lr,
            beta1=beta1,
            beta2=beta2,
            critic_steps=critic_steps,
            l1_alpha=l1_alpha,
            coarse_l1_alpha=coarse_l1_alpha,
            ae_alpha=ae_alpha,
            gan_alpha=gan_alpha,
            global_wgan_alpha=global_wgan_alpha,
            gp_lambda=gp_lambda,
            discount_gamma=discount_gamma,
            critic_cnum=critic_cnum,
            image_size=image_size,
            perceptual_backbone="none",
            adam=adam,
        )
        self.automatic_optimization = False
        self.image_size = (image_size, image_size)
        self.local_size = (image_size // 2, image_size // 2)
        self.global_critic = global_critic(self.image_size, critic_cnum)
        self.local_critic = local_critic(self.local_size, critic_cnum)
        self.register_buffer("discount", spatial_discounting_mask(*self.local_size, discount_gamma), persistent=False)

    def loss_weights(self) -> dict[str, float]:
        h = self.hparams
        return {
            "l1_discounted_stage1": h.l1_alpha * h.coarse_l1_alpha,
            "l1_discounted_stage2": h.l1_alpha,
            "ae_known_stage1": h.ae_alpha * h.coarse_l1_alpha,
            "ae_known_stage2": h.ae_alpha,
            "wgan_global": h.gan_alpha * h.global_wgan_alpha,
            "wgan_local": h.gan_alpha,
            "gradient_penalty": h.gp_lambda,
            "perceptual": 0.0,
        }

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """[generator, critics]: with `adam: tf` two views of one TF AdamOptimizer (a shared step count)."""
        betas = (self.hparams.beta1, self.hparams.beta2)
        critics = [*self.global_critic.parameters(), *self.local_critic.parameters()]
        if self.hparams.adam == "tf":
            counter = StepCounter()
            return [
                TFAdam(self.generator.parameters(), lr=self.hparams.lr, betas=betas, counter=counter),
                TFAdam(critics, lr=self.hparams.lr, betas=betas, counter=counter),
            ]
        return [
            torch.optim.Adam(self.generator.parameters(), lr=self.hparams.lr, betas=betas),
            torch.optim.Adam(critics, lr=self.hparams.lr, betas=betas),
        ]

    # --- steps ---------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        image, mask = batch["image"], batch["mask"]
        if tuple(image.shape[-2:]) != self.image_size:
            raise ValueError(f"DeepFill v1 system was built for {self.image_size} crops, got {tuple(image.shape[-2:])}")
        real = self.generator.to_network(image)
        opt_g, opt_d = self.optimizers()
        if self.global_step % (self.hparams.critic_steps + 1) < self.hparams.critic_steps:
            self._critic_step(real, mask, opt_d)
        else:
            self._generator_step(real, mask, opt_g)

    def _critic_step(self, real: Tensor, mask: Tensor, opt: Any) -> None:
        losses = self.critic_losses(real, mask)
        opt.zero_grad()
        self.manual_backward(losses["d_loss"])
        opt.step()
        self.log_dict({"train/d_loss": losses["d_loss"].detach(), "train/gp": losses["gp"].detach()}, prog_bar=True)

    def critic_losses(self, real: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """Both critics' terms for a batch in the network convention; `d_loss` is their total.

        `gp` is the sum of the local and global penalties, before `gp_lambda` (TF's `gp_loss` is after).
        """
        with torch.no_grad():
            _, x_stage2 = self.generator.generate(real, mask)
        fake = x_stage2 * mask + real * (1.0 - mask)
        boxes = hole_windows(mask, self.local_size)
        local_real, local_fake = self._crop(real, boxes), self._crop(fake, boxes)
        local_mask = self._crop(mask, boxes)
        d_global = wgan_critic_loss(self.global_critic(real), self.global_critic(fake))
        d_local = wgan_critic_loss(self.local_critic(local_real), self.local_critic(local_fake))
        penalty = gradient_penalty(self.local_critic, local_real, local_fake, local_mask) + gradient_penalty(
            self.global_critic, real, fake, mask
        )
        loss = d_global + d_local + self.hparams.gp_lambda * penalty
        return {"d_loss": loss, "d_local": d_local, "d_global": d_global, "gp": penalty}

    def _generator_step(self, real: Tensor, mask: Tensor, opt: Any) -> None:
        self.toggle_optimizer(opt)
        losses = self.generator_losses(real, mask)
        opt.zero_grad()
        self.manual_backward(losses["g_loss"])
        opt.step()
        self.untoggle_optimizer(opt)
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.items()}, prog_bar=True)

    def generator_losses(self, real: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """All generator terms for a batch in the network convention; `g_loss` is their total."""
        h = self.hparams
        x_stage1, x_stage2 = self.generator.generate(real, mask)
        fake = x_stage2 * mask + real * (1.0 - mask)
        boxes = hole_windows(mask, self.local_size)
        local_real = self._crop(real, boxes)
        l1 = h.coarse_l1_alpha * discounted_l1(local_real, self._crop(x_stage1, boxes), self.discount) + discounted_l1(
            local_real, self._crop(x_stage2, boxes), self.discount
        )
        known = 1.0 - mask
        ae = (
            h.coarse_l1_alpha * ((real - x_stage1).abs() * known).mean() + ((real - x_stage2).abs() * known).mean()
        ) / known.mean().clamp_min(1e-8)
        g_gan = h.global_wgan_alpha * wgan_generator_loss(self.global_critic(fake)) + wgan_generator_loss(
            self.local_critic(self._crop(fake, boxes))
        )
        total = h.gan_alpha * g_gan + h.l1_alpha * l1 + h.ae_alpha * ae
        return {"g_loss": total, "l1": l1, "ae": ae, "g_gan": g_gan}

    def _crop(self, x: Tensor, boxes: list[Box]) -> Tensor:
        return crop_windows(x, boxes, self.local_size)
