"""Partial convolution with automatic mask update (Liu et al., ECCV 2018), NVIDIA convention.

For a sliding window with features X, binary mask M (**1 = valid, 0 = hole**), weights W, bias b:

    out  = W^T (X ⊙ M) · sum(1) / sum(M) + b    where sum(M) > 0, else 0 (bias included)
    mask = 1                                     where sum(M) > 0, else 0

This is NVIDIA's `PartialConv2d` (NVIDIA/partialconv `models/partialconv2d.py`): `sum(1)` is the
window size, C_in·kH·kW with `multi_channel=True` and kH·kW otherwise; the output is renormalised
by window / sum(M), the bias is re-added after the renormalisation and zeroed in empty windows, and
the new mask is the clamped window count. Zero padding of features *and* mask makes the layer its own
padding scheme: pixels outside the image count as holes and border windows are renormalised.

Mask conventions:
- `multi_channel=False` (NVIDIA's default): the mask is (N,1,H,W), shared by all input channels;
  the new mask is (N,1,H',W').
- `multi_channel=True` (the paper's C×H×W mask, used by the PConv U-Net and RFR-Net): the mask is
  (N,C_in,H,W), or (N,1,H,W) meaning "the same on every channel". The new mask has C_out identical
  channels; it is returned as a broadcast view of one channel (`expand`), so it costs no memory.

Efficiency (why no C_out×C_in mask convolution): sum(M) over a C_in×kH×kW window is the kH×kW box
sum of the per-pixel count of valid channels, and every output channel sees the same window. So the
mask path reduces the mask over channels once (or, for a channel-uniform mask, multiplies a single
channel by C_in) and runs one single-channel box convolution. It runs once per layer, in float32
(exact integer counts, also under autocast) and without gradient. A mask that is a broadcast view
(stride 0 over channels, as this layer returns) is recognised as channel-uniform.

`forward_masked(masked_x, valid_count)` is the same layer for callers that concatenate groups with
different masks (U-Net skips, RFR-Net's tail): they mask each group, add the groups' valid counts
(channels × group mask) and never build the C_in-channel mask.

The naoto0804 PyTorch port (`PConvUNet`, the layout of `pconv_keys.tsv`) divides by sum(M) only,
without the window size: its weights equal ours times C_in·kH·kW. `port_weight_to_nvidia` converts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PartialConv2d", "port_weight_to_nvidia"]


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


class PartialConv2d(nn.Conv2d):
    """`nn.Conv2d` whose `forward(x, mask)` returns `(out, new_mask)` by the rule in the module docstring.

    The state dict holds only `weight` (and `bias`): the all-ones mask kernel is not a parameter.
    Only zero padding is supported (it is what makes partial-convolution padding work).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        bias: bool = True,
        multi_channel: bool = False,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            _pair(kernel_size),
            stride=_pair(stride),
            padding=_pair(padding),
            dilation=_pair(dilation),
            bias=bias,
        )
        self.multi_channel = bool(multi_channel)
        kh, kw = self.kernel_size
        #: sum(1) of the paper: the number of mask elements in one window.
        self.window_size = (in_channels if self.multi_channel else 1) * kh * kw
        #: A folded BatchNorm's shift (archs.inference), added in every window; None in a model as built.
        self.register_buffer("shift", None, persistent=False)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", multi_channel={self.multi_channel}"

    @torch.no_grad()
    def valid_channel_count(self, mask: Tensor) -> Tensor:
        """Per pixel, how many input channels are valid: (N,1,H,W) float32."""
        if mask.ndim != 4:
            raise ValueError(f"PartialConv2d: mask must be (N,C,H,W), got {tuple(mask.shape)}")
        channels = mask.shape[1]
        uniform = channels == 1 or mask.stride(1) == 0
        if uniform:
            per_channel = mask[:, :1].to(torch.float32)
            return per_channel * self.in_channels if self.multi_channel else per_channel
        if not self.multi_channel:
            raise ValueError(
                f"PartialConv2d(multi_channel=False) takes a (N,1,H,W) mask, got {channels} channels; "
                "use multi_channel=True for per-channel masks"
            )
        if channels != self.in_channels:
            raise ValueError(f"PartialConv2d: mask has {channels} channels, expected 1 or {self.in_channels}")
        return mask.to(torch.float32).sum(dim=1, keepdim=True)

    def mask_update(self, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(ratio, new_mask), both (N,1,H',W') float32: window/sum(M) (0 in empty windows), 1[sum(M)>0]."""
        with torch.no_grad():
            return self.ratio_from_counts(self.valid_channel_count(mask))

    def ratio_from_counts(self, count: Tensor, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
        """`mask_update` from a per-pixel valid-channel count (N,1,H,W), e.g. summed over concatenated groups.

        Counts are summed in float32 (exact integers); the ratio is in `dtype` (float32 or wider).
        """
        with torch.no_grad(), torch.autocast(device_type=count.device.type, enabled=False):
            window_sum = self._box_sum(count.to(torch.float32)).to(dtype)
            new_mask = (window_sum > 0).to(dtype)
            ratio = self.window_size / window_sum.clamp(min=1.0) * new_mask
        return ratio, new_mask

    def _box_sum(self, count: Tensor) -> Tensor:
        """kH×kW window sums of a one-channel map with this layer's stride/padding/dilation (exact integers)."""
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        if self.dilation == (1, 1) and 2 * ph <= kh and 2 * pw <= kw:
            return F.avg_pool2d(count, self.kernel_size, self.stride, self.padding, divisor_override=1)
        box = torch.ones(1, 1, kh, kw, device=count.device, dtype=torch.float32)
        return F.conv2d(count, box, None, self.stride, self.padding, self.dilation)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Partial convolution of `x` (N,C_in,H,W) under `mask` (1 = valid); `None` = all valid."""
        if mask is None:
            mask = torch.ones(x.shape[0], 1, *x.shape[-2:], device=x.device, dtype=torch.float32)
            return self.forward_masked(x, self.valid_channel_count(mask))
        if mask.shape[0] != x.shape[0] or mask.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"PartialConv2d: mask {tuple(mask.shape)} does not match input {tuple(x.shape)}")
        count = self.valid_channel_count(mask)  # validates the mask's channels first
        uniform = mask.shape[1] == 1 or mask.stride(1) == 0
        return self.forward_masked(x * (mask[:, :1] if uniform else mask).to(x.dtype), count)

    def forward_masked(self, masked_x: Tensor, valid_count: Tensor) -> tuple[Tensor, Tensor]:
        """The layer on input already multiplied by its mask, given the per-pixel valid-channel count.

        For callers that concatenate differently masked groups (U-Net skips): mask each group, add
        the groups' counts (channels × group mask), and skip materialising a C_in-channel mask.
        """
        ratio, new_mask = self.ratio_from_counts(valid_count, torch.promote_types(masked_x.dtype, torch.float32))
        raw = F.conv2d(masked_x, self.weight, None, self.stride, self.padding, self.dilation)
        out = raw.mul_(ratio.to(raw.dtype))  # in place: conv2d's backward does not need its output
        if self.bias is not None:
            out = out.addcmul_(self.bias.view(1, -1, 1, 1), new_mask.to(out.dtype))
        if self.shift is not None:
            out = out.add_(self.shift.view(1, -1, 1, 1))
        if self.multi_channel:
            new_mask = new_mask.expand(-1, self.out_channels, -1, -1)
        return out, new_mask


def port_weight_to_nvidia(weight: Tensor) -> Tensor:
    """naoto0804's `input_conv.weight` (divided by sum(M) only) -> ours: ÷ C_in·kH·kW (multi-channel)."""
    if weight.ndim != 4:
        raise ValueError(f"expected a (C_out,C_in,kH,kW) convolution weight, got {tuple(weight.shape)}")
    window = weight.shape[1] * weight.shape[2] * weight.shape[3]
    return weight / window
