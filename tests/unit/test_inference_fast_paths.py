"""The inference-only fast paths of PConv and DeepFill v1 (issue 19) compute what the plain paths do.

Each fast path (one-pass nearest upsampling into the U-Net's concatenation buffer, TF 'SAME' padding
without a full fill, the attention-propagation sums without padded copies, DeepFill's one sample per
forward pass on a CPU) runs only without autograd; the plain path runs when gradients flow. Both are
compared here on seeded weights at sizes that need padding and at batch > 1. Speed is measured in
tools/benchmarks/ (results/benchmarks/model_speed.md, deepfill_vs_tensorflow.md), not here.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from inpaintbench import create_model
from inpaintbench.archs.inference import prepare_for_inference
from inpaintbench.archs.layers.contextual_attention import _fuse_diagonal
from inpaintbench.archs.layers.tf_padding import pad_same
from inpaintbench.archs.layers.upsample import upsample_nearest2x
from inpaintbench.archs.pconv import _masked_concat
from tools import parity

FORMATS = (torch.contiguous_format, torch.channels_last)


def holes(n: int, height: int, width: int) -> torch.Tensor:
    """A different box hole in every sample."""
    mask = torch.zeros(n, 1, height, width)
    for i in range(n):
        mask[i, :, 5 + 7 * i : height // 2 + 3 * i, width // 4 + 5 * i : width // 2 + 9 * i] = 1.0
    return mask


@pytest.mark.parametrize("memory_format", FORMATS)
def test_upsample_nearest2x_equals_interpolate_with_and_without_mask(memory_format: torch.memory_format) -> None:
    x = torch.randn(3, 5, 7, 9).to(memory_format=memory_format)
    mask = (torch.rand(3, 1, 7, 9) > 0.5).float()
    plain = upsample_nearest2x(x)
    assert torch.equal(plain, F.interpolate(x, scale_factor=2, mode="nearest"))
    assert plain.is_contiguous(memory_format=memory_format)
    assert torch.equal(upsample_nearest2x(x, mask), F.interpolate(x * mask, scale_factor=2, mode="nearest"))
    buffer = torch.full((3, 8, 14, 18), 7.0).to(memory_format=memory_format)
    upsample_nearest2x(x, mask, out=buffer[:, 2:7])  # into a channel slice, the rest untouched
    assert torch.equal(buffer[:, 2:7], F.interpolate(x * mask, scale_factor=2, mode="nearest"))
    assert torch.all(buffer[:, :2] == 7.0) and torch.all(buffer[:, 7:] == 7.0)
    with pytest.raises(ValueError, match="does not fit"):
        upsample_nearest2x(x, out=torch.empty(3, 5, 14, 17))


@pytest.mark.parametrize("memory_format", FORMATS)
@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation"), [(10, 3, 2, 1), (11, 5, 2, 1), (9, 4, 1, 1), (8, 3, 1, 2)]
)
def test_pad_same_equals_f_pad_values_format_and_gradient(
    memory_format: torch.memory_format, size: int, kernel: int, stride: int, dilation: int
) -> None:
    from inpaintbench.archs.layers.tf_padding import same_padding

    x = torch.randn(2, 3, size, size + 3).to(memory_format=memory_format).requires_grad_()
    top, bottom = same_padding(size, kernel, stride, dilation)
    left, right = same_padding(size + 3, kernel, stride, dilation)
    expected = F.pad(x, (left, right, top, bottom))
    padded = pad_same(x, kernel, stride, dilation)
    assert torch.equal(padded, expected)
    assert padded.is_contiguous(memory_format=memory_format)
    weights = torch.randn_like(expected)
    (grad,) = torch.autograd.grad((padded * weights).sum(), x)
    (expected_grad,) = torch.autograd.grad((expected * weights).sum(), x)
    assert torch.equal(grad, expected_grad)


def test_fuse_diagonal_fast_path_equals_padded_sums() -> None:
    scores = torch.randn(2, 30, 42)
    with torch.no_grad():
        fast = _fuse_diagonal(scores, 3)
        fast5 = _fuse_diagonal(scores, 5)
    plain = _fuse_diagonal(scores.requires_grad_(), 3)
    plain5 = _fuse_diagonal(scores, 5)
    assert plain.requires_grad
    assert torch.equal(fast, plain.detach()) and torch.equal(fast5, plain5.detach())
    manual = scores.detach().clone()
    manual[:, 1:, 1:] += scores.detach()[:, :-1, :-1]
    manual[:, :-1, :-1] += scores.detach()[:, 1:, 1:]
    assert torch.equal(fast, manual)


@pytest.mark.parametrize("memory_format", FORMATS)
def test_masked_concat_fast_path_equals_cat(memory_format: torch.memory_format) -> None:
    h = torch.randn(3, 6, 5, 7).to(memory_format=memory_format)
    mask = (torch.rand(3, 1, 5, 7) > 0.3).float()
    skip = torch.randn(3, 4, 10, 14)  # channels-first, as the input image is
    skip_mask = (torch.rand(3, 1, 10, 14) > 0.3).float()
    with torch.no_grad():
        fast = _masked_concat(h, mask, skip, skip_mask)
    plain = _masked_concat(h.requires_grad_(), mask, skip, skip_mask)
    assert plain.requires_grad
    assert torch.equal(fast, plain.detach())
    assert fast.is_contiguous(memory_format=memory_format)


@pytest.mark.parametrize("prepare", [False, True], ids=["as built", "prepared"])
def test_pconv_without_autograd_equals_the_autograd_path(prepare: bool) -> None:
    """Odd size (reflect-padded to 256), batch 3 with a different hole per sample, seeded weights."""
    model = create_model("pconv_unet_tiny")
    model.load_state_dict(parity.seeded_state_dict(3, model.state_dict()))
    model.eval()
    if prepare:
        model = prepare_for_inference(model)
    image, mask = parity.smooth_images(5, 3, 150)[..., :131], holes(3, 150, 131)
    with torch.no_grad():
        fast = model.inpaint(image, mask)
    with torch.enable_grad():  # the decoder's plain path (interpolate + cat) runs when gradients flow
        plain = model.inpaint(image.clone().requires_grad_(), mask).detach()
    tolerance = 0.0 if not prepare else 1e-6  # prepared: conv input formats differ between the paths
    assert (fast - plain).abs().max() <= tolerance


def test_deepfill_prepared_runs_one_sample_at_a_time_on_cpu() -> None:
    """Each sample's output is then exactly what it gets alone (independent of the batch), and within
    float32 rounding of the whole-batch pass (seeded weights, odd size, a different hole per sample)."""
    model = create_model("deepfill_v1_tiny")
    model.load_state_dict(parity.seeded_state_dict(4, model.state_dict()))
    model.eval()
    prepared = prepare_for_inference(model)
    assert prepared.cpu_micro_batch == 1 and model.cpu_micro_batch is None
    image, mask = parity.smooth_images(6, 3, 72)[..., :70], holes(3, 72, 70)  # reflect-padded to 72x72
    x, m = prepared.to_network(image[..., :64, :64]), mask[..., :64, :64]
    with torch.inference_mode():
        per_sample = prepared.inpaint(image, mask)
        alone = [prepared.inpaint(image[i : i + 1], mask[i : i + 1]) for i in range(3)]
        outputs = prepared.generate(x, m, return_offsets=True)
        outputs_alone = [prepared.generate(x[i : i + 1], m[i : i + 1], return_offsets=True) for i in range(3)]
        today = model.inpaint(image, mask)
        prepared.cpu_micro_batch = None
        whole_batch = prepared.inpaint(image, mask)
    assert torch.equal(per_sample, torch.cat(alone))
    for got, parts in zip(outputs, zip(*outputs_alone, strict=True), strict=True):
        assert torch.equal(got, torch.cat(parts))
    assert (per_sample - whole_batch).abs().max() <= 1e-5
    assert (per_sample - today).abs().max() <= 1e-5


@pytest.mark.parametrize("name", ["pconv_unet_tiny", "deepfill_v1_tiny", "rfr_net_tiny", "lama_tiny"])
def test_prepared_model_traces_into_one_graph_for_compile(name: str) -> None:
    """`compile=true` compiles the whole prediction: no inference fast path splits the traced graph
    (PConv's `out=` writes into a concatenation slice did, one graph per decoder level, and the
    compiled model then ran no faster than eager; results/benchmarks/compile_speed.md)."""
    model = prepare_for_inference(create_model(name).eval())
    size = 128 if name.startswith("pconv") else 32
    image, mask = torch.rand(2, 3, size, size), holes(2, size, size)
    torch._dynamo.reset()
    with torch.inference_mode():
        explained = torch._dynamo.explain(model.predict)(image, mask)
    assert explained.graph_break_count == 0, [str(b.reason).splitlines()[0] for b in explained.break_reasons]
    assert explained.graph_count == 1
