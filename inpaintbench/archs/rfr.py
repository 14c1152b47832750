"""RFR-Net: Recurrent Feature Reasoning for Image Inpainting (Li et al., CVPR 2020).

The network fills the hole in feature space from its boundary inwards (reference/rfrnet.md):

1. head: two 7x7 partial convolutions bring the masked image to half resolution (64 channels);
2. recurrent feature reasoning, `iterations` times (6 official) with *one* set of weights:
   area identification (two 7x7 partial convs + BN + LeakyReLU 0.01; each grows the valid region by
   3 px at half resolution, so the mask update defines the band filled in this iteration), then
   feature reasoning (the RFRModule encoder/decoder with knowledge-consistent attention at 1/8
   resolution), then features outside the new valid region are zeroed;
3. adaptive feature merging: per pixel and channel, the mean of the iterations' features over the
   iterations in which that pixel was valid (the head output counts as iteration 0);
4. tail: transposed conv back to full resolution, a partial conv over cat[masked image, features]
   with mask cat[image mask, last feature mask], a ResNet bottleneck, and a 3x3 output conv.

Holes further than about 82 px (at 256 input) from every known pixel are never reached in 6
iterations: their merged feature is exactly 0 and only the tail paints them (the "grey centre" the
author calls an architectural limit, RFR#21). This is kept as is.

Official inference conventions (handled in `predict`; callers use the DESIGN.md contract):
- image in [0,1], no mean/std normalisation; mask 1 = valid (ours is 1 = hole: `predict` inverts);
- network input = image * valid mask (holes black), mask as 3 identical channels, no mask channel;
- output: raw 3x3 conv, no activation; `inpaint` clamps to [0,1] (the official `save_image` clamps);
- H and W must be multiples of 16; the official code never pads (its test path squares and resizes
  to 256). We pad bottom/right by replication (`pad_mode`), image and mask alike, so the padded strip
  is known or hole like the edge it continues, and crop back; replication works for any size.

State dict: our key layout *is* the official one (`Pconv1.weight`, ..., `RFRModule.att.att.ratio`,
`out.weight`; 114 keys, 31,224,065 parameters), so the converter only unwraps the official
checkpoint file (`{'n_iter', 'generator', 'optimizer_G'}`) and loads strictly; the official loader's
`strict=False` + bare `except` (random weights on any failure) is not reproduced.

Deliberate deviations from the official `modules/RFRNet.py` (none changes the function computed):
- Merging accumulates sum(X*M) and sum(M) over iterations instead of stacking 7 tensors, then takes
  the same mean(X*M) / (mean(M) + 1e-7); equal up to float summation order (tested), less memory.
  The 64-channel feature masks repeat one channel (they come from multi-channel partial convs over
  channel-uniform masks), so one channel is carried through merging and the nearest x2 upsampling.
- The attention's score history is passed explicitly through the loop (see layers/kca.py), not
  reset through module attributes; the official `train(finetune=...)` override (which returns None,
  breaking `.eval()` chaining) is not copied: the training system freezes BatchNorm for fine-tuning.
- The knowledge-consistent attention sums neighbouring query features before the score product
  instead of box-filtering the score map (layers/kca.py; equal up to float32 rounding, 1.1x faster
  at batch 8, issue 19).
- `archs.inference.prepare_for_inference` (eval only) runs the RFR module's transposed convolutions as
  matmul + col2im where the input is small (`dec_3` at batch 1-2; layers/matmul_conv_transpose.py)
  and its activations in place, and sets `cpu_micro_batch` so a CPU batch runs 2 images per pass (cache-
  resident maps and scores, 1.1-1.2x at batch 8); equal up to float32 rounding (each image is independent).
- Width, iteration count, kernel size and tail width are constructor arguments so that the `_tiny`
  variant keeps the structure with fewer channels; `max_channels` caps the encoder width (512 = the
  official cap, reached at 8x the head width). Activations are not in-place.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintbench.archs.layers.kca import AttentionModule, KCAState
from inpaintbench.archs.layers.micro_batch import micro_batched
from inpaintbench.archs.layers.partial_conv import PartialConv2d
from inpaintbench.inpainter import LearnedInpainter
from inpaintbench.model_registry import register_model
from inpaintbench.release.layout import ReleaseLayout, flat_tensors, foreign_objects, register, state_keys
from inpaintbench.release.pretrained import Release, register_releases

MERGE_EPS = 1e-7  # adaptive merging's denominator guard (official constant)
SLOPE_OUTER = 0.01  # F.leaky_relu default, used after bn2, bn3 and tail1 in the official forward
SLOPE_DECODER = 0.2  # LeakyReLU inside the RFRModule decoder


def conv_bn(conv: nn.Module, channels: int, activation: nn.Module) -> nn.Sequential:
    """conv -> BatchNorm -> activation, as `Sequential` so the keys read `<name>.0.weight`, `<name>.1.*`."""
    return nn.Sequential(conv, nn.BatchNorm2d(channels), activation)


class Bottleneck(nn.Module):
    """ResNet bottleneck (expansion 4, identity shortcut) used as `tail2`."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        planes = channels // 4
        self.conv1 = nn.Conv2d(channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + x)


class RFRModule(nn.Module):
    """Feature reasoning: a 6-layer conv encoder/decoder with skips and KCA after `dec_3` (1/8 resolution).

    Widths for `channels` c (official 64): encoder 2c, 4c, 8c (stride 2), then three dilated 8c
    layers; each width is capped at `max_channels`. The module input is not a skip connection.
    """

    def __init__(self, channels: int = 64, max_channels: int = 512, propagate_size: int = 3) -> None:
        super().__init__()
        w1, w2, w3 = (min(channels * f, max_channels) for f in (2, 4, 8))
        relu, leaky = nn.ReLU(), nn.LeakyReLU(SLOPE_DECODER)
        self.enc_1 = conv_bn(nn.Conv2d(channels, w1, 3, 2, 1, bias=False), w1, relu)
        self.enc_2 = conv_bn(nn.Conv2d(w1, w2, 3, 2, 1, bias=False), w2, relu)
        self.enc_3 = conv_bn(nn.Conv2d(w2, w3, 3, 2, 1, bias=False), w3, relu)
        for name in ("enc_4", "enc_5", "enc_6"):
            setattr(self, name, conv_bn(nn.Conv2d(w3, w3, 3, 1, 2, dilation=2, bias=False), w3, relu))
        self.att = AttentionModule(w3, propagate_size)
        self.dec_5 = conv_bn(nn.Conv2d(2 * w3, w3, 3, 1, 2, dilation=2, bias=False), w3, leaky)
        self.dec_4 = conv_bn(nn.Conv2d(2 * w3, w3, 3, 1, 2, dilation=2, bias=False), w3, leaky)
        self.dec_3 = conv_bn(nn.ConvTranspose2d(2 * w3, w3, 4, 2, 1, bias=False), w3, leaky)
        self.dec_2 = conv_bn(nn.ConvTranspose2d(w3 + w2, w2, 4, 2, 1, bias=False), w2, leaky)
        self.dec_1 = conv_bn(nn.ConvTranspose2d(w2 + w1, channels, 4, 2, 1, bias=False), channels, leaky)

    def forward(self, x: Tensor, mask: Tensor, state: KCAState | None) -> tuple[Tensor, KCAState]:
        """x (B,c,h,w), mask (B,1,h,w) 1 = valid; returns features of the same shape and the KCA state."""
        h1 = self.enc_1(x)
        h2 = self.enc_2(h1)
        h3 = self.enc_3(h2)
        h4 = self.enc_4(h3)
        h5 = self.enc_5(h4)
        h6 = self.enc_6(h5)
        h = self.dec_5(torch.cat([h6, h5], dim=1))
        h = self.dec_4(torch.cat([h, h4], dim=1))
        h = self.dec_3(torch.cat([h, h3], dim=1))
        h, state = self.att(h, mask, state)
        h = self.dec_2(torch.cat([h, h2], dim=1))
        return self.dec_1(torch.cat([h, h1], dim=1)), state


class RFRNet(LearnedInpainter):
    """RFR-Net with the official layer names.

    `predict` speaks the DESIGN.md contract; `network_forward` the official convention.
    """

    size_multiple = 16
    pad_mode = "replicate"

    def __init__(
        self,
        channels: int = 64,
        max_channels: int = 512,
        iterations: int = 6,
        kernel_size: int = 7,
        tail_channels: int = 32,
        propagate_size: int = 3,
    ) -> None:
        super().__init__()
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        if tail_channels % 4:
            raise ValueError(f"tail_channels must be a multiple of 4 (bottleneck expansion), got {tail_channels}")
        self.iterations = iterations
        c, k, pad = channels, kernel_size, kernel_size // 2
        # Head: partial convs to half resolution.
        self.Pconv1 = PartialConv2d(3, c, 7, 2, 3, bias=False, multi_channel=True)
        self.bn1 = nn.BatchNorm2d(c)
        self.Pconv2 = PartialConv2d(c, c, k, 1, pad, bias=False, multi_channel=True)
        self.bn20 = nn.BatchNorm2d(c)
        # Area identification, shared by every iteration.
        self.Pconv21 = PartialConv2d(c, c, k, 1, pad, bias=False, multi_channel=True)
        self.Pconv22 = PartialConv2d(c, c, k, 1, pad, bias=False, multi_channel=True)
        self.bn2 = nn.BatchNorm2d(c)
        # Feature reasoning, shared by every iteration.
        self.RFRModule = RFRModule(c, max_channels, propagate_size)
        # Tail.
        self.Tconv = nn.ConvTranspose2d(c, c, 4, 2, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c)
        self.tail1 = PartialConv2d(3 + c, tail_channels, 3, 1, 1, bias=False, multi_channel=True)
        self.tail2 = Bottleneck(tail_channels)
        self.out = nn.Conv2d(2 * tail_channels, 3, 3, 1, 1, bias=False)

    #: On a CPU without autograd, at most this many images per network pass (None: the whole batch).
    #: Set by `archs.inference.prepare_for_inference`; see `predict`.
    cpu_micro_batch: int | None = None

    # --- the contract -------------------------------------------------------------------------
    def predict(self, image: Tensor, mask: Tensor) -> Tensor:
        """image [0,1], mask 1 = hole (padded to a multiple of 16) -> raw output, not clamped.

        With `cpu_micro_batch` set, a larger CPU batch without autograd runs `cpu_micro_batch` images at a
        time (`layers.micro_batch`): every image is computed independently (eval-mode BatchNorm,
        per-image attention), and one image's 128x128 64-channel maps and 1024x1024 attention scores
        stay in cache where eight do not (batch 8 took 1.4x longer per image than batch 1;
        results/benchmarks/model_speed.md).
        """
        return micro_batched(self._predict, image, mask, step=self.cpu_micro_batch)

    def _predict(self, image: Tensor, mask: Tensor) -> Tensor:
        valid = 1.0 - mask
        return self.network_forward(image * valid, valid.expand(-1, 3, -1, -1))

    # --- the official network ------------------------------------------------------------------
    def network_forward(self, masked_image: Tensor, valid: Tensor) -> Tensor:
        """Official `RFRNet.forward`: masked image and its (B,3,H,W) 1 = valid mask -> raw RGB output."""
        x, m = self.head(masked_image, valid)
        # The feature masks repeat one channel, so one channel of each carries the weights.
        feature_sum, mask_sum, count = x * m[:, :1], m[:, :1], 1
        for features, mask in self.reason(x, m):
            feature_sum = feature_sum + features * mask[:, :1]
            mask_sum, count = mask_sum + mask[:, :1], count + 1
        merged = (feature_sum / count) / (mask_sum / count + MERGE_EPS)
        return self.tail(merged, mask, masked_image, valid)

    def head(self, masked_image: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        x, m = self.Pconv1(masked_image, valid)
        x = F.relu(self.bn1(x))
        x, m = self.Pconv2(x, m)
        return F.relu(self.bn20(x)), m

    def reason(self, x: Tensor, m: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield (features, mask) after each recurrent iteration; the attention history starts empty."""
        state: KCAState | None = None
        for _ in range(self.iterations):
            x, m = self.Pconv21(x, m)
            x, m = self.Pconv22(x, m)
            x = F.leaky_relu(self.bn2(x), SLOPE_OUTER)
            x, state = self.RFRModule(x, m[:, :1], state)
            x = x * m
            yield x, m

    def tail(self, merged: Tensor, last_mask: Tensor, masked_image: Tensor, valid: Tensor) -> Tensor:
        x = F.leaky_relu(self.bn3(self.Tconv(merged)), SLOPE_OUTER)
        m = F.interpolate(last_mask[:, :1], scale_factor=2, mode="nearest").expand(-1, last_mask.shape[1], -1, -1)
        x, _ = self.tail1(torch.cat([masked_image, x], dim=1), torch.cat([valid, m], dim=1))
        x = F.leaky_relu(x, SLOPE_OUTER)
        return self.out(torch.cat([x, self.tail2(x)], dim=1))

    # --- official checkpoints -------------------------------------------------------------------
    def checkpoint_filter_fn(self, raw: Any) -> dict[str, Tensor]:
        """Official file content (`{'generator': state_dict, ...}` or a flat state dict) -> our state dict.

        The layouts coincide key for key; a `module.` prefix (DataParallel) is removed. Anything else
        is left for the strict loader to report.
        """
        if isinstance(raw, Mapping) and isinstance(raw.get("generator"), Mapping):
            raw = raw["generator"]
        if not isinstance(raw, Mapping):
            return raw
        return {key.removeprefix("module."): value for key, value in raw.items()}


PAPER = "Li et al., CVPR 2020"


# --- official releases: layouts (recognised from content) and where they are published ---------------


def _rfr_matches(raw: Any) -> bool:
    return (
        isinstance(raw, Mapping)
        and isinstance(raw.get("generator"), Mapping)
        and "Pconv1.weight" in raw["generator"]
        and any(k.startswith("RFRModule.") for k in state_keys(raw["generator"]))
    )


register(
    ReleaseLayout(
        name="rfr_official",
        description="RFR-Net official checkpoint ({'n_iter', 'generator', 'optimizer_G'}): "
        "'generator' kept, Adam state dropped",
        models=("rfr_net",),
        matches=_rfr_matches,
        extract=lambda raw: flat_tensors(raw["generator"]),
        describe=lambda raw: {"n_iter": raw.get("n_iter"), "foreign_objects": sorted(foreign_objects(raw))},
    )
)


#: The official releases (timm's pretrained entries); `inpaintbench weights` lists them.
PRETRAINED: tuple[Release, ...] = register_releases(
    (
        Release(
            name="rfr-celeba",
            model="rfr_net",
            dataset="CelebA",
            published_at="https://github.com/jingyuanli001/RFR-Inpainting (README, Google Drive)",
            files=("checkpoint_celeba.pth",),
            licence="MIT (RFR-Inpainting LICENSE)",
            notes="Manual download (Google Drive); sha256 unknown.",
        ),
        Release(
            name="rfr-paris",
            model="rfr_net",
            dataset="Paris StreetView",
            published_at="https://github.com/jingyuanli001/RFR-Inpainting (README, Google Drive)",
            files=("checkpoint_paris.pth",),
            licence="MIT (RFR-Inpainting LICENSE)",
            notes="Manual download (Google Drive); file name as saved may differ (layout is detected from "
            "content); sha256 unknown. Places2 weights were never released.",
        ),
    )
)


#: The official configuration (`modules/RFRNet.py`): 31,224,065 parameters.
FULL_ARGS: dict[str, Any] = dict(channels=64, max_channels=512, iterations=6, kernel_size=7, tail_channels=32)
#: Same structure, fewer channels (see `rfr_net_tiny`).
TINY_ARGS: dict[str, Any] = dict(channels=16, max_channels=48, iterations=6, kernel_size=7, tail_channels=16)


@register_model("rfr_net", family="rfr", paper=PAPER, size_multiple=16, params=31_224_065)
def rfr_net(**args: Any) -> RFRNet:
    """The official RFR-Net (Paris StreetView / CelebA checkpoints load into it)."""
    return RFRNet(**{**FULL_ARGS, **args})


@register_model("rfr_net_tiny", family="rfr", paper=PAPER, size_multiple=16, params=406_001)
def rfr_net_tiny(**args: Any) -> RFRNet:
    """RFR-Net with a 16-channel head and a 48-channel cap (406,001 parameters): the test / small-zoo variant."""
    return RFRNet(**{**TINY_ARGS, **args})
