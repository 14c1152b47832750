"""Helpers shared by several test modules (importable as `helpers`: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import torch
import torchvision
from torch import Tensor, nn


def torchvision_vgg16_features(seed: int) -> tuple[nn.Sequential, dict[str, Tensor]]:
    """A random-init torchvision VGG16 `features` up to pool3, and its state dict in torchvision's key layout."""
    torch.manual_seed(seed)
    vgg = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"][:10])  # up to pool3
    return vgg, {f"features.{k}": v for k, v in vgg.state_dict().items()}
