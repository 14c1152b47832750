"""Fast Fourier convolution (Chi et al. 2020) as LaMa uses it (reference/lama.md section 1.3).

A feature map travels as a pair `(local, global)`; either side may be `None` when a layer has no
channels there (the official code passes the integer 0 instead). Channel split of an FFC with `c`
channels and ratio `r`: `int(c * r)` global, the rest local. Paths whose input or output side is empty
are not built, so they own no parameters and no state-dict keys, exactly like the official
`nn.Identity` placeholders; the module attribute names (`convl2l`, `convg2g.fu.conv_layer`, `bn_l`, ...)
are the official ones so released weights load without renaming.

Deliberate deviations from `saicinpainting/training/modules/ffc.py`:
- An absent path contributes nothing. (Officially an absent `convl2l` with ratio_gin 1 is an identity
  that passes `x_l` through; no LaMa config builds one.)
- FourierUnit runs in float32 with autocast disabled (cuFFT in half precision only takes power-of-two
  sizes and the spectrum can overflow fp16); the result is cast back to the input dtype.
- The local Fourier unit splits the width at W/2 (the official code reuses H/2, which only works on
  square maps) and needs even H and W; it is off in every released config.
- Not implemented (unused by the released configs): spectral positional encoding, the SE block and
  spatial rescaling inside FourierUnit, gating in FFC, grouped convolutions.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: a feature pair; `None` marks an empty branch
LocalGlobal = tuple[Tensor | None, Tensor | None]


def split_channels(channels: int, ratio_global: float) -> tuple[int, int]:
    """(local, global) channel counts of the official rule: global = int(channels * ratio)."""
    global_channels = int(channels * ratio_global)
    return channels - global_channels, global_channels


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


class FourierUnit(nn.Module):
    """rfft2 (ortho) -> real/imag interleaved per channel -> 1x1 conv -> BN -> ReLU -> irfft2.

    The spectrum of channel c becomes channels 2c (real) and 2c+1 (imaginary), the order the official
    `conv_layer` weights expect; `irfftn(s=(H, W))` restores odd widths.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_layer = nn.Conv2d(in_channels * 2, out_channels * 2, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels * 2)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):  # half inputs go up to float32
            out = self._spectral(x.to(torch.promote_types(x.dtype, torch.float32)))
        return out.to(x.dtype)

    def _spectral(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        spectrum = torch.fft.rfftn(x, dim=(-2, -1), norm="ortho")  # (B, C, H, W//2+1) complex
        stacked = torch.stack((spectrum.real, spectrum.imag), dim=2)  # (B, C, 2, H, Wf)
        stacked = stacked.reshape(batch, -1, height, spectrum.shape[-1])  # 2c = Re, 2c+1 = Im
        stacked = self.relu(self.bn(self.conv_layer(stacked)))
        pairs = stacked.reshape(batch, -1, 2, height, spectrum.shape[-1])
        spectrum = torch.complex(pairs[:, :, 0].contiguous(), pairs[:, :, 1].contiguous())
        return torch.fft.irfftn(spectrum, s=(height, width), dim=(-2, -1), norm="ortho")


class SpectralTransform(nn.Module):
    """The global->global path: 1x1 conv/BN/ReLU to half width, FourierUnit with an inner residual
    (plus the optional local Fourier unit), 1x1 conv back: `conv2(x + fu(x) [+ lfu(x)])`."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, enable_lfu: bool = False) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"SpectralTransform stride must be 1 or 2, got {stride}")
        hidden = out_channels // 2
        self.enable_lfu = enable_lfu
        self.downsample = nn.AvgPool2d(kernel_size=2, stride=2) if stride == 2 else nn.Identity()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
        )
        self.fu = FourierUnit(hidden, hidden)
        if enable_lfu:
            self.lfu = FourierUnit(hidden, hidden)
        self.conv2 = nn.Conv2d(hidden, out_channels, kernel_size=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(self.downsample(x))
        out = x + self.fu(x)
        if self.enable_lfu:
            out = out + self._local_fourier(x)
        return self.conv2(out)

    def _local_fourier(self, x: Tensor) -> Tensor:
        """FFT over the four quadrants of the first quarter of channels, stacked on channels, tiled back."""
        _, channels, height, width = x.shape
        if height % 2 or width % 2:
            raise ValueError(f"the local Fourier unit needs even feature sizes, got {height}x{width}")
        quarter = x[:, : channels // 4]
        rows = torch.cat(torch.split(quarter, height // 2, dim=-2), dim=1)
        quadrants = torch.cat(torch.split(rows, width // 2, dim=-1), dim=1)
        return self.lfu(quadrants).repeat(1, 1, 2, 2)


class FFC(nn.Module):
    """Four paths between the local and global halves: l->l, g->l, l->g (k x k reflect-padded convs, no
    bias) and g->g (SpectralTransform). `out_l = l2l(x_l) + g2l(x_g)`, `out_g = l2g(x_l) + g2g(x_g)`."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        ratio_gin: float,
        ratio_gout: float,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        enable_lfu: bool = False,
        padding_type: str = "reflect",
    ) -> None:
        super().__init__()
        in_l, in_g = split_channels(in_channels, ratio_gin)
        out_l, out_g = split_channels(out_channels, ratio_gout)
        self.local_in, self.global_in = in_l, in_g

        def conv(cin: int, cout: int) -> nn.Conv2d | None:
            if cin == 0 or cout == 0:
                return None
            return nn.Conv2d(cin, cout, kernel_size, stride, padding, dilation, bias=False, padding_mode=padding_type)

        self.convl2l = conv(in_l, out_l)
        self.convl2g = conv(in_l, out_g)
        self.convg2l = conv(in_g, out_l)
        self.convg2g = SpectralTransform(in_g, out_g, stride, enable_lfu) if in_g and out_g else None

    def forward(self, x: LocalGlobal) -> LocalGlobal:
        x_l, x_g = x
        out_l = _add(_apply(self.convl2l, x_l), _apply(self.convg2l, x_g))
        out_g = _add(_apply(self.convl2g, x_l), _apply(self.convg2g, x_g))
        return out_l, out_g


def _apply(module: nn.Module | None, x: Tensor | None) -> Tensor | None:
    return None if module is None or x is None else module(x)


class FFC_BN_ACT(nn.Module):  # noqa: N801 (official name, kept for the state-dict layout)
    """FFC followed by a separate BatchNorm and activation on each non-empty branch (`bn_l`, `bn_g`)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        ratio_gin: float = 0.0,
        ratio_gout: float = 0.0,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        activation: bool = True,
        enable_lfu: bool = False,
        padding_type: str = "reflect",
    ) -> None:
        super().__init__()
        self.ffc = FFC(
            in_channels,
            out_channels,
            kernel_size,
            ratio_gin,
            ratio_gout,
            stride,
            padding,
            dilation,
            enable_lfu,
            padding_type,
        )
        out_l, out_g = split_channels(out_channels, ratio_gout)
        self.bn_l = nn.BatchNorm2d(out_l) if out_l else None
        self.bn_g = nn.BatchNorm2d(out_g) if out_g else None
        self.act_l = nn.ReLU(inplace=True) if activation and out_l else nn.Identity()
        self.act_g = nn.ReLU(inplace=True) if activation and out_g else nn.Identity()

    def forward(self, x: LocalGlobal | Tensor) -> LocalGlobal:
        if isinstance(x, Tensor):  # a plain map entering the two-branch world: local channels first
            local = self.ffc.local_in
            x = (x[:, :local] if local else None, x[:, local:] if self.ffc.global_in else None)
        x_l, x_g = self.ffc(x)
        if x_l is not None:
            x_l = self.act_l(self.bn_l(x_l))
        if x_g is not None:
            x_g = self.act_g(self.bn_g(x_g))
        return x_l, x_g


class FFCResnetBlock(nn.Module):
    """Two 3x3 FFC_BN_ACT (each ending in BN + ReLU), then separate residual adds on both branches.

    The ReLU comes before the add and nothing follows it (unlike a standard ResNet block).
    """

    def __init__(
        self,
        dim: int,
        ratio: float = 0.75,
        dilation: int = 1,
        enable_lfu: bool = False,
        padding_type: str = "reflect",
    ) -> None:
        super().__init__()
        kwargs = dict(
            kernel_size=3,
            ratio_gin=ratio,
            ratio_gout=ratio,
            padding=dilation,
            dilation=dilation,
            enable_lfu=enable_lfu,
            padding_type=padding_type,
        )
        self.conv1 = FFC_BN_ACT(dim, dim, **kwargs)
        self.conv2 = FFC_BN_ACT(dim, dim, **kwargs)

    def forward(self, x: LocalGlobal) -> LocalGlobal:
        id_l, id_g = x
        x_l, x_g = self.conv2(self.conv1(x))
        return _add(id_l, x_l), _add(id_g, x_g)


class ConcatTupleLayer(nn.Module):
    """Leaves the two-branch world at the bottleneck exit: cat([local, global], dim=1), local first."""

    def forward(self, x: LocalGlobal) -> Tensor:
        x_l, x_g = x
        if x_g is None:
            if x_l is None:
                raise ValueError("ConcatTupleLayer received two empty branches")
            return x_l
        if x_l is None:
            return x_g
        return torch.cat((x_l, x_g), dim=1)
