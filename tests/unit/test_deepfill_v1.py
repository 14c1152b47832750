"""DeepFill v1 architecture: contract, TF padding, conventions, parameter counts, checkpoint conversion."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import official_keys

from inpaintbench import create_model, list_models
from inpaintbench.archs.deepfill_v1 import (
    DeepFillV1,
    convert_port_state_dict,
    global_critic,
    local_critic,
    port_key_to_tf_name,
)
from inpaintbench.archs.layers.tf_padding import Conv2dSame, same_padding
from inpaintbench.weights import load_weights, save_safetensors

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is fastest on a shared CPU


def box_batch(n: int = 2, height: int = 64, width: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, height, width, generator=gen)
    mask = torch.zeros(n, 1, height, width)
    mask[0, :, height // 4 : height // 2, width // 3 : width // 2 + 4] = 1
    mask[-1, :, height // 2 : height - 5, 3 : width // 3] = 1
    return image, mask


@pytest.fixture(scope="module")
def tiny() -> DeepFillV1:
    torch.manual_seed(0)
    return create_model("deepfill_v1_tiny").eval()


# --- registry and contract -----------------------------------------------------------------------


def test_registered_names() -> None:
    assert {"deepfill_v1", "deepfill_v1_tiny"} <= set(list_models("deepfill*"))


# --- official conventions on hand-made cases ----------------------------------------------------


def test_pre_and_post_processing_by_hand() -> None:
    image = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)  # RGB
    x = DeepFillV1.to_network(image)
    assert x.flatten().tolist() == [-1.0, 0.0, 1.0]  # BGR in [-1, 1]
    assert torch.equal(DeepFillV1.from_network(x), image)


def test_network_input_is_bgr_zeroed_holes_ones_and_mask(tiny: DeepFillV1) -> None:
    seen = {}
    handle = tiny.coarse.conv1.register_forward_pre_hook(lambda _m, args: seen.update(x=args[0]))
    image = torch.zeros(1, 3, 8, 8)
    image[:, 0] = 1.0  # pure red
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:5, 3:6] = 1
    try:
        tiny.inpaint(image, mask)
    finally:
        handle.remove()
    x = seen["x"]
    assert x.shape == (1, 5, 8, 8)
    known = 1 - mask[0, 0]
    assert torch.equal(x[0, 0], -known)  # B = -1 outside, 0 in the hole
    assert torch.equal(x[0, 2], known)  # R = +1 outside, 0 in the hole
    assert torch.equal(x[0, 3], torch.ones(8, 8))
    assert torch.equal(x[0, 4], mask[0, 0])


def test_output_is_clipped_not_squashed() -> None:
    model = DeepFillV1(cnum=8)
    with torch.no_grad():
        model.refine.allconv17.bias.fill_(5.0)
        model.refine.allconv17.weight.zero_()
    image, mask = box_batch(1, 32, 32)
    assert torch.equal(model.inpaint(image, mask), torch.ones_like(image))


# --- TF 'SAME' padding ---------------------------------------------------------------------------


def test_same_padding_values() -> None:
    assert same_padding(256, 3, 2) == (0, 1)
    assert same_padding(256, 5, 2) == (1, 2)
    assert same_padding(255, 3, 2) == (1, 1)
    assert same_padding(64, 3, 1, 16) == (16, 16)
    assert same_padding(64, 5, 1) == (2, 2)


@pytest.mark.parametrize(
    ("kernel", "stride", "dilation", "size"), [(3, 2, 1, 8), (5, 2, 1, 8), (3, 2, 1, 7), (3, 1, 2, 7), (5, 1, 1, 6)]
)
def test_conv2d_same_matches_a_loop(kernel: int, stride: int, dilation: int, size: int) -> None:
    torch.manual_seed(0)
    conv = Conv2dSame(2, 3, kernel, stride=stride, dilation=dilation).double()
    x = torch.randn(1, 2, size, size, dtype=torch.float64)
    out = conv(x).detach().numpy()[0]
    # TF 'SAME' by hand: output ceil(n/s); input row of output i, tap t is i·s + t·d - before
    before = ((-(-size // stride) - 1) * stride + dilation * (kernel - 1) + 1 - size) // 2
    n_out = -(-size // stride)
    w, b, xs = conv.weight.detach().numpy(), conv.bias.detach().numpy(), x.numpy()[0]
    ref = np.zeros((3, n_out, n_out))
    for o, i, j in itertools.product(range(3), range(n_out), range(n_out)):
        total = b[o]
        for c, ty, tx in itertools.product(range(2), range(kernel), range(kernel)):
            y, xx = i * stride + ty * dilation - before, j * stride + tx * dilation - before
            if 0 <= y < size and 0 <= xx < size:
                total += w[o, c, ty, tx] * xs[c, y, xx]
        ref[o, i, j] = total
    np.testing.assert_allclose(out, ref, atol=1e-10)
    if stride == 2 and size % 2 == 0:  # the symmetric PyTorch padding would not match
        sym = F.conv2d(x, conv.weight, conv.bias, stride=stride, padding=kernel // 2).detach().numpy()[0]
        assert np.abs(sym - ref).max() > 1e-3


# --- sizes and parameter counts -----------------------------------------------------------------


def test_parameter_counts() -> None:
    full = DeepFillV1(cnum=32)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(full) == 3_601_542
    assert count(full.coarse) == 1_448_227
    assert count(full.refine) == 2_153_315
    assert count(local_critic((128, 128))) == 4_339_329
    assert count(global_critic((256, 256))) == 2_733_441
    assert 100_000 < count(create_model("deepfill_v1_tiny")) < 500_000


def test_attention_runs_at_a_quarter_of_the_input(tiny: DeepFillV1) -> None:
    seen = {}
    handle = tiny.refine.contextual_attention.register_forward_pre_hook(
        lambda _m, args: seen.update(shapes=(args[0].shape, args[2].shape))
    )
    try:
        tiny.generate(torch.zeros(1, 3, 48, 64), torch.zeros(1, 1, 48, 64))
    finally:
        handle.remove()
    assert seen["shapes"] == (torch.Size([1, 32, 12, 16]), torch.Size([1, 1, 12, 16]))


def test_generate_rejects_unaligned_sizes(tiny: DeepFillV1) -> None:
    with pytest.raises(ValueError, match="multiples of 8"):
        tiny.generate(torch.zeros(1, 3, 60, 64), torch.zeros(1, 1, 60, 64))


# --- checkpoint conversion ----------------------------------------------------------------------


def test_synthetic_port_checkpoint_loads_strictly_into_the_full_model(tmp_path: Path) -> None:
    keys = official_keys("deepfill_v1")
    assert len(keys) == 104
    gen = torch.Generator().manual_seed(0)
    port = {k: torch.randn(shape, generator=gen) for k, shape in keys.items()}
    path = tmp_path / "torch_model.pt"
    torch.save(port, path)
    model = create_model("deepfill_v1")
    load_weights(model, path)  # strict, through checkpoint_filter_fn; critic keys are dropped
    ours = model.state_dict()
    assert torch.equal(ours["coarse.conv13_upsample.weight"], port["coarse_generator.conv13.conv.weight"])
    assert torch.equal(ours["refine.xconv2_downsample.bias"], port["fine_generator.conv2_downsample.conv.bias"])
    assert torch.equal(ours["refine.pmconv6.weight"], port["fine_generator.pmconv6.conv.weight"])
    assert torch.equal(ours["refine.allconv15_upsample.weight"], port["fine_generator.allconv15.conv.weight"])
    # the Trainer-level layout (netG. prefix) converts to the same dict
    prefixed = {("netG." + k if k.startswith(("coarse", "fine")) else k): v for k, v in port.items()}
    converted = convert_port_state_dict(prefixed)
    assert converted.keys() == ours.keys()
    assert all(torch.equal(converted[k], ours[k]) for k in ours)


def test_our_exported_layout_passes_through(tmp_path: Path, tiny: DeepFillV1) -> None:
    path = tmp_path / "deepfill_v1_tiny.test.safetensors"
    save_safetensors(tiny.state_dict(), path)
    torch.manual_seed(99)
    other = create_model("deepfill_v1_tiny")
    load_weights(other, path)
    image, mask = box_batch(1, 32, 40)
    assert torch.equal(other.inpaint(image, mask), tiny.inpaint(image, mask))


def test_rgb_port_checkpoint_is_channel_reversed(tiny: DeepFillV1) -> None:
    """Weights trained on RGB, converted for our BGR-fed network, behave like the RGB network."""
    ours_to_port = {v: k for k, v in _port_map().items()}
    port = {ours_to_port[k]: v for k, v in tiny.state_dict().items()}
    rgb_model = DeepFillV1(cnum=8, checkpoint_channel_order="rgb")
    rgb_model.load_state_dict(rgb_model.checkpoint_filter_fn(port), strict=True)
    w_ours, w_port = rgb_model.coarse.conv1.weight, port["coarse_generator.conv1.conv.weight"]
    assert torch.equal(w_ours[:, :3], w_port[:, [2, 1, 0]]) and torch.equal(w_ours[:, 3:], w_port[:, 3:])
    assert torch.equal(rgb_model.refine.allconv17.bias, port["fine_generator.allconv17.conv.bias"].flip(0))
    # tiny fed BGR == rgb_model fed with channels swapped twice: predict(x) = flip(tiny.predict(flip(x)))
    image, mask = box_batch(2, 32, 32)
    expected = tiny.inpaint(image.flip(1), mask).flip(1)
    assert torch.allclose(rgb_model.inpaint(image, mask), expected, atol=1e-5)


def _port_map() -> dict[str, str]:
    from inpaintbench.archs.deepfill_v1 import port_key_to_ours

    return port_key_to_ours(8)


def test_tf_variable_names() -> None:
    keys = [k for k in official_keys("deepfill_v1") if k.startswith(("coarse_generator", "fine_generator"))]
    names = [port_key_to_tf_name(k) for k in keys]
    assert len(set(names)) == 84
    assert (
        port_key_to_tf_name("coarse_generator.conv13.conv.weight")
        == "inpaint_net/conv13_upsample/conv13_upsample_conv/kernel"
    )
    assert port_key_to_tf_name("fine_generator.conv7_atrous.conv.bias") == "inpaint_net/xconv7_atrous/bias"
    assert port_key_to_tf_name("fine_generator.allconv11.conv.weight") == "inpaint_net/allconv11/kernel"
    assert port_key_to_tf_name("coarse_generator.conv2_downsample.conv.weight") == "inpaint_net/conv2_downsample/kernel"
    with pytest.raises(KeyError):
        port_key_to_tf_name("localD.linear.weight")


# --- devices -------------------------------------------------------------------------------------


def test_tf_variables_convert_with_the_hwio_transform() -> None:
    """A TF kernel (HWIO) on NHWC input with TF 'SAME' stride 2 == our converted layer on NCHW."""
    generator_prefixes = ("coarse_generator", "fine_generator")
    keys = {k: s for k, s in official_keys("deepfill_v1").items() if k.startswith(generator_prefixes)}
    gen = torch.Generator().manual_seed(0)
    tf_vars = {}
    for key, shape in keys.items():
        tf_shape = (shape[2], shape[3], shape[1], shape[0]) if key.endswith("weight") else shape
        tf_vars[port_key_to_tf_name(key)] = torch.randn(tf_shape, generator=gen)
    tf_vars["discriminator/dout_global_fc/kernel"] = torch.zeros(65536, 1)  # ignored
    model = create_model("deepfill_v1")
    model.load_state_dict(model.checkpoint_filter_fn(tf_vars), strict=True)
    kernel = tf_vars["inpaint_net/conv2_downsample/kernel"].double().numpy()  # [3, 3, 32, 64]
    bias = tf_vars["inpaint_net/conv2_downsample/bias"].double().numpy()
    x_nhwc = np.random.default_rng(0).standard_normal((1, 8, 8, 32))
    padded = np.pad(x_nhwc, [(0, 0), (0, 1), (0, 1), (0, 0)])  # TF 'SAME', k3 s2 on 8: 0 before, 1 after
    ref = np.zeros((1, 4, 4, 64))
    for i, j in itertools.product(range(4), range(4)):
        ref[0, i, j] = np.einsum("hwc,hwco->o", padded[0, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3], kernel) + bias
    layer = model.coarse.conv2_downsample.double()
    out = Conv2dSame.forward(layer, torch.from_numpy(x_nhwc).permute(0, 3, 1, 2))  # before the ELU
    np.testing.assert_allclose(out.detach().permute(0, 2, 3, 1).numpy(), ref, atol=1e-10)
    with pytest.raises(KeyError, match="lacks 1"):
        convert_port_state_dict({k: v for k, v in tf_vars.items() if k != "inpaint_net/conv1/kernel"})


def test_generate_returns_stages_and_offsets(tiny: DeepFillV1) -> None:
    image, mask = box_batch(2, 32, 40)
    x = DeepFillV1.to_network(image)
    x1, x2, offsets = tiny.generate(x, mask, return_offsets=True)
    assert x1.shape == x2.shape == x.shape and offsets.shape == (2, 2, 4, 5)
    assert x1.abs().max() <= 1 and x2.abs().max() <= 1
    assert torch.equal(DeepFillV1.from_network(x2), tiny.predict(image, mask))
