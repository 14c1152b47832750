"""LaMa's high-receptive-field perceptual loss (HRF-PL, `ResNetPL`; reference/lama.md section 3).

    loss = sum over layer1..layer4 of mse(phi(norm(pred)), phi(norm(target)))      (whole image, no mask)

`norm` is ImageNet mean/std from [0,1]; the code **sums** the four layer MSEs (the paper's eq. 1 says a
mean: a factor 4); the system multiplies by the weight (30). The backbone phi is pluggable, chosen by
name (`perceptual_backbone` in conf/model/lama_*.yaml):

- `ade20k_resnet50dilated` (the paper's): the CSAIL ADE20k segmentation encoder, ResNet-50 with a deep
  stem (three 3x3 convs 64-64-128) and layer3/layer4 dilated 2/4 without stride (output stride 8),
  weights `encoder_epoch_20.pth` from `$TORCH_HOME/ade20k/ade20k-resnet50dilated-ppm_deepsup/`, the path
  LaMa reads. No hash of that file is published, so none is checked unless the caller passes one.
- `imagenet_resnet50dilated` (a substitute that torch hub can provide; NOT the paper's loss): torchvision
  ResNet-50 (7x7 stem) with the same dilation, ImageNet weights `resnet50-0676ba61.pth` from
  `$TORCH_HOME/hub/checkpoints/`, hash prefix checked.
- `none`: no HRF-PL; must be set explicitly. A named backbone whose weights are absent stops the run
  with one line naming the file and where to put it.

The backbone's weights are frozen. Its BatchNorm mode is a named choice, `bn` (`hrf_bn` in the recipe):

- `train` (the official behaviour, default): BatchNorm normalises with each forward's batch
  statistics while the training system is in train mode. LaMa's `ResNetPL` calls `self.impl.eval()`
  once at construction, but pytorch-lightning 1.2.9 (the version LaMa pins) calls `self.model.train()`
  on the whole LightningModule when training starts (`Trainer.run_train`, trainer.py:615) and again
  after every validation loop (`on_validation_model_train`, hooks.py:159), which puts the encoder, a
  submodule of the training module, back in train mode for every training step. Prediction and target
  are normalised separately (two forwards), so the loss depends on batch composition.
- `eval`: running statistics always; the loss is a fixed function of (pred, target). A deviation,
  recorded in the checkpoint and card when chosen. (On random weights the two differ by orders of
  magnitude, e.g. 397 vs 15,601.)

Lightning 2.x never calls `train()` during fit, so the mode is applied at every forward from this
module's own `training` flag rather than left to whoever last called `train()`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import Bottleneck

from inpaintbench import weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NONE = "none"
BN_MODES = ("train", "eval")


def torch_home() -> Path:
    """`$TORCH_HOME`, else `$XDG_CACHE_HOME/torch`, else `~/.cache/torch` (torch hub's own rule)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "torch"
    return Path(os.environ.get("TORCH_HOME", str(default))).expanduser()


@dataclass(frozen=True)
class BackboneSpec:
    """Where a backbone's weights live and how its network is built."""

    relative_path: str  # under torch_home()
    deep_stem: bool
    sha256_prefix: str | None

    def path(self) -> Path:
        return torch_home() / self.relative_path


BACKBONES: dict[str, BackboneSpec] = {
    "ade20k_resnet50dilated": BackboneSpec(
        "ade20k/ade20k-resnet50dilated-ppm_deepsup/encoder_epoch_20.pth", deep_stem=True, sha256_prefix=None
    ),
    "imagenet_resnet50dilated": BackboneSpec(
        "hub/checkpoints/resnet50-0676ba61.pth", deep_stem=False, sha256_prefix="0676ba61"
    ),
}


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _bottleneck_layer(inplanes: int, planes: int, blocks: int, stride: int, dilation: tuple[int, int]) -> nn.Sequential:
    """A ResNet stage; `dilation` = (first block, other blocks), CSAIL's `_nostride_dilate` pattern."""
    out = planes * Bottleneck.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
    layers = [Bottleneck(inplanes, planes, stride, downsample, dilation=dilation[0])]
    layers += [Bottleneck(out, planes, dilation=dilation[1]) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class DilatedResNet50(nn.Module):
    """ResNet-50, output stride 8 (layer3/layer4 dilated 2/4), returning the 4 stage outputs.

    `deep_stem=True` is CSAIL's ADE20k encoder (key names conv1..3 / bn1..3 as its state dict);
    `deep_stem=False` is torchvision's layout (conv1 7x7, bn1), whose `fc.*` keys the loader drops.
    """

    def __init__(self, deep_stem: bool = True) -> None:
        super().__init__()
        self.deep_stem = deep_stem
        if deep_stem:
            self.conv1, self.bn1 = _conv3x3(3, 64, stride=2), nn.BatchNorm2d(64)
            self.conv2, self.bn2 = _conv3x3(64, 64), nn.BatchNorm2d(64)
            self.conv3, self.bn3 = _conv3x3(64, 128), nn.BatchNorm2d(128)
            stem_out = 128
        else:
            self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64)
            stem_out = 64
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = _bottleneck_layer(stem_out, 64, 3, 1, (1, 1))
        self.layer2 = _bottleneck_layer(256, 128, 4, 2, (1, 1))
        self.layer3 = _bottleneck_layer(512, 256, 6, 1, (1, 2))
        self.layer4 = _bottleneck_layer(1024, 512, 3, 1, (2, 4))

    def forward(self, x: Tensor) -> list[Tensor]:
        x = F.relu(self.bn1(self.conv1(x)))
        if self.deep_stem:
            x = F.relu(self.bn2(self.conv2(x)))
            x = F.relu(self.bn3(self.conv3(x)))
        x = self.maxpool(x)
        features = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            features.append(x)
        return features


def build_hrf_backbone(name: str, path: str | Path | None = None, sha256: str | None = None) -> nn.Module | None:
    """The named backbone with its weights loaded (frozen), or None for `none`.

    Raises `weights.WeightsError` naming the file when the weights are absent or do not fit.
    """
    if name == NONE:
        return None
    if name not in BACKBONES:
        raise ValueError(f"unknown HRF perceptual backbone '{name}' (known: {', '.join([*BACKBONES, NONE])})")
    spec = BACKBONES[name]
    path = Path(path) if path else spec.path()
    if not path.is_file():
        raise weights.WeightsError(
            f"{path}: weights of the HRF perceptual backbone '{name}' are absent; place "
            f"{Path(spec.relative_path).name} there, or set model.system.perceptual_backbone=none "
            "to train without HRF-PL"
        )
    backbone = DilatedResNet50(deep_stem=spec.deep_stem)
    raw = weights.read_checkpoint(path, sha256=sha256 or spec.sha256_prefix)
    state_dict = {k.removeprefix("module."): v for k, v in weights.as_state_dict(raw, path).items()}
    state_dict = {k: v for k, v in state_dict.items() if not k.startswith("fc.")}
    for key, value in backbone.state_dict().items():  # files saved before torch 0.4.1 lack these counters
        if key.endswith("num_batches_tracked"):
            state_dict.setdefault(key, value)
    weights.check_state_dict(backbone, state_dict, path)
    backbone.load_state_dict(state_dict)
    return backbone


class HRFPerceptualLoss(nn.Module):
    """Sum over the backbone's feature maps of the MSE between prediction and target features.

    `backbone` maps an ImageNet-normalised (N,3,H,W) batch to a list of feature maps; it is frozen.
    `bn="train"`: its BatchNorm uses batch statistics whenever this module is in train mode (official);
    `bn="eval"`: always running statistics (module docstring).
    """

    def __init__(self, backbone: nn.Module, bn: str = "train") -> None:
        super().__init__()
        if bn not in BN_MODES:
            raise ValueError(f"unknown HRF BatchNorm mode '{bn}' (hrf_bn known: {', '.join(BN_MODES)})")
        self.bn = bn
        self.backbone = backbone.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.train(self.training)

    def train(self, mode: bool = True) -> HRFPerceptualLoss:
        super().train(mode)
        self.backbone.train(mode and self.bn == "train")
        return self

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        self.backbone.train(self.training and self.bn == "train")
        pred_features = self.backbone((pred - self.mean) / self.std)
        with torch.no_grad():  # no parameter needs it; train-mode BatchNorm still uses target's statistics
            target_features = self.backbone((target - self.mean) / self.std)
        terms = [F.mse_loss(p, t) for p, t in zip(pred_features, target_features, strict=True)]
        return torch.stack(terms).sum()
