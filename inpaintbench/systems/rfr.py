"""RFR-Net's training recipe (official `model.py`, reference/rfrnet.md sections 4-5), registered as SYSTEMS "rfr".

Loss, with M = 1 on valid pixels, `out` the raw (unclamped) output and comp = out*(1-M) + gt*M:
    1 * mean(|gt-out| M) + 6 * mean(|gt-out| (1-M))                    size-averaged over B*3*H*W
  + 0.05 * sum_{pool1,2,3} mean|phi(gt)-phi(x)|            for x in (out, comp)
  + 120  * sum_{pool1,2,3} mean|G(gt)-G(x)| / (C*H*W),     G = F F^T per sample, x in (out, comp)
  + 0.1  * (mean|d_y y| + mean|d_x y|) with y = comp*(1-M): the hole region only, averaged over the image.
phi is torchvision VGG16 `features[:5]`, `[5:10]`, `[10:17]` (after pool1, pool2, pool3), frozen,
fed [0,1] images *without* ImageNet normalisation, as the official code does.

How this differs from the PConv recipe (systems/reconstruction.py), and why it has its own module:
VGG input is unnormalised [0,1] (the naoto0804 PConv port normalises), TV covers comp*(1-M) instead of
the whole composite, and fine-tuning (`stage: finetune`, Adam at 5e-5) freezes the running statistics
of *every* BatchNorm in the generator, not only the encoder's (the official `train(finetune=True)`).

Optimiser: Adam, default betas, lr 2e-4 (train) / 5e-5 (finetune); no schedule. Batch 6 at 256 is set
by the data config. Perceptual/style need ImageNet VGG16 weights from the torch hub cache
(`vgg16-397923af.pth`); without them construction stops with one line naming the file, unless
`perceptual_backbone: none` disables both terms explicitly (recorded in hparams and `loss_weights`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from inpaintbench.systems.base import SYSTEMS, InpaintingSystem
from inpaintbench.weights import WeightsError, as_state_dict, check_state_dict, read_checkpoint

#: torchvision's published ImageNet VGG16 file and the hash prefix in its name.
VGG16_FILE = "vgg16-397923af.pth"
VGG16_SHA256_PREFIX = "397923af"
#: VGG16 `features` slices ending after pool1, pool2, pool3 (the official VGG16FeatureExtractor).
VGG16_POOL_SLICES = ((0, 5), (5, 10), (10, 17))
BACKBONES = ("vgg16", "none")
STAGES = ("train", "finetune")


def hub_checkpoint_path(file_name: str) -> Path:
    """Where torch hub keeps published weights: `$TORCH_HOME/hub/checkpoints/<file>`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


class PoolFeatures(nn.Module):
    """Frozen VGG16 trunk returning the activations after pool1, pool2 and pool3."""

    def __init__(self, features: nn.Sequential) -> None:
        super().__init__()
        self.slices = nn.ModuleList(nn.Sequential(*features[a:b]) for a, b in VGG16_POOL_SLICES)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: Tensor) -> list[Tensor]:
        outputs = []
        for block in self.slices:
            x = block(x)
            outputs.append(x)
        return outputs


def build_perceptual_backbone(name: str) -> PoolFeatures | None:
    """`vgg16` -> ImageNet VGG16 pool1-3 features from the hub cache; `none` -> None (terms disabled)."""
    if name == "none":
        return None
    if name != "vgg16":
        raise ValueError(f"perceptual_backbone must be one of {BACKBONES}, got {name!r}")
    from torchvision.models import vgg16

    path = hub_checkpoint_path(VGG16_FILE)
    if not path.is_file():
        raise WeightsError(
            f"{path}: ImageNet VGG16 weights for RFR-Net's perceptual/style loss are missing; place "
            f"torchvision's {VGG16_FILE} there, or set system.perceptual_backbone=none to train without those terms"
        )
    network = vgg16(weights=None)
    state_dict = as_state_dict(read_checkpoint(path, sha256=VGG16_SHA256_PREFIX), path)
    check_state_dict(network, state_dict, path)
    network.load_state_dict(state_dict)
    return PoolFeatures(network.features)


def gram(features: Tensor) -> Tensor:
    """Per-sample C x C Gram matrix F F^T divided by C*H*W."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def total_variation(x: Tensor) -> Tensor:
    """mean |vertical difference| + mean |horizontal difference|."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


class RFRLoss(nn.Module):
    """The official RFR-Net generator loss; perceptual and style are active only with a feature extractor.

    The extractor is held outside the module tree so that it never enters state dicts or checkpoints.
    """

    def __init__(
        self,
        valid: float = 1.0,
        hole: float = 6.0,
        perceptual: float = 0.05,
        style: float = 120.0,
        tv: float = 0.1,
        feature_extractor: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.weights = {"valid": valid, "hole": hole, "perceptual": perceptual, "style": style, "tv": tv}
        self._extractor: tuple[nn.Module, ...] = ()
        self.use_feature_extractor(feature_extractor)

    @property
    def feature_extractor(self) -> nn.Module | None:
        return self._extractor[0] if self._extractor else None

    def use_feature_extractor(self, extractor: nn.Module | None) -> None:
        """Install (or with None remove) the frozen network behind the perceptual and style terms."""
        self._extractor = (extractor,) if extractor is not None else ()

    def active_weights(self) -> dict[str, float]:
        """The weights actually applied (perceptual and style are 0 without an extractor)."""
        if self.feature_extractor is None:
            return {**self.weights, "perceptual": 0.0, "style": 0.0}
        return dict(self.weights)

    def forward(self, image: Tensor, mask: Tensor, out: Tensor) -> dict[str, Tensor]:
        """image [0,1], mask 1 = hole (N,1,H,W), out the raw prediction; returns every term and `total`."""
        valid = 1.0 - mask
        comp = out * mask + image * valid
        error = (image - out).abs()
        terms = {
            "valid": (error * valid).mean(),
            "hole": (error * mask).mean(),
            "tv": total_variation(comp * mask),
        }
        extractor = self.feature_extractor
        if extractor is not None:
            extractor.to(image.device)
            with torch.no_grad():
                target = extractor(image)
            perceptual = out.new_zeros(())
            style = out.new_zeros(())
            for x in (out, comp):
                for feat_x, feat_t in zip(extractor(x), target, strict=True):
                    perceptual = perceptual + (feat_t - feat_x).abs().mean()
                    style = style + (gram(feat_t) - gram(feat_x)).abs().mean()
            terms["perceptual"], terms["style"] = perceptual, style
        weights = self.active_weights()
        terms["total"] = sum(weights[name] * value for name, value in terms.items())
        return terms


@SYSTEMS.register("rfr")
class RFRSystem(InpaintingSystem):
    """RFR-Net training: one optimiser, the loss above, `stage: finetune` freezes every BatchNorm's statistics."""

    def __init__(
        self,
        arch: str,
        arch_args: dict[str, Any] | None = None,
        lr: float = 2.0e-4,
        finetune_lr: float = 5.0e-5,
        stage: str = "train",
        perceptual_backbone: str = "vgg16",
        valid_weight: float = 1.0,
        hole_weight: float = 6.0,
        perceptual_weight: float = 0.05,
        style_weight: float = 120.0,
        tv_weight: float = 0.1,
    ) -> None:
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        super().__init__(arch, arch_args)
        self.criterion = RFRLoss(
            valid=valid_weight,
            hole=hole_weight,
            perceptual=perceptual_weight,
            style=style_weight,
            tv=tv_weight,
            feature_extractor=build_perceptual_backbone(perceptual_backbone),
        )

    def loss_weights(self) -> dict[str, float]:
        return self.criterion.active_weights()

    def freeze_batchnorm(self) -> None:
        """Fine-tuning: every BatchNorm of the generator in eval mode (running statistics frozen; affine trains)."""
        for module in self.generator.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Lightning keeps whatever mode the modules are in, so the freeze is re-applied before every batch.
        if self.hparams.stage == "finetune":
            self.freeze_batchnorm()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        image, mask = batch["image"], batch["mask"]
        terms = self.criterion(image, mask, self.generator(image, mask))
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items()}, prog_bar=False, batch_size=len(image))
        self.log("loss", terms["total"].detach(), prog_bar=True, batch_size=len(image))
        return terms["total"]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        lr = self.hparams.finetune_lr if self.hparams.stage == "finetune" else self.hparams.lr
        return torch.optim.Adam(self.generator.parameters(), lr=lr)
