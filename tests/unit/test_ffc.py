"""FFC layers against brute-force references written here (reference/lama.md section 1.3)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from inpaintbench.archs.layers.ffc import FFC, FFC_BN_ACT, FourierUnit, SpectralTransform, split_channels


def _randomise_bn(module: torch.nn.Module, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    for bn in module.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            n = bn.num_features
            bn.weight.data = torch.rand(n, generator=generator, dtype=bn.weight.dtype) + 0.5
            bn.bias.data = torch.randn(n, generator=generator, dtype=bn.bias.dtype) * 0.1
            bn.running_mean = torch.randn(n, generator=generator, dtype=bn.running_mean.dtype) * 0.1
            bn.running_var = torch.rand(n, generator=generator, dtype=bn.running_var.dtype) + 0.5


def _direct_fourier_unit(x: torch.Tensor, unit: FourierUnit) -> torch.Tensor:
    """FourierUnit by explicit DFT sums (float64): ortho rfft2, Re/Im interleaved, 1x1 conv, BN, ReLU, c2r."""
    _, channels, height, width = x.shape
    half = width // 2 + 1
    m = torch.arange(height, dtype=torch.float64)
    n = torch.arange(width, dtype=torch.float64)
    k = torch.arange(height, dtype=torch.float64)
    col = torch.arange(half, dtype=torch.float64)
    # forward: X[k, l] = sum_{m,n} x[m,n] exp(-2 pi i (k m / H + l n / W)) / sqrt(H W)
    rows = torch.exp(-2j * math.pi * torch.outer(k, m) / height)  # (k, m)
    cols = torch.exp(-2j * math.pi * torch.outer(n, col) / width)  # (n, l)
    spectrum = torch.einsum("km,bcmn,nl->bckl", rows, x.to(torch.complex128), cols) / math.sqrt(height * width)
    stacked = torch.empty(x.shape[0], 2 * channels, height, half, dtype=torch.float64)
    stacked[:, 0::2], stacked[:, 1::2] = spectrum.real, spectrum.imag  # channel 2c = Re(c), 2c+1 = Im(c)
    weight = unit.conv_layer.weight[:, :, 0, 0].double()
    mixed = torch.einsum("oc,bchw->bohw", weight, stacked)
    bn = unit.bn
    mean, var = bn.running_mean.double()[:, None, None], bn.running_var.double()[:, None, None]
    mixed = (mixed - mean) / torch.sqrt(var + bn.eps)
    mixed = torch.relu(mixed * bn.weight.double()[:, None, None] + bn.bias.double()[:, None, None])
    spec = torch.complex(mixed[:, 0::2], mixed[:, 1::2])
    # inverse: complex IDFT over rows, then the real (c2r) IDFT over the half spectrum of columns
    z = torch.einsum("mk,bckl->bcml", rows.conj().T, spec) / math.sqrt(height)
    out = z[..., 0].real[..., None].expand(-1, -1, -1, width).clone()
    for index in range(1, half):
        twiddle = torch.exp(2j * math.pi * index * n / width)
        factor = 1.0 if (width % 2 == 0 and index == width // 2) else 2.0
        out = out + factor * (z[..., index : index + 1] * twiddle).real
    return out / math.sqrt(width)


@pytest.mark.parametrize("size", [(8, 8), (8, 7), (6, 10)])
def test_fourier_unit_matches_direct_dft(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    unit = FourierUnit(3, 3).double().eval()
    _randomise_bn(unit)
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    torch.testing.assert_close(unit(x), _direct_fourier_unit(x, unit), rtol=1e-9, atol=1e-10)


def test_fourier_unit_is_global() -> None:
    """One changed pixel changes the output everywhere: the receptive field is the whole map."""
    torch.manual_seed(0)
    unit = FourierUnit(2, 2).eval()
    _randomise_bn(unit)
    x = torch.randn(1, 2, 16, 16)
    y = x.clone()
    y[..., 0, 0] += 5.0
    changed = (unit(x) - unit(y)).abs().sum(dim=1)[0]
    assert (changed > 1e-6).float().mean() > 0.9


def test_fourier_unit_runs_fft_in_float32_under_autocast() -> None:
    torch.manual_seed(0)
    unit = FourierUnit(4, 4).eval()
    x = torch.randn(1, 4, 12, 10).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = unit(x)
    assert out.dtype == torch.bfloat16
    reference = unit(x.float())
    torch.testing.assert_close(out.float(), reference, rtol=2e-2, atol=2e-2)


def test_spectral_transform_inner_residual() -> None:
    """conv2(x + fu(x)) with x = ReLU(BN(conv1(input))): the FourierUnit sits in an inner residual."""
    torch.manual_seed(0)
    st = SpectralTransform(6, 6).eval()
    _randomise_bn(st)
    x = torch.randn(2, 6, 8, 8)
    hidden = st.conv1(x)
    torch.testing.assert_close(st(x), st.conv2(hidden + st.fu(hidden)))
    assert not hasattr(st, "lfu")


def test_local_fourier_unit_tiles_quadrants() -> None:
    torch.manual_seed(0)
    st = SpectralTransform(8, 8, enable_lfu=True).eval()
    _randomise_bn(st)
    x = torch.randn(1, 8, 6, 10)
    hidden = st.conv1(x)
    quarter = hidden[:, :1]  # hidden has 4 channels; the LFU takes the first quarter
    quads = torch.cat([quarter[..., :3, :5], quarter[..., 3:, :5], quarter[..., :3, 5:], quarter[..., 3:, 5:]], 1)
    lfu = st.lfu(quads).repeat(1, 1, 2, 2)
    torch.testing.assert_close(st(x), st.conv2(hidden + st.fu(hidden) + lfu))
    with pytest.raises(ValueError, match="even"):
        st(torch.randn(1, 8, 7, 10))


def test_channel_split_and_absent_paths() -> None:
    assert split_channels(512, 0.75) == (128, 384)
    ffc = FFC(512, 512, 3, 0.75, 0.75, padding=1)
    assert ffc.convl2l.weight.shape == (128, 128, 3, 3)
    assert ffc.convl2g.weight.shape == (384, 128, 3, 3)
    assert ffc.convg2l.weight.shape == (128, 384, 3, 3)
    assert isinstance(ffc.convg2g, SpectralTransform)
    local_only = FFC_BN_ACT(4, 8, 3, padding=1)
    assert local_only.ffc.convl2g is None and local_only.ffc.convg2g is None and local_only.bn_g is None
    assert not any(".convg2" in key or "bn_g" in key for key in local_only.state_dict())


def test_local_ffc_is_a_reflect_padded_convolution() -> None:
    torch.manual_seed(0)
    layer = FFC_BN_ACT(3, 5, 3, stride=2, padding=1).eval()
    _randomise_bn(layer)
    x = torch.randn(2, 3, 9, 11)
    out_l, out_g = layer(x)
    bn = layer.bn_l
    conv = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), layer.ffc.convl2l.weight, stride=2)
    expected = torch.relu(
        (conv - bn.running_mean[:, None, None])
        / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
        * bn.weight[:, None, None]
        + bn.bias[:, None, None]
    )
    assert out_g is None
    torch.testing.assert_close(out_l, expected)


def test_ffc_sums_the_four_paths() -> None:
    torch.manual_seed(0)
    ffc = FFC(8, 8, 3, 0.5, 0.5, padding=1).eval()
    x_l, x_g = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    out_l, out_g = ffc((x_l, x_g))
    torch.testing.assert_close(out_l, ffc.convl2l(x_l) + ffc.convg2l(x_g))
    torch.testing.assert_close(out_g, ffc.convl2g(x_l) + ffc.convg2g(x_g))
