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
from inpaintbench.inpainter import LearnedInpainter
from inpaintbench.model_registry import register_model
from inpaintbench.release.layout import (
    ReleaseLayout,
    flat_tensors,
    foreign_objects,
    omegaconf_plain,
    prefix_counts,
    register,
    state_keys,
)
from inpaintbench.release.pretrained import Release, register_releases

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


# --- official releases: layouts (recognised from content) and where they are published ---------------


def _lama_state(raw: Any) -> Mapping[str, Any] | None:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("state_dict"), Mapping):
        return None
    hparams = raw.get("hyper_parameters")
    if isinstance(hparams, Mapping) and "arch" in hparams:
        return None  # our own training checkpoint
    state = raw["state_dict"]
    return state if any(k.startswith("generator.model.") for k in state_keys(state)) else None


def _lama_blocks(state: Mapping[str, Any]) -> int:
    return sum(1 for k in state if k.endswith(".conv1.ffc.convg2g.fu.conv_layer.weight"))


def _lama_describe(raw: Any) -> dict[str, Any]:
    state = _lama_state(raw)
    assert state is not None
    blocks = _lama_blocks(state)
    variant = {18: "lama_big", 9: "lama_fourier"}.get(blocks)
    dropped = {k: v for k, v in prefix_counts(state_keys(state)).items() if k != "generator"}
    config = omegaconf_plain(raw.get("hyper_parameters"))
    config = config if isinstance(config, dict) else {}
    return {
        "resnet_blocks": blocks,
        "models": (variant,) if variant else ("lama_big", "lama_fourier"),
        "dropped_keys": dropped,
        "lightning_version": raw.get("pytorch-lightning_version"),
        "epoch": raw.get("epoch"),
        "global_step": raw.get("global_step"),
        "foreign_objects": sorted(foreign_objects(raw)),
        "config_keys": sorted(config),
        "generator_config": config.get("generator"),
    }


register(
    ReleaseLayout(
        name="lama_lightning",
        description="LaMa Lightning checkpoint (big-lama / lama-fourier models/best.ckpt): "
        "state_dict['generator.*'] kept, evaluators / discriminator / losses dropped",
        models=("lama_big", "lama_fourier"),
        matches=lambda raw: _lama_state(raw) is not None,
        extract=lambda raw: {
            k: v for k, v in flat_tensors(_lama_state(raw) or {}).items() if k.startswith("generator.")
        },
        describe=_lama_describe,
    )
)


_LAMA_PAGE = "https://github.com/advimman/lama (README, 'Download pre-trained models')"
_LAMA_LICENCE = "BSD-3-Clause (advimman/lama LICENSE)"

#: The official releases (timm's pretrained entries); `inpaintbench weights` lists them.
PRETRAINED: tuple[Release, ...] = register_releases(
    (
        Release(
            name="big-lama",
            model="lama_big",
            dataset="Places2 (Places365-Challenge)",
            published_at=_LAMA_PAGE,
            files=("big-lama.zip",),
            archive_member="big-lama/models/best.ckpt",
            licence=_LAMA_LICENCE,
            url="https://huggingface.co/smartywu/big-lama/resolve/main/big-lama.zip",
            notes="Hugging Face mirror linked from the README (also on Yandex Disk / Google Drive). "
            "sha256 of the zip unknown; a third-party record gives best.ckpt (410,046,389 bytes) a sha256 "
            "starting fccb7adf, not verified here.",
        ),
        Release(
            name="lama-fourier",
            model="lama_fourier",
            dataset="Places2 (Places365-Challenge)",
            published_at=_LAMA_PAGE + "; Yandex Disk https://disk.yandex.ru/d/ouP6l8VJ0HpMZg",
            files=("lama-fourier/models/best.ckpt",),
            licence=_LAMA_LICENCE,
            notes="Manual download (Yandex Disk / Google Drive folder of all LaMa models). sha256 unknown.",
        ),
    )
)


@register_model("lama_fourier", family="lama", paper=PAPER, size_multiple=8, params=27_048_835)
def lama_fourier(**overrides: Any) -> LamaInpainter:
    """LaMa-Fourier: 9 FFC residual blocks (configs/training/generator/ffc_resnet_075.yaml)."""
    return LamaInpainter(**{"ngf": 64, "n_blocks": 9, **overrides})


@register_model("lama_big", family="lama", paper=PAPER, size_multiple=8, params=50_975_875)
def lama_big(**overrides: Any) -> LamaInpainter:
    """Big LaMa: 18 FFC residual blocks (configs/training/big-lama.yaml); the released big-lama weights."""
    return LamaInpainter(**{"ngf": 64, "n_blocks": 18, **overrides})


@register_model("lama_tiny", family="lama", paper=PAPER, size_multiple=8, params=533_795)
def lama_tiny(**overrides: Any) -> LamaInpainter:
    """Same structure with ngf 16 and 2 blocks, for tests and the small checkpoint zoo."""
    return LamaInpainter(**{"ngf": 16, "n_blocks": 2, **overrides})
