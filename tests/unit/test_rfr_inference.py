"""RFR-Net's faster paths (issue 19) against the paths they replace: same numbers up to float32 rounding.

- the knowledge-consistent attention (propagation on query features, scores stored queries x keys)
  against a transcription of the official `modules/Attention.py` loop;
- `MatmulConvTranspose2d` against `nn.ConvTranspose2d`;
- the prepared zoo RFR-Net (chunked CPU batches) against the model as `main` built it before
  (official attention, oneDNN transposed convolutions, whole batch), at a size that is not a
  multiple of 16 and batch > 1.
"""

from __future__ import annotations

import copy
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintbench import create_model, load_weights
from inpaintbench.archs.inference import CPU_MICRO_BATCH, prepare_for_inference
from inpaintbench.archs.layers.kca import KCAState, KnowledgeConsistentAttention
from inpaintbench.archs.layers.matmul_conv_transpose import MAX_COLUMNS, MatmulConvTranspose2d
from inpaintbench.archs.rfr import RFRNet
from tools import parity

ROOT = Path(__file__).resolve().parents[2]
RFR_ZOO = ROOT / "models" / "rfr_net_tiny.sample_v1.safetensors"


def official_kca(
    layer: KnowledgeConsistentAttention, features: Tensor, mask: Tensor, state: KCAState | None
) -> tuple[Tensor, KCAState]:
    """The official forward (one conv per sample over normalised 1x1 kernels, 9 * avg_pool over the
    (h*w)-channel score map, softmax over keys, blend, transposed conv), with our explicit state."""
    bz, nc, h, w = features.shape
    if mask.shape[-2:] != (h, w):
        mask = F.interpolate(mask, size=(h, w), mode="nearest")
    kernels_all = features.reshape(bz, nc, h * w, 1, 1).permute(0, 2, 1, 3, 4)
    outputs, scores = [], []
    for i in range(bz):
        kernels = kernels_all[i] + 1e-7
        kernels = kernels / torch.sum(kernels**2, [1, 2, 3], keepdim=True) ** 0.5
        result = F.conv2d(features[i : i + 1], kernels)
        result = F.avg_pool2d(result, 3, 1, padding=1) * 9
        attention = F.softmax(result, dim=1)
        if state is not None:
            weight = torch.abs(layer.ratio) + 1e-7
            attention = (state.scores[i : i + 1] * state.mask[i : i + 1] + attention * weight) / (
                state.mask[i : i + 1] + weight
            )
        scores.append(attention)
        outputs.append(F.conv_transpose2d(attention, kernels))
    return torch.cat(outputs), KCAState(torch.cat(scores).view(bz, h * w, h, w), mask.view(bz, 1, h, w))


def test_attention_equals_the_official_loop_over_recurrent_calls() -> None:
    """Odd size, batch 3, three calls carrying the score history, masks that grow: new path = official."""
    torch.manual_seed(0)
    layer = KnowledgeConsistentAttention(3)
    with torch.no_grad():
        layer.ratio.fill_(-0.6)
    calls = [
        (torch.randn(3, 24, 5, 7).relu() * 2, (torch.rand(3, 1, 20, 28) > 0.6 - 0.3 * step).float())
        for step in range(3)
    ]  # post-ReLU-like features (positive scores of some size); masks at 4x the attention's resolution

    def run(forward) -> list[tuple[Tensor, KCAState]]:
        state, results = None, []
        with torch.no_grad():
            for features, mask in calls:
                out, state = forward(features, mask, state)
                results.append((out, state))
        return results

    ours = run(layer)
    for (out, state), (expected, official) in zip(ours, run(lambda f, m, s: official_kca(layer, f, m, s)), strict=True):
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(state.scores, official.scores, rtol=1e-5, atol=1e-6)
        assert state.scores.shape == (3, 35, 5, 7) and torch.equal(state.mask, official.mask)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(ours, run(layer), strict=True))  # deterministic


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation", "output_padding", "bias"),
    [
        (4, 2, 1, 1, 0, False),
        (4, 2, 1, 1, 0, True),
        (3, 2, 1, 1, 1, True),
        (3, 1, 2, 2, 0, False),
        ((2, 5), 3, 0, 1, 2, True),
    ],
)
def test_matmul_conv_transpose_equals_the_module(kernel, stride, padding, dilation, output_padding, bias) -> None:
    torch.manual_seed(1)
    conv = nn.ConvTranspose2d(6, 5, kernel, stride, padding, output_padding, bias=bias, dilation=dilation).eval()
    fast = MatmulConvTranspose2d(conv)
    assert list(fast.state_dict()) == list(conv.state_dict())  # a prepared model keeps its keys
    small = torch.randn(3, 6, 7, 9)  # 189 pixels: the matmul path
    large = torch.randn(3, 6, 15, 13)  # 585 > MAX_COLUMNS: oneDNN's path
    assert small[:, 0].numel() <= MAX_COLUMNS < large[:, 0].numel()
    for x in (small, large):
        with torch.no_grad():
            expected, got = conv(x), fast(x)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
        assert torch.equal(fast(x), got)  # deterministic


def test_matmul_conv_transpose_refuses_groups() -> None:
    with pytest.raises(ValueError, match="groups=1"):
        MatmulConvTranspose2d(nn.ConvTranspose2d(4, 4, 3, groups=2))


def as_main_built_it(model: nn.Module) -> nn.Module:
    """The model with the attention of `main` before issue 19 (the official loop's arithmetic)."""
    old = copy.deepcopy(model)
    att = old.RFRModule.att.att
    att.forward = types.MethodType(lambda self, f, m, s=None: official_kca(self, f, m, s), att)
    return old


@pytest.mark.skipif(not RFR_ZOO.exists(), reason="zoo checkpoint missing")
def test_prepared_zoo_rfr_equals_the_former_path() -> None:
    """Trained weights, 72x100 (padded to 80x112), batch 3 (run as chunks of 2 + 1): prepared now vs
    the model as built before, <= 1e-5; whole-batch and chunked passes agree as closely."""
    model = create_model("rfr_net_tiny")
    load_weights(model, RFR_ZOO)
    model.eval()
    image = parity.smooth_images(5, 3, 112)[..., :72, :100].contiguous()
    boxes = [[20, 30, 25, 40], [50, 4, 20, 30], [0, 60, 40, 40]]
    mask = parity.box_holes(3, 112, boxes)[..., :72, :100].contiguous()
    image = image * (1 - mask)
    before = as_main_built_it(model).inpaint(image, mask)
    prepared = prepare_for_inference(model)
    assert model.cpu_micro_batch is None and prepared.cpu_micro_batch == CPU_MICRO_BATCH[RFRNet] < image.shape[0]
    now = prepared.inpaint(image, mask)
    assert (now - before).abs().max() <= 1e-5
    assert torch.equal(prepared.inpaint(image, mask), now)  # deterministic
    whole = copy.copy(prepared)
    whole.cpu_micro_batch = None
    assert (whole.inpaint(image, mask) - now).abs().max() <= 1e-5
