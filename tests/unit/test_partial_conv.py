"""PartialConv2d against the paper's formula, a plain convolution, and the naoto0804 port's layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from inpaintbench.archs.layers.partial_conv import PartialConv2d, port_weight_to_nvidia


def brute_force_partial_conv(x, mask, weight, bias, stride, padding, dilation):
    """The paper's rule, one window at a time, in float64: W·(X⊙M)·sum(1)/sum(M) + b, else 0."""
    x, mask, weight = (t.double().numpy() for t in (x, mask, weight))
    bias = np.zeros(weight.shape[0]) if bias is None else bias.detach().double().numpy()
    n, _, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    mask = np.broadcast_to(mask, x.shape)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    mp = np.pad(mask, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    out_w = (w + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, c_out, out_h, out_w))
    new_mask = np.zeros((n, 1, out_h, out_w))
    for b in range(n):
        for i in range(out_h):
            for j in range(out_w):
                rows = slice(i * stride, i * stride + dilation * (kh - 1) + 1, dilation)
                cols = slice(j * stride, j * stride + dilation * (kw - 1) + 1, dilation)
                xw, mw = xp[b, :, rows, cols], mp[b, :, rows, cols]
                if mw.sum() == 0:
                    continue
                new_mask[b, 0, i, j] = 1
                for o in range(c_out):
                    out[b, o, i, j] = (weight[o] * xw * mw).sum() * mw.size / mw.sum() + bias[o]
    return torch.from_numpy(out), torch.from_numpy(new_mask)


@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "bias"), [(1, 1, 1, True), (2, 1, 1, False), (1, 2, 2, True)]
)
def test_multi_channel_matches_brute_force(stride, padding, dilation, bias):
    torch.manual_seed(0)
    layer = PartialConv2d(3, 4, 3, stride=stride, padding=padding, dilation=dilation, bias=bias, multi_channel=True)
    with torch.no_grad():
        if bias:
            layer.bias.normal_()
    x = torch.randn(2, 3, 9, 8)
    mask = (torch.rand(2, 3, 9, 8) > 0.6).float()  # channels differ: a true multi-channel mask
    mask[1, :, :5, :5] = 0  # a window with no valid element
    out, new_mask = layer(x, mask)
    ref_out, ref_mask = brute_force_partial_conv(x, mask, layer.weight.detach(), layer.bias, stride, padding, dilation)
    torch.testing.assert_close(out.double(), ref_out, rtol=1e-5, atol=1e-5)
    assert new_mask.shape == (2, 4, *ref_mask.shape[-2:])
    assert torch.equal(new_mask.double(), ref_mask.expand_as(new_mask))


def test_single_channel_matches_brute_force():
    torch.manual_seed(1)
    layer = PartialConv2d(3, 2, 5, padding=2, multi_channel=False)
    x = torch.randn(1, 3, 7, 6)
    mask = (torch.rand(1, 1, 7, 6) > 0.5).float()
    out, new_mask = layer(x, mask)
    # single channel: sum(1) = kH·kW, the mask broadcast over input channels
    ref_out, ref_mask = brute_force_partial_conv(x, mask, layer.weight.detach(), layer.bias.detach(), 1, 2, 1)
    # for a mask broadcast over channels, C_in·k² / (C_in·sum) = k² / sum: the brute force applies
    torch.testing.assert_close(out.double(), ref_out, rtol=1e-5, atol=1e-5)
    assert new_mask.shape == (1, 1, 7, 6)
    assert torch.equal(new_mask.double(), ref_mask)


def test_all_ones_mask_equals_plain_conv():
    torch.manual_seed(2)
    layer = PartialConv2d(5, 6, 3, stride=2, padding=0, multi_channel=True)
    conv = torch.nn.Conv2d(5, 6, 3, stride=2, padding=0)
    conv.load_state_dict(layer.state_dict())
    x = torch.randn(2, 5, 11, 12)
    out, new_mask = layer(x, torch.ones(2, 5, 11, 12))
    torch.testing.assert_close(out, conv(x), rtol=1e-5, atol=1e-6)
    assert bool((new_mask == 1).all())


def test_all_ones_mask_with_padding_renormalises_only_the_border():
    torch.manual_seed(3)
    layer = PartialConv2d(2, 3, 3, padding=1, multi_channel=True)
    conv = torch.nn.Conv2d(2, 3, 3, padding=1)
    conv.load_state_dict(layer.state_dict())
    x = torch.randn(1, 2, 6, 6)
    out, _ = layer(x, None)
    torch.testing.assert_close(out[..., 1:-1, 1:-1], conv(x)[..., 1:-1, 1:-1], rtol=1e-5, atol=1e-6)
    # with an averaging kernel a constant input gives the same value everywhere: zero padding counts
    # as hole, so the border is renormalised instead of darkened (a plain conv darkens it)
    with torch.no_grad():
        layer.weight.fill_(0.1)
    const_out, _ = layer(torch.ones(1, 2, 6, 6), None)
    torch.testing.assert_close(const_out, const_out[..., 2:3, 2:3].expand_as(const_out), rtol=1e-5, atol=1e-6)


def test_mask_update_is_the_expected_dilation():
    mask = torch.zeros(1, 1, 9, 9)
    mask[0, 0, 4, 4] = 1
    mask[0, 0, 0, 8] = 1
    layer = PartialConv2d(1, 1, 3, padding=1)
    _, new_mask = layer(torch.randn(1, 1, 9, 9), mask)
    expected = ndimage.binary_dilation(mask[0, 0].numpy() > 0, structure=np.ones((3, 3)))
    assert np.array_equal(new_mask[0, 0].numpy() > 0, expected)
    # a 5x5 kernel with dilation 2 grows the valid region by 4 px along the lattice
    wide = PartialConv2d(1, 1, 5, padding=4, dilation=2)
    _, grown = wide(torch.randn(1, 1, 9, 9), mask)
    lattice = np.zeros((9, 9), bool)
    lattice[::2, ::2] = True
    structure = lattice[:9, :9]
    expected = ndimage.binary_dilation(mask[0, 0].numpy() > 0, structure=structure)
    assert np.array_equal(grown[0, 0].numpy() > 0, expected)


def test_holes_get_zero_output_including_bias():
    layer = PartialConv2d(3, 2, 3, padding=1, multi_channel=True)
    with torch.no_grad():
        layer.bias.fill_(5.0)
    mask = torch.ones(1, 1, 10, 10)
    mask[..., 2:8, 2:8] = 0
    out, new_mask = layer(torch.randn(1, 3, 10, 10), mask)
    assert bool((out[..., 3:7, 3:7] == 0).all())
    assert bool((new_mask[..., 3:7, 3:7] == 0).all())
    assert bool((out[..., 0, 0] != 0).all())


def test_uniform_mask_forms_agree_and_carry_no_gradient():
    torch.manual_seed(4)
    layer = PartialConv2d(4, 3, 3, padding=1, multi_channel=True)
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    compact = (torch.rand(2, 1, 8, 8) > 0.5).float().requires_grad_()
    out_compact, mask_out = layer(x, compact)
    out_full, _ = layer(x, compact.detach().repeat(1, 4, 1, 1))
    out_view, _ = layer(x, compact.detach().expand(-1, 4, -1, -1))
    torch.testing.assert_close(out_compact, out_full)
    torch.testing.assert_close(out_compact, out_view)
    assert mask_out.shape == (2, 3, 8, 8) and mask_out.stride(1) == 0 and not mask_out.requires_grad
    out_compact.sum().backward()
    assert x.grad is not None and bool(x.grad.abs().sum() > 0)
    # the mask path runs without gradient: d out / d mask is only the X⊙M product, never the ratio
    expected = torch.autograd.grad((layer(x.detach(), compact)[0]).sum(), compact)[0]
    masked_only = torch.autograd.grad(
        torch.nn.functional.conv2d(x.detach() * compact, layer.weight.detach(), None, 1, 1)
        .mul(layer.mask_update(compact.detach())[0])
        .sum(),
        compact,
    )[0]
    torch.testing.assert_close(expected, masked_only)


def test_bad_mask_shape_is_a_clear_error():
    layer = PartialConv2d(4, 3, 3, padding=1, multi_channel=True)
    with pytest.raises(ValueError, match="expected 1 or 4"):
        layer(torch.randn(1, 4, 8, 8), torch.ones(1, 2, 8, 8))
    single = PartialConv2d(4, 3, 3, padding=1)
    with pytest.raises(ValueError, match="multi_channel=True"):
        single(torch.randn(1, 4, 8, 8), torch.rand(1, 4, 8, 8).round())


def port_partial_conv(x, mask, weight, bias, stride, padding):
    """naoto0804's PartialConv: (conv(X⊙M) - b) / sum(M) + b, masked_fill 0 where sum(M) = 0."""
    raw = F.conv2d(x * mask, weight, bias, stride, padding)
    count = F.conv2d(mask, torch.ones_like(weight), None, stride, padding)
    holes = count == 0
    b = torch.zeros(1) if bias is None else bias.view(1, -1, 1, 1)
    out = (raw - b) / count.masked_fill(holes, 1.0) + b
    return out.masked_fill(holes, 0.0), torch.ones_like(out).masked_fill(holes, 0.0)


def test_port_weights_rescaled_give_the_port_output():
    torch.manual_seed(5)
    port_weight = torch.randn(8, 3, 7, 7) * 0.1
    port_bias = torch.randn(8)
    x = torch.randn(2, 3, 16, 16)
    mask = torch.ones(2, 3, 16, 16)
    mask[:, :, 3:12, 4:13] = 0
    ref_out, ref_mask = port_partial_conv(x, mask, port_weight, port_bias, 2, 3)
    layer = PartialConv2d(3, 8, 7, stride=2, padding=3, multi_channel=True)
    layer.load_state_dict({"weight": port_weight_to_nvidia(port_weight), "bias": port_bias})
    out, new_mask = layer(x, mask[:, :1])
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    assert torch.equal(new_mask, ref_mask)
    # loading the port's weights without the rescale is off by the window size, 3·7·7
    layer.load_state_dict({"weight": port_weight, "bias": port_bias})
    unscaled, _ = layer(x, mask[:, :1])
    assert not torch.allclose(unscaled, ref_out, rtol=1e-2, atol=1e-2)
