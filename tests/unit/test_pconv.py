"""PConv U-Net: contract wrapper, architecture behaviour, official checkpoint conversion."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from helpers import official_keys
from torch import nn

from inpaintbench import create_model, load_weights
from inpaintbench.archs.pconv import IMAGENET_MEAN, IMAGENET_STD, PConvUNet, convert_port_state_dict
from inpaintbench.inpainter import pad_to_multiple
from inpaintbench.weights import WeightsError

MEAN = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def hole_mask(n, h, w, box):
    mask = torch.zeros(n, 1, h, w)
    top, left, bottom, right = box
    mask[..., top:bottom, left:right] = 1
    return mask


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return create_model("pconv_unet_tiny").eval()


class Echo(nn.Module):
    """Stands in for the U-Net: records its inputs and returns the normalised masked image."""

    def forward(self, x, valid):
        self.seen = (x.clone(), valid.clone())
        return x, valid


def test_pre_and_post_processing_on_a_hand_made_case():
    model = create_model("pconv_unet_tiny")
    model.net = Echo()
    image = torch.zeros(1, 3, 128, 128)
    image[:, 0], image[:, 1], image[:, 2] = 1.0, 0.5, 0.25
    mask = hole_mask(1, 128, 128, (32, 32, 96, 96))
    pred = model.inpaint(image, mask)
    x, valid = model.net.seen
    # PConv convention: 1 = valid, ImageNet-normalised image multiplied by the valid mask
    assert torch.equal(valid, 1 - mask)
    expected = (image - MEAN) / STD * (1 - mask)
    torch.testing.assert_close(x, expected)
    # output de-normalised: known pixels come back, holes are 0 in normalised space = the mean colour
    torch.testing.assert_close(pred[..., 0, 0], image[..., 0, 0])
    torch.testing.assert_close(pred[..., 64, 64], MEAN.view(1, 3))
    # odd size: reflect padding of image and mask to 128, cropped back
    image_odd = torch.rand(1, 3, 67, 93)
    mask_odd = hole_mask(1, 67, 93, (3, 4, 20, 30))
    pred_odd = model.inpaint(image_odd, mask_odd)
    x, valid = model.net.seen
    padded_image, _ = pad_to_multiple(image_odd, 128, "reflect")
    padded_mask, _ = pad_to_multiple(mask_odd, 128, "reflect")
    assert x.shape[-2:] == (128, 128)
    torch.testing.assert_close(x, (padded_image - MEAN) / STD * (1 - padded_mask))
    assert pred_odd.shape == image_odd.shape


def test_reflect_padding_equals_running_on_the_padded_image(tiny):
    image = torch.rand(1, 3, 70, 100)
    mask = hole_mask(1, 70, 100, (20, 20, 50, 60))
    padded_image, _ = pad_to_multiple(image, 128, "reflect")
    padded_mask, _ = pad_to_multiple(mask, 128, "reflect")
    torch.testing.assert_close(tiny.inpaint(image, mask), tiny.inpaint(padded_image, padded_mask)[..., :70, :100])


def test_too_small_images_and_wrong_sizes_are_clear_errors(tiny):
    with pytest.raises(ValueError, match="at least 65 px"):
        tiny.inpaint(torch.rand(1, 3, 60, 200), torch.zeros(1, 1, 60, 200))
    with pytest.raises(ValueError, match="divisible by 128"):
        tiny.net(torch.rand(1, 3, 96, 128), torch.ones(1, 1, 96, 128))


def test_hole_larger_than_the_early_receptive_fields_is_closed_by_the_final_layer(tiny):
    image = torch.rand(1, 3, 128, 128)
    mask = hole_mask(1, 128, 128, (24, 24, 104, 104))  # 80 x 80 hole
    masks = {}
    hooks = [
        getattr(tiny.net, name).register_forward_hook(lambda mod, inp, out, name=name: masks.__setitem__(name, out[1]))
        for name in ("enc_1", "enc_2", "enc_3")
    ]
    valid = 1 - mask
    x = ((image - MEAN) / STD * valid).requires_grad_()
    out, final_mask = tiny.net(x, valid)
    for hook in hooks:
        hook.remove()
    for name in ("enc_1", "enc_2", "enc_3"):
        assert bool((masks[name] == 0).any()), f"{name} should still see a hole"
    assert bool((final_mask == 1).all())
    # the centre of the hole depends on known pixels far outside the early receptive fields
    out[0, :, 64, 64].sum().backward()
    grad = x.grad[0].abs().sum(0)
    assert bool((grad[valid[0, 0] > 0] > 0).any())
    assert bool((grad[:8, :8] > 0).any())  # a far corner
    assert bool((out[0, :, 64, 64] != 0).all())


def port_unet_forward(net, x, valid):
    """The port's forward, written plainly: full C-channel masks, mask_conv sums, ÷ sum(M), port weights."""

    def port_layer(block, h, mask):
        weight = block.conv.weight * block.conv.weight[0].numel()  # ours -> the port's scale
        raw = F.conv2d(h * mask, weight, None, block.conv.stride, block.conv.padding)
        count = F.conv2d(mask, torch.ones_like(weight), None, block.conv.stride, block.conv.padding)
        holes = count == 0
        out = raw / count.masked_fill(holes, 1.0)
        if block.conv.bias is not None:
            out = out + block.conv.bias.view(1, -1, 1, 1)
        out = out.masked_fill(holes, 0.0)
        new_mask = torch.ones_like(out).masked_fill(holes, 0.0)
        if block.bn is not None:
            out = block.bn(out)
        if block.act is not None:
            out = block.act(out)
        return out, new_mask

    hs, ms = [x], [valid.expand(-1, 3, -1, -1)]
    for level in range(1, net.layer_size + 1):
        h, m = port_layer(getattr(net, f"enc_{level}"), hs[-1], ms[-1])
        hs.append(h)
        ms.append(m)
    h, m = hs[-1], ms[-1]
    for level in range(net.layer_size, 0, -1):
        h = torch.cat([F.interpolate(h, scale_factor=2), hs[level - 1]], dim=1)
        m = torch.cat([F.interpolate(m, scale_factor=2), ms[level - 1]], dim=1)
        h, m = port_layer(getattr(net, f"dec_{level}"), h, m)
    return h, m


def test_unet_equals_the_plain_port_formulation(tiny):
    torch.manual_seed(3)
    image = torch.rand(2, 3, 128, 128)
    valid = 1 - hole_mask(2, 128, 128, (20, 30, 100, 90))
    valid[1, :, :40, :] = 0  # a hole touching the border
    x = ((image - MEAN) / STD * valid).double()  # float64: compare formulations, not rounding
    net = copy.deepcopy(tiny.net).double()
    with torch.no_grad():
        ours, our_mask = net(x, valid.double())
        ref, ref_mask = port_unet_forward(net, x, valid.double())
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-9)
    assert torch.equal(our_mask.expand_as(ref_mask), ref_mask)


def official_state_dict():
    """Random tensors with exactly the keys and shapes of the port's checkpoint (mask convs all ones)."""
    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, dims in official_keys("pconv").items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000, dtype=torch.int64)
        elif key.endswith("mask_conv.weight"):
            state[key] = torch.ones(dims)
        elif key.endswith("running_var"):
            state[key] = torch.rand(dims, generator=generator) + 0.5
        else:
            state[key] = torch.randn(dims, generator=generator)
    return state


def test_official_state_dict_converts_and_loads_strictly_into_the_full_model():
    official = official_state_dict()
    assert len(official) == 89
    model = create_model("pconv_unet")
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 25_779_796
    converted = model.checkpoint_filter_fn({"n_iter": 1_000_000, "model": official, "optimizer": {}})
    assert set(converted) == set(model.state_dict())
    model.load_state_dict(converted, strict=True)
    # the numeric transform: port weights ÷ (C_in·k²), bias and BatchNorm copied as they are
    torch.testing.assert_close(model.net.enc_2.conv.weight, official["enc_2.conv.input_conv.weight"] / (64 * 5 * 5))
    torch.testing.assert_close(model.net.dec_1.conv.weight, official["dec_1.conv.input_conv.weight"] / (67 * 3 * 3))
    assert torch.equal(model.net.dec_1.conv.bias, official["dec_1.conv.input_conv.bias"])
    assert torch.equal(model.net.dec_4.bn.running_var, official["dec_4.bn.running_var"])
    # our own layout passes through unchanged
    assert convert_port_state_dict(model.state_dict()).keys() == model.state_dict().keys()


def test_paper_512_configuration_parameter_count():
    model = create_model("pconv_unet_512")
    assert sum(p.numel() for p in model.parameters()) == 32_859_732
    assert model.size_multiple == 256
    assert model.net.channels == (3, 64, 128, 256, 512, 512, 512, 512, 512)


def tiny_port_state_dict(model):
    """Our tiny model's weights written back in the port's layout (inverse of the converter)."""
    state = {}
    for key, value in model.state_dict().items():
        block, rest = key.removeprefix("net.").split(".", 1)
        if rest == "conv.weight":
            state[f"{block}.conv.input_conv.weight"] = value * value[0].numel()
            state[f"{block}.conv.mask_conv.weight"] = torch.ones_like(value)
        elif rest == "conv.bias":
            state[f"{block}.conv.input_conv.bias"] = value
        else:
            state[f"{block}.{rest}"] = value
    return state


def test_port_checkpoint_file_loads_through_weights_and_reproduces_outputs(tmp_path, tiny):
    path = tmp_path / "1000000.pth"
    optimizer = {"state": {}, "param_groups": []}  # the release's layout: {'n_iter', 'model', 'optimizer'}
    torch.save({"n_iter": 7, "model": tiny_port_state_dict(tiny), "optimizer": optimizer}, path)
    fresh = create_model("pconv_unet_tiny").eval()
    load_weights(fresh, path)
    image, mask = torch.rand(1, 3, 128, 128), hole_mask(1, 128, 128, (30, 40, 90, 100))
    # the ÷ C_in·k² rescale rounds each weight once: equal to float32 rounding, not bit for bit
    torch.testing.assert_close(fresh.inpaint(image, mask), tiny.inpaint(image, mask), rtol=1e-5, atol=1e-4)
    broken = tiny_port_state_dict(tiny)
    broken["enc_1.conv.mask_conv.weight"][0, 0, 0, 0] = 0.5
    with pytest.raises(WeightsError, match=r"^PConv checkpoint: enc_1\.conv\.mask_conv\.weight is not all ones"):
        convert_port_state_dict(broken)
    torch.save({"n_iter": 7, "model": broken, "optimizer": optimizer}, path)
    with pytest.raises(WeightsError) as refused:  # through the loader: one line naming the file and the key
        load_weights(fresh, path)
    assert str(refused.value).startswith(f"{path}: PConv checkpoint: enc_1.conv.mask_conv.weight is not all ones")
    assert "\n" not in str(refused.value)
    with pytest.raises(WeightsError, match=r"unexpected key enc_1\.attention\.weight"):
        convert_port_state_dict({**tiny_port_state_dict(tiny), "enc_1.attention.weight": torch.zeros(1)})


def test_architecture_follows_the_paper():
    net = PConvUNet(layer_size=7)
    kernels = [getattr(net, f"enc_{i}").conv.kernel_size[0] for i in range(1, 8)]
    assert kernels == [7, 5, 5, 3, 3, 3, 3]
    assert net.enc_1.bn is None and net.dec_1.bn is None and net.dec_1.act is None
    assert isinstance(net.enc_3.act, nn.ReLU) and net.dec_3.act.negative_slope == 0.2
    assert net.dec_1.conv.bias is not None and net.dec_2.conv.bias is None
    assert net.dec_1.conv.in_channels == 64 + 3
