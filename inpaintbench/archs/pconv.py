"""PConv U-Net (Liu et al., "Image Inpainting for Irregular Holes Using Partial Convolutions", ECCV 2018).

A pix2pix-style U-Net whose every convolution is a partial convolution with automatic mask update
(`inpaintbench.archs.layers.partial_conv`, NVIDIA convention, multi-channel masks):

- encoder enc_1..enc_L, stride 2, kernels 7, 5, 5, 3, 3, ... and widths 64, 128, 256, 512, 512, ...;
  ReLU; BatchNorm in all but enc_1;
- decoder dec_L..dec_1: nearest ×2 upsampling of features *and* mask, concatenation with the
  encoder output of the same scale and, separately, its mask; 3×3 partial conv; BatchNorm and
  LeakyReLU 0.2 in all but dec_1; dec_1 sees the masked input image and the input mask, has a bias
  and no activation.

Registered models: `pconv_unet` (7 levels, the layout of the naoto0804 PyTorch port whose keys are
in reference `pconv_keys.tsv`, 25,779,796 parameters, input sides multiple of 128), `pconv_unet_512`
(8 levels, the paper's 512×512 configuration, 32,859,732 parameters, multiple of 256) and
`pconv_unet_tiny` (7 levels, widths 8-16-32-64, same structure, for tests and the small zoo).

Mask convention: multi-channel (the paper's C×H×W mask, the port's mask_conv over all input channels),
because a decoder layer's input concatenates features under two different masks (upsampled decoder
mask, encoder skip mask); a single-channel layer would renormalise those layers differently. Each
tensor's mask is identical across its channels, so it travels as one channel and the decoder passes
the concatenation's valid-channel count (`PartialConv2d.forward_masked`); results equal the
full-mask formulation (tested against a plain re-statement of the port's forward in float64).

Official inference conventions (naoto0804 port, the released checkpoint):
- image in [0,1] normalised with ImageNet mean/std, multiplied by the valid mask (holes = 0 in
  normalised space, i.e. the mean colour); mask **1 = valid**, 3 channels (here: one channel that
  stands for all three, which the multi-channel layer counts as three);
- output raw and unbounded in normalised space, de-normalised with x·std + mean; the port's only
  clamp is torchvision's `save_image`. Our `inpaint` clamps to [0,1]; the harness composites.
- The network needs H and W divisible by 2^layers; the wrapper pads bottom/right with `reflect`
  (mirror without repeating the edge; image and mask alike) and crops back. Reflect padding needs
  the image side to exceed the pad, so images smaller than half the multiple (64 px for the 256
  models) are refused with a clear error.

Deliberate deviations from the port (naoto0804 `net.py`):
- NVIDIA's renormalisation (× C_in·k²/sum(M)) instead of the port's (÷ sum(M)); `checkpoint_filter_fn`
  divides the port's weights by C_in·k², so outputs agree to float rounding (not bit for bit).
- The all-ones `mask_conv.weight` tensors are not stored; the converter checks they are exactly
  ones (reference/pconv.md pitfall 9) and drops them. Masks travel as one channel (identical across
  a tensor's channels), expanded only where a concatenation makes them differ; the mask path is one
  single-channel box sum per layer.
- Initialisation: Kaiming-normal (fan-in) weights and zero bias as the port's `weights_init`, but in
  the NVIDIA parameterisation (the paper's eq. 1). Adam's step does not scale with the weights, so
  the training recipe chooses the parametrisation Adam steps in (`parametrisation: nvidia | port`,
  `systems/reconstruction.py`): `port` gives each partial conv lr/(C_in·k²) and eps·(C_in·k²), exactly
  the port's step on its own weights; the layout and every output stay NVIDIA's.
- Without autograd the decoder writes the upsampled, masked features and the masked skip straight
  into one concatenation buffer (`_masked_concat`, one pass, no memory-format copy); with autograd
  it runs interpolate + cat. The same products, bit for bit (tests/unit/test_inference_fast_paths.py).
- `train()` returns the module (the port's override returns None). BatchNorm freezing for the
  fine-tune stage lives in the training system (`systems/reconstruction.py`), not in the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintbench.archs.layers.partial_conv import PartialConv2d, port_weight_to_nvidia
from inpaintbench.archs.layers.upsample import empty_like_format, upsample_nearest2x
from inpaintbench.inpainter import LearnedInpainter
from inpaintbench.model_registry import register_model
from inpaintbench.release.layout import ReleaseLayout, flat_tensors, foreign_objects, register
from inpaintbench.release.pretrained import Release, register_releases

__all__ = ["PConvInpainter", "PConvUNet", "PartialConvBlock", "pconv_unet", "pconv_unet_512", "pconv_unet_tiny"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: (kernel, stride, padding) of encoder levels 1, 2, 3 and of every deeper level.
_ENCODER_GEOMETRY = ((7, 2, 3), (5, 2, 2), (5, 2, 2))
_DEEP_GEOMETRY = (3, 2, 1)


class PartialConvBlock(nn.Module):
    """Partial conv -> optional BatchNorm -> optional activation (the port's PCBActiv)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        padding: int,
        *,
        bn: bool,
        activation: str | None,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.conv = PartialConv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias, multi_channel=True
        )
        self.bn = nn.BatchNorm2d(out_channels) if bn else None
        if activation == "relu":
            self.act: nn.Module | None = nn.ReLU()
        elif activation == "leaky_relu":
            self.act = nn.LeakyReLU(0.2)
        elif activation is None:
            self.act = None
        else:
            raise ValueError(f"unknown activation '{activation}'")

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        return self._post(*self.conv(x, mask))

    def forward_masked(self, masked_x: Tensor, valid_count: Tensor) -> tuple[Tensor, Tensor]:
        """For concatenated inputs: see `PartialConv2d.forward_masked`."""
        return self._post(*self.conv.forward_masked(masked_x, valid_count))

    def _post(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        if self.bn is not None:
            x = self.bn(x)
        if self.act is not None:
            x = self.act(x)
        return x, mask[:, :1]  # the new mask is identical on every channel: keep one


class PConvUNet(nn.Module):
    """The partial-convolution U-Net on normalised, masked images; `forward(x, valid) -> (out, mask)`.

    `widths` gives the channels of encoder levels 1, 2, 3, 4; deeper levels repeat the last one.
    """

    def __init__(
        self,
        layer_size: int = 7,
        in_channels: int = 3,
        widths: Sequence[int] = (64, 128, 256, 512),
    ) -> None:
        super().__init__()
        if layer_size < 4:
            raise ValueError(f"layer_size must be at least 4, got {layer_size}")
        self.layer_size = layer_size
        self.in_channels = in_channels
        widths = tuple(int(w) for w in widths)
        channels = [in_channels] + [widths[min(level, len(widths)) - 1] for level in range(1, layer_size + 1)]
        self.channels = tuple(channels)
        for level in range(1, layer_size + 1):
            kernel, stride, padding = _ENCODER_GEOMETRY[level - 1] if level <= 3 else _DEEP_GEOMETRY
            block = PartialConvBlock(
                channels[level - 1], channels[level], kernel, stride, padding, bn=level > 1, activation="relu"
            )
            self.add_module(f"enc_{level}", block)
        # Registration order = the port's key order: enc_1..L, dec_5..L, dec_4, dec_3, dec_2, dec_1.
        for level in [*range(5, layer_size + 1), 4, 3, 2, 1]:
            last = level == 1
            block = PartialConvBlock(
                channels[level] + channels[level - 1],
                in_channels if last else channels[level - 1],
                3,
                1,
                1,
                bn=not last,
                activation=None if last else "leaky_relu",
                bias=last,
            )
            self.add_module(f"dec_{level}", block)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The port's `weights_init('kaiming')`: Kaiming normal (fan-in) weights, zero bias."""
        for module in self.modules():
            if isinstance(module, PartialConv2d):
                nn.init.kaiming_normal_(module.weight, a=0, mode="fan_in")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    @property
    def size_multiple(self) -> int:
        return 2**self.layer_size

    def forward(self, x: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """`x` (N,C,H,W) normalised and masked, `valid` (N,1,H,W) 1 = valid -> (raw output, final mask)."""
        height, width = x.shape[-2:]
        if height % self.size_multiple or width % self.size_multiple:
            raise ValueError(
                f"PConvUNet with {self.layer_size} levels needs H and W divisible by {self.size_multiple}, "
                f"got {height}x{width}"
            )
        features, masks = [x], [valid[:, :1]]
        for level in range(1, self.layer_size + 1):
            h, m = getattr(self, f"enc_{level}")(features[-1], masks[-1])
            features.append(h)
            masks.append(m)
        h, m = features[-1], masks[-1]
        for level in range(self.layer_size, 0, -1):
            skip, skip_mask = features[level - 1], masks[level - 1]
            m_up = F.interpolate(m, scale_factor=2, mode="nearest")
            # features and masks are concatenated separately; the mask as a valid-channel count
            masked = _masked_concat(h, m, skip, skip_mask)
            count = m_up * h.shape[1] + skip_mask * skip.shape[1]
            h, m = getattr(self, f"dec_{level}").forward_masked(masked, count)
        return h, m


def _masked_concat(h: Tensor, mask: Tensor, skip: Tensor, skip_mask: Tensor) -> Tensor:
    """cat([nearest×2(h ⊙ mask), skip ⊙ skip_mask], dim=1), in the memory format of `h`.

    Nearest ×2 commutes with masking, so the mask is applied at the low resolution. Without autograd
    both halves are written straight into one buffer (`upsample_nearest2x` into its first channels):
    one pass instead of mask, upsample, mask and cat, and no memory-format copy where the skip is
    channels-first (the input image) but `h` channels_last. Same products either way, bit for bit.
    Under torch.compile the plain ops are traced instead: the compiler fuses them itself, and the
    `out=` slices would split its graph into one piece per decoder level.
    """
    if torch.compiler.is_compiling() or (torch.is_grad_enabled() and (h.requires_grad or skip.requires_grad)):
        h_up = F.interpolate(h * mask, scale_factor=2, mode="nearest")
        return torch.cat([h_up, skip * skip_mask], dim=1)
    n, c, height, width = h.shape
    out = empty_like_format(h, (n, c + skip.shape[1], 2 * height, 2 * width), torch.result_type(h, skip))
    upsample_nearest2x(h, mask, out=out[:, :c])
    torch.mul(skip, skip_mask.to(skip.dtype), out=out[:, c:])
    return out


class PConvInpainter(LearnedInpainter):
    """The contract wrapper: [0,1] image, 1 = hole mask in; [0,1]-space prediction out (unclamped in forward)."""

    pad_mode = "reflect"

    def __init__(self, layer_size: int = 7, widths: Sequence[int] = (64, 128, 256, 512)) -> None:
        super().__init__()
        self.net = PConvUNet(layer_size=layer_size, widths=widths)
        self.size_multiple = self.net.size_multiple
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        smallest = self.size_multiple // 2 + 1
        if min(image.shape[-2:]) < smallest:
            raise ValueError(
                f"{type(self).__name__}: image {tuple(image.shape[-2:])} is too small for reflect padding to a "
                f"multiple of {self.size_multiple}; each side needs at least {smallest} px"
            )
        return super().forward(image, mask)

    def predict(self, image: Tensor, mask: Tensor) -> Tensor:
        valid = 1.0 - mask
        x = (image - self.mean) / self.std * valid
        out, _ = self.net(x, valid)
        return out * self.std + self.mean

    def checkpoint_filter_fn(self, raw: Any) -> dict[str, Tensor]:
        return convert_port_state_dict(raw)


def convert_port_state_dict(raw: Any) -> dict[str, Tensor]:
    """naoto0804 port state dict (or its `{'n_iter', 'model', 'optimizer'}` file) -> our keys.

    `X.conv.input_conv.weight` -> `net.X.conv.weight` divided by C_in·k² (NVIDIA renormalisation),
    `X.conv.input_conv.bias` -> `net.X.conv.bias`, `X.bn.*` -> `net.X.bn.*`; the all-ones
    `X.conv.mask_conv.weight` are checked and dropped: a file whose mask convs are not exactly ones is
    refused (the port counts valid pixels with them, so its outputs would differ from ours). A dict
    already in our layout passes through.
    """
    from inpaintbench.weights import WeightsError

    if isinstance(raw, Mapping) and isinstance(raw.get("model"), Mapping):
        raw = raw["model"]
    if not isinstance(raw, Mapping):
        raise WeightsError(f"PConv checkpoint: expected a state dict, found {type(raw).__name__}")
    if not any(str(key).endswith("conv.input_conv.weight") for key in raw):
        return dict(raw)
    converted: dict[str, Tensor] = {}
    for key, value in raw.items():
        block, _, rest = key.partition(".")
        if rest == "conv.mask_conv.weight":
            if not bool(torch.all(value == 1)):
                raise WeightsError(f"PConv checkpoint: {key} is not all ones; the partial convolutions would differ")
            continue
        if rest == "conv.input_conv.weight":
            converted[f"net.{block}.conv.weight"] = port_weight_to_nvidia(value)
        elif rest == "conv.input_conv.bias":
            converted[f"net.{block}.conv.bias"] = value
        elif rest.startswith("bn."):
            converted[f"net.{block}.{rest}"] = value
        else:
            raise WeightsError(f"PConv checkpoint: unexpected key {key}")
    return converted


PAPER = "Liu et al. 2018"


# --- official releases: layouts (recognised from content) and where they are published ---------------


def _pconv_matches(raw: Any) -> bool:
    return (
        isinstance(raw, Mapping)
        and {"n_iter", "model", "optimizer"} <= set(raw)
        and isinstance(raw["model"], Mapping)
        and "enc_1.conv.input_conv.weight" in raw["model"]
    )


register(
    ReleaseLayout(
        name="pconv_port",
        description="PConv U-Net PyTorch port release (1000000.pth = {'n_iter', 'model', 'optimizer'}): "
        "'model' kept, Adam state dropped",
        models=("pconv_unet",),
        matches=_pconv_matches,
        extract=lambda raw: flat_tensors(raw["model"]),
        describe=lambda raw: {"n_iter": raw.get("n_iter"), "foreign_objects": sorted(foreign_objects(raw))},
    )
)


#: The official releases (timm's pretrained entries); `inpaintbench weights` lists them.
PRETRAINED: tuple[Release, ...] = register_releases(
    (
        Release(
            name="pconv-port-places2",
            model="pconv_unet",
            dataset="Places2",
            published_at="https://github.com/naoto0804/pytorch-inpainting-with-partial-conv (GitHub release v0.0.0)",
            files=("1000000.pth",),
            licence="none stated (the repository has no LICENSE file)",
            notes="Unofficial PyTorch port (NVIDIA released no inpainting weights). Manual download from "
            "the v0.0.0 release page; sha256 unknown. torch 0.4 legacy format, Adam state on cuda:0.",
        ),
    )
)


@register_model("pconv_unet", family="pconv", paper=PAPER, size_multiple=128, params=25_779_796, size=256)
def pconv_unet() -> PConvInpainter:
    """7 levels, the PyTorch port's layout (released Places2 checkpoint); sides multiple of 128."""
    return PConvInpainter(layer_size=7)


@register_model("pconv_unet_512", family="pconv", paper=PAPER, size_multiple=256, params=32_859_732, size=512)
def pconv_unet_512() -> PConvInpainter:
    """8 levels, the paper's 512×512 configuration; sides multiple of 256."""
    return PConvInpainter(layer_size=8)


@register_model("pconv_unet_tiny", family="pconv", paper=PAPER, size_multiple=128, size=256)
def pconv_unet_tiny() -> PConvInpainter:
    """Same structure with widths 8-16-32-64 (about 0.4 M parameters), for tests and the small zoo."""
    return PConvInpainter(layer_size=7, widths=(8, 16, 32, 64))
