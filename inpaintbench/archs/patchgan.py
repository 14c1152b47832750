"""The NLayer PatchGAN discriminator of pix2pixHD as LaMa configures it (reference/lama.md section 2).

`NLayerDiscriminator(3, ndf=64, n_layers=4)`: 4x4 convs with padding 2 (stride 2 for the first
`n_layers`, then two stride-1 convs), BatchNorm on all but the first and last, LeakyReLU(0.2). It returns
`(patch_logits, [outputs of model0 .. model_{n_layers}])`; the list feeds LaMa's feature-matching loss.
Blocks are attributes `model0 .. model{n_layers+1}` (Sequentials) so the state dict is the official
`discriminator.*` layout without its prefix (6,962,369 parameters for LaMa's settings).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

DISCRIMINATOR_PREFIX = "discriminator."


class NLayerDiscriminator(nn.Module):
    """Patch discriminator: logits, no sigmoid; an output cell sees a ~70-190 px patch of the input."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 4, max_features: int = 512) -> None:
        super().__init__()
        self.n_layers = n_layers
        blocks: list[list[nn.Module]] = [[nn.Conv2d(input_nc, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2, True)]]
        channels = ndf
        for index in range(1, n_layers + 1):
            previous, channels = channels, min(channels * 2, max_features)
            stride = 2 if index < n_layers else 1
            blocks.append(
                [
                    nn.Conv2d(previous, channels, 4, stride=stride, padding=2),
                    nn.BatchNorm2d(channels),
                    nn.LeakyReLU(0.2, True),
                ]
            )
        blocks.append([nn.Conv2d(channels, 1, 4, stride=1, padding=2)])
        for index, block in enumerate(blocks):
            setattr(self, f"model{index}", nn.Sequential(*block))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        features = []
        for index in range(self.n_layers + 2):
            x = getattr(self, f"model{index}")(x)
            features.append(x)
        return features[-1], features[:-1]

    @staticmethod
    def checkpoint_filter_fn(raw: Any) -> dict[str, Tensor]:
        """Official `*-with-discr` checkpoint content -> our state dict (keep `discriminator.*`, strip it)."""
        if isinstance(raw, Mapping) and isinstance(raw.get("state_dict"), Mapping):
            raw = raw["state_dict"]
        if not isinstance(raw, Mapping):
            raise TypeError(f"discriminator checkpoint: expected a mapping of tensors, got {type(raw).__name__}")
        if any(key.startswith(DISCRIMINATOR_PREFIX) for key in raw):
            size = len(DISCRIMINATOR_PREFIX)
            return {key[size:]: value for key, value in raw.items() if key.startswith(DISCRIMINATOR_PREFIX)}
        return dict(raw)
