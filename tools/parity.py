"""Seeded weights and inputs shared by the training-parity fixtures' generators and their tests.

The fixtures under tests/fixtures/training_parity/ hold numbers computed once by the *official* code.
Both sides must see the same weights without storing them: every tensor is drawn from its own
generator, seeded by (seed, the tensor's official key name), so the official model (built in a
scratch environment) and ours (built here, keys mapped to the official names) get identical values
whatever order the modules create them in. Scales keep activations in a sane range.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def generator_for(seed: int, key: str) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(key.encode()))


def seeded_tensor(seed: int, key: str, template: Tensor, *, fan_in_scale: float = 1.0) -> Tensor:
    """A value for the tensor called `key` shaped like `template`, from its own generator.

    Conv/linear weights: N(0, 2/fan_in) (Kaiming) times `fan_in_scale`; BatchNorm weight 1 + N(0, 0.1²),
    running_var 1 + U(0, 0.2); other biases and means N(0, 0.1²); integer counters 0.
    """
    g = generator_for(seed, key)
    if not template.is_floating_point():
        return torch.zeros_like(template)
    shape = tuple(template.shape)
    noise = torch.randn(shape, generator=g, dtype=torch.float32)
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "weight" and len(shape) >= 2:
        fan_in = math.prod(shape[1:])
        return noise * math.sqrt(2.0 / fan_in) * fan_in_scale
    if leaf == "weight":  # a norm layer's scale
        return 1.0 + 0.1 * noise
    if leaf == "running_var":
        return 1.0 + 0.2 * torch.rand(shape, generator=g, dtype=torch.float32)
    return 0.1 * noise


def seeded_state_dict(seed: int, template: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {key: seeded_tensor(seed, key, value) for key, value in template.items()}


# -- PConv: the naoto0804 port's layout ----------------------------------------------------------------


def pconv_port_state_dict(seed: int, our_state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """A port-layout state dict (`enc_1.conv.input_conv.weight`, all-ones `mask_conv`, `bn.*`) for our keys.

    Port weights are N(0, 2/fan_in)·C·k², i.e. Kaiming in the NVIDIA parametrisation once converted.
    """
    port: dict[str, Tensor] = {}
    for key, value in our_state_dict.items():
        block, _, rest = key.removeprefix("net.").partition(".")
        if rest == "conv.weight":
            name = f"{block}.conv.input_conv.weight"
            port[name] = seeded_tensor(seed, name, value, fan_in_scale=float(math.prod(value.shape[1:])))
            port[f"{block}.conv.mask_conv.weight"] = torch.ones_like(value)
        elif rest == "conv.bias":
            name = f"{block}.conv.input_conv.bias"
            port[name] = seeded_tensor(seed, name, value)
        else:
            name = f"{block}.{rest}"
            port[name] = seeded_tensor(seed, name, value)
    return port


def vgg16_torchvision_state_dict(seed: int, keys_and_shapes: Mapping[str, torch.Size]) -> dict[str, Tensor]:
    """torchvision `vgg16().features` keys (`features.0.weight`, ...) -> seeded values."""
    return {key: seeded_tensor(seed, key, torch.empty(shape)) for key, shape in keys_and_shapes.items()}


#: VGG16 `features` up to pool3 (index 16): conv indices and (C_out, C_in) of torchvision's layout.
VGG16_POOL3_CONVS = {
    0: (64, 3),
    2: (64, 64),
    5: (128, 64),
    7: (128, 128),
    10: (256, 128),
    12: (256, 256),
    14: (256, 256),
}


def vgg16_pool3_shapes() -> dict[str, torch.Size]:
    shapes: dict[str, torch.Size] = {}
    for index, (out, inp) in VGG16_POOL3_CONVS.items():
        shapes[f"features.{index}.weight"] = torch.Size([out, inp, 3, 3])
        shapes[f"features.{index}.bias"] = torch.Size([out])
    return shapes


# -- inputs ----------------------------------------------------------------------------------------------


def smooth_images(seed: int, n: int, size: int) -> Tensor:
    """(n,3,size,size) in [0,1]: bilinear upsampling of an 8x coarser uniform noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 8, size // 8, generator=g)
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def box_holes(n: int, size: int, boxes: list[list[int]]) -> Tensor:
    """(n,1,size,size) 1 = hole, one box [top, left, height, width] per image."""
    mask = torch.zeros(n, 1, size, size)
    for i, (top, left, height, width) in enumerate(boxes):
        mask[i, :, top : top + height, left : left + width] = 1.0
    return mask


class LearnedImage(nn.Module):
    """A 'generator' whose output is a learnable image: a step then tests loss gradient, clipping and Adam."""

    def __init__(self, image: Tensor) -> None:
        super().__init__()
        self.pred = nn.Parameter(image.clone())

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        return self.pred
