"""LaMa generator and its contract wrapper: official layout, conventions, shapes, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import official_keys
from torch import nn

from inpaintbench import create_model, list_models
from inpaintbench.weights import load_weights

PARAMS = {"lama_fourier": 27_048_835, "lama_big": 50_975_875}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is fastest on a shared CPU


def _synthetic_official_state(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in official_keys(name).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7, dtype=torch.int64)
        else:
            state[key] = torch.randn(shape, generator=generator)
    return state


def _batch(n: int, height: int, width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, height, width, generator=generator)
    mask = (torch.rand(n, 1, height, width, generator=generator) > 0.6).float()
    return image, mask


def test_variants_are_registered() -> None:
    assert {"lama_fourier", "lama_big", "lama_tiny"} <= set(list_models("lama_*"))


@pytest.mark.parametrize("name", ["lama_fourier", "lama_big"])
def test_full_parameter_count_and_official_keys(name: str) -> None:
    model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == PARAMS[name]
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    official = {k.removeprefix("generator."): v for k, v in official_keys(name).items()}
    assert ours == official


def test_tiny_is_small_with_the_same_structure() -> None:
    tiny, full = create_model("lama_tiny"), create_model("lama_fourier")
    assert 100_000 < sum(p.numel() for p in tiny.parameters()) < 1_000_000
    assert [type(m).__name__ for m in tiny.model[:5]] == [type(m).__name__ for m in full.model[:5]]
    assert [type(m).__name__ for m in tiny.model[-9:]] == [type(m).__name__ for m in full.model[-9:]]


def test_official_lightning_checkpoint_loads_strictly_into_lama_fourier(tmp_path: Path) -> None:
    """The .ckpt layout: `state_dict` with `generator.` keys plus evaluator/discriminator tensors to drop."""
    official = _synthetic_official_state("lama_fourier")
    extras = {
        "discriminator.model0.0.weight": torch.zeros(64, 3, 4, 4),
        "val_evaluator.scores.ssim.score.window": torch.zeros(3, 1, 11, 11),
    }
    path = tmp_path / "best.pt"
    torch.save({"epoch": 3, "global_step": 10, "state_dict": {**official, **extras}}, path)
    model = create_model("lama_fourier")
    load_weights(model, path)
    state = model.state_dict()
    for key in ("model.5.conv1.ffc.convg2g.fu.conv_layer.weight", "model.15.weight", "model.25.bias"):
        assert torch.equal(state[key], official["generator." + key])


def test_big_lama_converter_strips_prefix_and_loads_strict() -> None:
    official = _synthetic_official_state("lama_big", seed=1)
    model = create_model("lama_big")
    converted = model.checkpoint_filter_fn({**official, "loss_resnet_pl.impl.conv1.weight": torch.zeros(1)})
    model.load_state_dict(converted, strict=True)
    assert torch.equal(model.state_dict()["model.24.weight"], official["generator.model.24.weight"])
    # our own export (no prefix) passes through unchanged
    assert model.checkpoint_filter_fn(converted).keys() == converted.keys()


@pytest.mark.parametrize("size", [(64, 64), (16, 21)])  # odd sizes: test_model_contract.py
def test_output_shape_and_range_down_to_the_smallest_size(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = create_model("lama_tiny").eval()
    image, mask = _batch(3, *size)
    pred = model.inpaint(image, mask)
    assert pred.shape == image.shape
    assert pred.dtype == torch.float32
    assert torch.isfinite(pred).all() and pred.min() >= 0 and pred.max() <= 1


def test_too_small_images_get_a_clear_error() -> None:
    model = create_model("lama_tiny").eval()
    with pytest.raises(ValueError, match="at least 16x16"):
        model.inpaint(*_batch(1, 8, 17))


def test_runs_at_256_and_512_without_change() -> None:
    """Resolution robustness needs no model change: the same weights run at 256 and 512."""
    torch.manual_seed(0)
    model = create_model("lama_tiny").eval()
    for side in (256, 512):
        image, mask = _batch(1, side, side)
        assert model.inpaint(image, mask).shape == (1, 3, side, side)


class _RecordInput(nn.Module):
    """Stands in for the generator: remembers its input and returns the masked image channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.clone()
        return x[:, :3]


def test_pre_and_post_processing_follow_the_official_predict() -> None:
    """Input = [image * (1 - mask), mask], numpy-'symmetric' padded bottom/right to a multiple of 8, cropped back."""
    model = create_model("lama_tiny")
    model.model = _RecordInput()
    image, mask = _batch(2, 13, 10)
    pred = model.inpaint(image, mask)
    padding = ((0, 0), (0, 0), (0, 3), (0, 6))  # 13 -> 16, 10 -> 16
    expected_image = np.pad(image.numpy(), padding, mode="symmetric")
    expected_mask = np.pad(mask.numpy(), padding, mode="symmetric")
    seen = model.model.seen.numpy()
    assert seen.shape == (2, 4, 16, 16)
    np.testing.assert_array_equal(seen[:, 3:], expected_mask)
    np.testing.assert_array_equal(seen[:, :3], expected_image * (1 - expected_mask))
    torch.testing.assert_close(pred, image * (1 - mask))


def test_sigmoid_output_layer() -> None:
    model = create_model("lama_tiny")
    assert isinstance(model.model[-1], nn.Sigmoid)
    assert isinstance(model.model[-3], nn.ReflectionPad2d) and model.model[-3].padding == (3, 3, 3, 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda_like_on_cpu() -> None:
    torch.manual_seed(0)
    model = create_model("lama_tiny").eval()
    image, mask = _batch(2, 67, 93)
    expected = model.inpaint(image, mask)
    model = model.cuda()
    pred = model.inpaint(image.cuda(), mask.cuda())
    assert pred.device.type == "cuda"
    torch.testing.assert_close(pred.cpu(), expected, rtol=1e-3, atol=1e-3)
    with torch.autocast("cuda", dtype=torch.float16):
        half = model.inpaint(image.cuda(), mask.cuda())
    torch.testing.assert_close(half.float().cpu(), expected, rtol=2e-2, atol=2e-2)


def test_mixed_precision_keeps_the_fft_in_float32() -> None:
    """Under bfloat16 autocast the spectral branch runs in float32; the output stays close to fp32."""
    torch.manual_seed(0)
    model = create_model("lama_tiny").eval()
    image, mask = _batch(1, 32, 40)
    expected = model.inpaint(image, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pred = model.inpaint(image, mask)
    assert torch.isfinite(pred).all()
    torch.testing.assert_close(pred.float(), expected, rtol=0, atol=5e-2)
