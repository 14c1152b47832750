"""Training recipe for reconstruction-loss inpainters (PConv U-Net; RFR-Net reuses it): Adam, two stages.

Stage `train` (PConv: Adam lr 2e-4) trains everything. Stage `finetune` (PConv: lr 5e-5) builds a
fresh Adam at `finetune_lr` and freezes the BatchNorm layers whose qualified name in the generator
matches the glob `finetune_bn_scope` (PConv: `*enc_*`, the encoder; RFR-Net: `*`, every BN).

"Frozen" is read as the naoto0804 port (and RFR-Net's code) implement it: those BatchNorm layers
stay in eval mode, so they normalise with, and no longer update, their running statistics, while
their affine γ/β keep training. `freeze_bn_affine=True` also stops γ/β (the other reading of the
paper's "freeze the BN parameters in the encoder"). Lightning 2.x never calls `train()` during fit
(it restores each submodule's captured mode after validation instead), so the freeze is applied in
`on_train_batch_start`, before every batch, as well as in `train()` for direct use.

The losses are `losses.reconstruction.ReconstructionLoss` with plain-value weights. Perceptual and
style terms need an ImageNet VGG16 (`perceptual_backbone: vgg16`) read from the torch hub cache
(or from `perceptual_weights`, a file path); a missing file stops construction with one line naming
it. `perceptual_backbone: none` disables both terms explicitly; the choice is a hyper-parameter (so
it is in every checkpoint) and shows in `loss_weights()` as perceptual = style = 0.

`init_weights` (optional) is a generator weight file loaded through `inpaintbench.weights` when
fitting starts (before any resume), e.g. the `train` stage's export for a `finetune` run.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from inpaintbench.losses.reconstruction import ReconstructionLoss
from inpaintbench.losses.vgg import PERCEPTUAL_BACKBONES, build_perceptual_backbone
from inpaintbench.systems.base import SYSTEMS, InpaintingSystem

__all__ = ["ReconstructionSystem"]

STAGES = ("train", "finetune")


@SYSTEMS.register("pconv")
class ReconstructionSystem(InpaintingSystem):
    """Generator + `ReconstructionLoss` + Adam; hyper-parameters are plain values (checkpoints load weights_only)."""

    def __init__(
        self,
        arch: str,
        arch_args: dict[str, Any] | None = None,
        stage: str = "train",
        lr: float = 2.0e-4,
        finetune_lr: float = 5.0e-5,
        beta1: float = 0.9,
        beta2: float = 0.999,
        finetune_bn_scope: str = "*enc_*",
        freeze_bn_affine: bool = False,
        valid_weight: float = 1.0,
        hole_weight: float = 6.0,
        perceptual_weight: float = 0.05,
        style_weight: float = 120.0,
        tv_weight: float = 0.1,
        tv_region: str = "dilated_hole",
        loss_space: str = "imagenet",
        perceptual_backbone: str = "vgg16",
        perceptual_layers: Sequence[str] = ("pool1", "pool2", "pool3"),
        perceptual_weights: str | None = None,
        init_weights: str | None = None,
    ) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown training stage '{stage}' (known: {', '.join(STAGES)})")
        if perceptual_backbone not in PERCEPTUAL_BACKBONES:
            build_perceptual_backbone(perceptual_backbone)  # raises the one-line error before any building
        # Plain Python values before save_hyperparameters (in the base) reads this frame: weights_only-safe.
        arch_args = dict(arch_args or {})
        perceptual_layers = [str(name) for name in perceptual_layers]
        super().__init__(arch, arch_args)
        features = build_perceptual_backbone(perceptual_backbone, perceptual_layers, weights=perceptual_weights)
        enabled = features is not None
        self.criterion = ReconstructionLoss(
            valid=valid_weight,
            hole=hole_weight,
            perceptual=perceptual_weight if enabled else 0.0,
            style=style_weight if enabled else 0.0,
            tv=tv_weight,
            tv_region=tv_region,
            space=loss_space,
            features=features,
        )
        if stage == "finetune" and freeze_bn_affine:
            for module in self.frozen_batchnorms():
                module.requires_grad_(False)

    # -- stages ---------------------------------------------------------------------------------

    def frozen_batchnorms(self) -> list[_BatchNorm]:
        """BatchNorm layers of the generator frozen in the fine-tune stage (none in stage `train`)."""
        if self.hparams.stage != "finetune":
            return []
        scope = self.hparams.finetune_bn_scope
        return [
            module
            for name, module in self.generator.named_modules()
            if isinstance(module, _BatchNorm) and fnmatch.fnmatchcase(name, scope)
        ]

    def freeze_batchnorms(self) -> None:
        """Put the fine-tune stage's BatchNorm layers in eval mode: running statistics used, never updated."""
        for module in self.frozen_batchnorms():
            module.eval()

    def train(self, mode: bool = True) -> ReconstructionSystem:
        super().train(mode)
        if mode:
            self.freeze_batchnorms()
        return self

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Lightning keeps (and after validation restores) module modes without calling train(): freeze here.
        self.freeze_batchnorms()

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.hparams.init_weights:
            from inpaintbench.weights import load_weights

            load_weights(self.generator, self.hparams.init_weights)

    # -- optimisation ---------------------------------------------------------------------------

    def configure_optimizers(self) -> torch.optim.Optimizer:
        lr = self.hparams.finetune_lr if self.hparams.stage == "finetune" else self.hparams.lr
        params = [p for p in self.generator.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=lr, betas=(self.hparams.beta1, self.hparams.beta2))

    def compute_losses(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        image, mask = batch["image"], batch["mask"]
        return self.criterion(self.generator(image, mask), image, mask)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        terms = self.compute_losses(batch)
        batch_size = batch["image"].shape[0]
        self.log("train/loss", terms["total"], prog_bar=True, batch_size=batch_size)
        self.log_dict({f"train/{k}": v for k, v in terms.items() if k != "total"}, batch_size=batch_size)
        return terms["total"]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        terms = self.compute_losses(batch)
        self.log_dict({f"val/{k}": v for k, v in terms.items()}, batch_size=batch["image"].shape[0])
        return terms["total"]

    def loss_weights(self) -> dict[str, float]:
        """Active weights; perceptual and style are 0 when the backbone is `none`."""
        return {name: float(weight) for name, weight in self.criterion.weights.items()}
