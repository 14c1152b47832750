"""LaMa (Suvorov et al., WACV 2022): an FFC ResNet generator for large-mask inpainting.

Layer by layer as `FFCResNetGenerator` of advimman/lama (reference/lama.md section 1.2), kept as one
`nn.Sequential` called `model` so that our state dict is the official generator's with the
`generator.` prefix removed:

    0  ReflectionPad2d(3)
    1  FFC_BN_ACT 7x7, 4 -> ngf, local only                 (stem)
    2.. FFC_BN_ACT 3x3 stride 2, reflect, channels x2       (n_downsampling; the last one already
                                                             splits its output 0.25 local / 0.75 global)
    .. FFCResnetBlock(ngf * 2**n_down, ratio 0.75) x n_blocks
    .. ConcatTupleLayer ([local, global])
    .. [ConvTranspose2d 3x3 s2 (bias, zero padding) -> BN -> ReLU] x n_downsampling
    .. ReflectionPad2d(3), Conv2d 7x7 ngf -> 3 (bias), Sigmoid

Official inference conventions (bin/predict.py, trainers/default.py), implemented by `LamaInpainter`:
- image RGB in [0,1], no mean/std normalisation; mask 1 = hole, (mask > 0) at prediction time;
- input = cat([image * (1 - mask), mask]) -> 4 channels R, G, B, mask; holes filled with 0;
- H and W must be multiples of 8: pad bottom/right with numpy 'symmetric' mode (edge pixel repeated),
  image and mask alike, then crop back;
- output: sigmoid in [0,1]; the harness composites `mask * pred + (1 - mask) * image`.

Variants: `lama_fourier` (9 blocks, 27,048,835 parameters), `lama_big` (18 blocks, 50,975,875) and
`lama_tiny` (ngf 16, 2 blocks, same structure, 533,795) for tests and the small zoo.
Images must be at least 16x16 (reflect padding at the 1/8 bottleneck needs 2 pixels).

Deliberate deviations:
- Saved predictions are rounded to 8 bits by the harness (`quantize_8bit`); the official script
  truncates (`astype('uint8')`). This is a harness choice, not a model change.
- The mask is binarised once by the pipeline (threshold 0.5), not with `mask > 0` inside the model.
- The ablation generators (LaMa-Regular = pix2pixHD global generator, LaMa-Dilated = multi-dilated
  blocks) are not implemented: the reference notes give no layer list or key list for them.
- See inpaintbench/archs/layers/ffc.py for the FFC-level choices (fp32 FFT under autocast, LFU width).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from inpaintbench.archs.layers.ffc import FFC_BN_ACT, ConcatTupleLayer, FFCResnetBlock
from inpaintbench.inpainter import MODELS, LearnedInpainter

PAPER = "Suvorov et al., Resolution-robust Large Mask Inpainting with Fourier Convolutions, WACV 2022"
#: Prefix of generator keys in official (and our Lightning) checkpoints' `state_dict`.
GENERATOR_PREFIX = "generator."


def build_ffc_resnet_generator(
    input_nc: int = 4,
    output_nc: int = 3,
    ngf: int = 64,
    n_downsampling: int = 3,
    n_blocks: int = 9,
    ratio: float = 0.75,
    max_features: int = 1024,
    enable_lfu: bool = False,
) -> nn.Sequential:
    """The official `FFCResNetGenerator(kind=ffc_resnet)` with the released configs' choices
    (BatchNorm, ReLU, reflect padding, sigmoid output, no spatial transform, no output FFC)."""

    def width(n: int) -> int:
        return min(max_features, n)

    layers: list[nn.Module] = [
        nn.ReflectionPad2d(3),
        FFC_BN_ACT(input_nc, ngf, kernel_size=7, padding=0),
    ]
    for i in range(n_downsampling):
        last = i == n_downsampling - 1
        layers.append(
            FFC_BN_ACT(
                width(ngf * 2**i),
                width(ngf * 2 ** (i + 1)),
                kernel_size=3,
                stride=2,
                padding=1,
                ratio_gout=ratio if last else 0.0,
            )
        )
    bottleneck = width(ngf * 2**n_downsampling)
    layers += [FFCResnetBlock(bottleneck, ratio=ratio, enable_lfu=enable_lfu) for _ in range(n_blocks)]
    layers.append(ConcatTupleLayer())
    for i in range(n_downsampling):
        mult = 2 ** (n_downsampling - i)
        layers += [
            nn.ConvTranspose2d(width(ngf * mult), width(ngf * mult // 2), 3, stride=2, padding=1, output_padding=1),
            nn.BatchNorm2d(width(ngf * mult // 2)),
            nn.ReLU(inplace=True),
        ]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7), nn.Sigmoid()]
    return nn.Sequential(*layers)


def checkpoint_filter_fn(raw: Any) -> dict[str, Tensor]:
    """Official (or our Lightning) checkpoint content -> our generator state dict.

    Accepts a full checkpoint dict with `state_dict`, a flat dict with `generator.`-prefixed keys
    (official `.ckpt` content: evaluator, discriminator and loss tensors are dropped) or a flat dict
    already in our layout (`model.*`, as exported to `.safetensors`). No numeric transform is needed:
    the layouts match tensor for tensor, ConvTranspose2d weights included ([in, out, k, k] both sides).
    """
    if isinstance(raw, Mapping) and "state_dict" in raw and isinstance(raw["state_dict"], Mapping):
        raw = raw["state_dict"]
    if not isinstance(raw, Mapping):
        raise TypeError(f"LaMa checkpoint: expected a mapping of tensors, got {type(raw).__name__}")
    if any(key.startswith(GENERATOR_PREFIX) for key in raw):
        return {key[len(GENERATOR_PREFIX) :]: value for key, value in raw.items() if key.startswith(GENERATOR_PREFIX)}
    return dict(raw)


class LamaInpainter(LearnedInpainter):
    """The contract wrapper around the FFC ResNet generator (`self.model`, the official Sequential)."""

    size_multiple = 8
    pad_mode = "symmetric"

    def __init__(self, **generator_args: Any) -> None:
        super().__init__()
        self.generator_args = dict(generator_args)
        self.model = build_ffc_resnet_generator(**generator_args)
        # reflect padding at the bottleneck needs at least 2 pixels there
        self.min_size = 2 * 2 ** generator_args.get("n_downsampling", 3)

    def predict(self, image: Tensor, mask: Tensor) -> Tensor:
        """Padded contract batch -> sigmoid prediction; LaMa's input is [image * (1 - mask), mask]."""
        height, width = image.shape[-2:]
        if min(height, width) < self.min_size:
            side = self.min_size
            raise ValueError(f"LaMa needs images of at least {side}x{side} pixels, got {height}x{width}")
        masked = image * (1.0 - mask)
        return self.model(torch.cat((masked, mask), dim=1))

    checkpoint_filter_fn = staticmethod(checkpoint_filter_fn)


@MODELS.register("lama_fourier", family="lama", paper=PAPER, params=27_048_835)
def lama_fourier(**overrides: Any) -> LamaInpainter:
    """LaMa-Fourier: 9 FFC residual blocks (configs/training/generator/ffc_resnet_075.yaml)."""
    return LamaInpainter(**{"ngf": 64, "n_blocks": 9, **overrides})


@MODELS.register("lama_big", family="lama", paper=PAPER, params=50_975_875)
def lama_big(**overrides: Any) -> LamaInpainter:
    """Big LaMa: 18 FFC residual blocks (configs/training/big-lama.yaml); the released big-lama weights."""
    return LamaInpainter(**{"ngf": 64, "n_blocks": 18, **overrides})


@MODELS.register("lama_tiny", family="lama", paper=PAPER)
def lama_tiny(**overrides: Any) -> LamaInpainter:
    """Same structure with ngf 16 and 2 blocks, for tests and the small checkpoint zoo."""
    return LamaInpainter(**{"ngf": 16, "n_blocks": 2, **overrides})
