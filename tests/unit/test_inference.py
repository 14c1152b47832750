"""Inference-time preparation (archs.inference): same numbers as the model as built, faster graph.

Speed is measured in tools/benchmarks/model_speed.py (results/benchmarks/model_speed.md), not here.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest
import torch
from torch import nn

from inpaintbench import create_model, load_weights
from inpaintbench.archs.inference import (
    CPU_BATCH_SIZE,
    FoldedBatchNorm,
    default_batch_size,
    prepare_for_inference,
)
from inpaintbench.archs.pconv import PartialConvBlock
from inpaintbench.config import compose
from inpaintbench.evaluation.settings import SettingError, eval_settings
from tools import parity

ROOT = Path(__file__).resolve().parents[2]
ZOO = sorted((ROOT / "models").glob("*.safetensors"))
#: every official architecture, built at full width (sizes: PConv pads to a multiple of 128)
FULL = {"pconv_unet": 96, "rfr_net": 64, "lama_fourier": 64, "lama_big": 64, "deepfill_v1": 64}


def batch(size: int, n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    image = parity.smooth_images(3, n, size)
    boxes = [[size // 4, size // 5, size // 3, size // 2], [size // 2, 2, size // 4, size // 3]]
    mask = parity.box_holes(n, size, boxes[:n])
    return image * (1 - mask), mask


def assert_same_model_identity(prepared: nn.Module, model: nn.Module) -> None:
    assert list(prepared.state_dict()) == list(model.state_dict())
    assert sum(p.numel() for p in prepared.parameters()) == sum(p.numel() for p in model.parameters())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in prepared.modules()), "a BatchNorm was left unfolded"


@pytest.mark.parametrize("weights", ZOO, ids=lambda p: p.stem)
def test_zoo_models_prepared_equal_unprepared(weights: Path) -> None:
    model = create_model(weights.name.split(".")[0])
    load_weights(model, weights)
    model.eval()
    before = copy.deepcopy(model.state_dict())
    image, mask = batch(96)
    expected = model.inpaint(image, mask)
    prepared = prepare_for_inference(model)
    assert (prepared.inpaint(image, mask) - expected).abs().max() <= 1e-5
    assert_same_model_identity(prepared, model)
    after = model.state_dict()  # the model given (what training and the run identity see) is untouched
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(isinstance(m, FoldedBatchNorm) for m in model.modules())


@pytest.mark.slow  # 5-90 s each on a loaded 2-core machine (lama_big in float64)
@pytest.mark.parametrize("name", sorted(FULL))
def test_official_architectures_prepared_within_float32_rounding(name: str) -> None:
    """Full-width architectures, seeded weights and BatchNorm statistics, a small input: the prepared
    model is as close to the float64 result as the model as built is (seeded weights make some of them
    sensitive enough that float32 rounding alone moves outputs by more than 1e-5)."""
    model = create_model(name)
    model.load_state_dict(parity.seeded_state_dict(5, model.state_dict()))
    model.eval()
    image, mask = batch(FULL[name], n=1)
    today = model.inpaint(image, mask)
    exact = copy.deepcopy(model).double().inpaint(image.double(), mask.double())
    prepared = prepare_for_inference(model)
    assert_same_model_identity(prepared, model)
    noise = (today.double() - exact).abs().max()
    moved = (prepared.inpaint(image, mask).double() - exact).abs().max()
    assert moved <= 2 * noise + 1e-6, f"{name}: prepared {moved:.2e} from float64, as built {noise:.2e}"


def test_fold_into_conv_and_transposed_conv_matches_batch_norm() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.ConvTranspose2d(8, 4, 4, 2, 1),
        nn.BatchNorm2d(4),
    )
    for bn in (net[1], net[4]):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        nn.init.uniform_(bn.weight, 0.5, 1.5)
        nn.init.uniform_(bn.bias, -1, 1)
    net.eval()
    x = torch.randn(2, 3, 9, 11)
    for channels_last in (False, True):
        torch.testing.assert_close(
            prepare_for_inference(net, channels_last=channels_last)(x), net(x), rtol=0, atol=1e-6
        )
    prepared = prepare_for_inference(net, channels_last=False)
    assert isinstance(prepared[1], FoldedBatchNorm) and isinstance(prepared[4], FoldedBatchNorm)
    assert "bias" not in dict(prepared[0].named_parameters())  # the new bias is a buffer outside the state dict
    assert list(prepared.state_dict()) == list(net.state_dict())
    torch.testing.assert_close(prepared(x), net(x), rtol=0, atol=1e-6)


def test_partial_conv_shift_applies_in_empty_windows_too() -> None:
    """BatchNorm after a partial conv shifts every pixel, including windows with no valid input."""
    torch.manual_seed(1)
    block = PartialConvBlock(4, 6, 3, 1, 1, bn=True, activation="leaky_relu", bias=True).eval()
    block.bn.running_mean.uniform_(-1, 1)
    nn.init.uniform_(block.bn.bias, -1, 1)
    x = torch.randn(1, 4, 12, 12)
    valid = torch.ones(1, 1, 12, 12)
    valid[..., 2:9, 2:9] = 0  # windows fully inside the hole are empty
    expected, expected_mask = block(x, valid)
    prepared = prepare_for_inference(block, channels_last=False)
    got, got_mask = prepared(x, valid)
    assert bool((expected_mask == 0).any()) and torch.equal(got_mask, expected_mask)
    assert prepared.act.inplace and isinstance(prepared.bn, FoldedBatchNorm)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_non_modules_pass_through() -> None:
    telea = create_model("opencv_telea")
    assert prepare_for_inference(telea) is telea


def test_batch_size_auto_is_eight_on_cpu_and_regress_keeps_the_golden_batch() -> None:
    assert default_batch_size("cpu") == CPU_BATCH_SIZE == 8  # the former default: CPU run hashes unchanged
    assert default_batch_size("cuda") > 1
    assert eval_settings(compose("eval")).batch_size == 8
    assert eval_settings(compose("eval", ["batch_size=4"])).batch_size == 4
    assert compose("regress").batch_size == 8  # results/golden was made at batch 8 (part of the run hash)
    with pytest.raises(SettingError, match="compile="):
        eval_settings(compose("eval", ["compile=yes"]))


@pytest.mark.slow
def test_compile_gives_the_same_output_and_warns_on_a_cpu(caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    model = create_model("pconv_unet_tiny").eval()
    image, mask = batch(128, n=1)
    compiled = prepare_for_inference(model, compile=True)
    with caplog.at_level(logging.INFO, logger="inpaintbench.archs.inference"):
        out = compiled.inpaint(image, mask)
        compiled.inpaint(image, mask)  # compiled already: not logged
        compiled.inpaint(*batch(128, n=2))  # a new batch shape compiles again: logged too
    # compile replaces the prepared model's eager pass: the compiler's fusions may only round differently
    torch.testing.assert_close(out, prepare_for_inference(model).inpaint(image, mask), rtol=0, atol=1e-6)
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    compiles = [m for _, m in messages if m.startswith("torch.compile: ")]
    assert len(compiles) == 2 and "(1, 3, 128, 128)" in compiles[0] and "(2, 3, 128, 128)" in compiles[1]
    warnings = [m for level, m in messages if level == logging.WARNING and "compile=true on a CPU" in m]
    assert len(warnings) == 1 and messages.index((logging.WARNING, warnings[0])) == 0  # once, before compiling


def test_batch_norm_scale_shift_is_the_eval_mode_batch_norm() -> None:
    """The one fold arithmetic shared by model and metric-backbone preparation."""
    from inpaintbench.archs.layers.batch_norm import batch_norm_scale_shift

    torch.manual_seed(3)
    bn = nn.BatchNorm2d(5, eps=1e-3).eval()
    bn.running_mean.uniform_(-2, 2), bn.running_var.uniform_(0.1, 3)
    bn.weight.data.uniform_(0.5, 2), bn.bias.data.uniform_(-1, 1)
    x = torch.randn(2, 5, 4, 3, dtype=torch.float64)
    scale, shift = batch_norm_scale_shift(bn)
    assert torch.allclose(scale.view(1, -1, 1, 1) * x + shift.view(1, -1, 1, 1), bn.double()(x), atol=1e-12)
    with pytest.raises(ValueError, match="cannot fold"):
        batch_norm_scale_shift(nn.BatchNorm2d(5, affine=False))
