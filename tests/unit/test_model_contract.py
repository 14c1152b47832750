"""The inpainter contract, checked for every registered model (`list_models()`): a new family is
covered by registering it. What only one family does (its conventions, its official layout) stays in
that family's own test file.

The full-size variants run the same checks under `-m slow` (`make test-slow`): each forward pass of
a 30-50 M parameter model costs seconds on a shared CPU.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from inpaintbench import create_model, list_models
from inpaintbench.inpainter import blank_hole, complete, quantize_8bit
from inpaintbench.model_registry import is_learned, model_info

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread is fastest on a shared CPU


def _is_small(name: str) -> bool:
    info = model_info(name)
    return not info.learned or name.endswith("_tiny")


MODELS = [name if _is_small(name) else pytest.param(name, marks=pytest.mark.slow) for name in list_models()]
LEARNED = [
    name if _is_small(name) else pytest.param(name, marks=pytest.mark.slow)
    for name in list_models()
    if model_info(name).learned
]

_BUILT: dict[str, object] = {}


def built(name: str):
    """`create_model(name)` under seed 0, in eval mode; built once per test session."""
    if name not in _BUILT:
        torch.manual_seed(0)
        _BUILT[name] = create_model(name).eval()
    return _BUILT[name]


def odd_size(name: str) -> tuple[int, int]:
    """An odd, non-square size no variant divides, large enough for its padding (PConv 512: 131 x 157)."""
    side = max(67, model_info(name).size_multiple // 2 + 3)
    return side, side + 26


def batch(n: int, height: int, width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """8-bit images and a mask with a box hole plus scattered hole pixels, as the pipeline delivers them."""
    generator = torch.Generator().manual_seed(seed)
    image = quantize_8bit(torch.rand(n, 3, height, width, generator=generator))
    mask = (torch.rand(n, 1, height, width, generator=generator) > 0.8).float()
    mask[:, :, height // 4 : height // 2, width // 4 : width // 2] = 1.0
    return image, mask


@pytest.mark.parametrize("name", MODELS)
def test_registration_states_what_the_model_is(name: str) -> None:
    model, info = built(name), model_info(name)
    assert info.family and info.paper
    assert info.learned == is_learned(model) == isinstance(model, nn.Module)
    if info.learned:
        assert model.size_multiple == info.size_multiple
        assert type(model).__module__.startswith("inpaintbench.")
        if info.params is not None:
            assert sum(p.numel() for p in model.parameters()) == info.params
    else:
        assert info.size_multiple == 1 and info.params is None


@pytest.mark.parametrize("name", MODELS)
def test_odd_size_batch_gives_finite_predictions_in_range(name: str) -> None:
    image, mask = batch(3, *odd_size(name))
    pred = built(name).inpaint(blank_hole(image, mask), mask)
    assert pred.shape == image.shape and pred.dtype == torch.float32 and pred.device == image.device
    assert bool(torch.isfinite(pred).all()) and pred.min() >= 0 and pred.max() <= 1


@pytest.mark.parametrize("name", MODELS)
def test_compositing_keeps_known_pixels_and_fills_the_hole(name: str) -> None:
    image, mask = batch(2, *odd_size(name))
    completed = complete(image, mask, built(name).inpaint(blank_hole(image, mask), mask))
    known = mask.expand_as(image) == 0
    assert torch.equal(completed[known], image[known])
    assert not torch.equal(completed[~known], image[~known])


@pytest.mark.parametrize("name", LEARNED)
def test_training_entry_is_the_prediction_before_the_clamp(name: str) -> None:
    model = built(name)
    image, mask = batch(2, *odd_size(name))
    raw = model(image, mask)
    assert raw.requires_grad and raw.shape == image.shape
    assert torch.equal(raw.detach().clamp(0, 1), model.inpaint(image, mask))


@pytest.mark.parametrize("name", LEARNED)
def test_hole_content_does_not_reach_the_network(name: str) -> None:
    image, mask = batch(2, *odd_size(name))
    scribbled = torch.where(mask.bool().expand_as(image), torch.rand_like(image), image)
    assert torch.equal(built(name).inpaint(image, mask), built(name).inpaint(scribbled, mask))


@pytest.mark.parametrize("name", LEARNED)
def test_same_seed_same_weights_and_outputs_other_seed_differs(name: str) -> None:
    image, mask = batch(2, *odd_size(name))
    torch.manual_seed(0)
    again = create_model(name).eval()
    reference = built(name)
    state, other = reference.state_dict(), again.state_dict()
    assert state.keys() == other.keys() and all(torch.equal(state[k], other[k]) for k in state)
    out = reference.inpaint(image, mask)
    assert torch.equal(out, again.inpaint(image, mask))
    assert torch.equal(out, again.inpaint(image, mask))  # no state carried between calls
    torch.manual_seed(1)
    assert not torch.equal(out, create_model(name).eval().inpaint(image, mask))


@pytest.mark.parametrize("name", MODELS)
def test_batch_elements_are_independent(name: str) -> None:
    image, mask = batch(3, *odd_size(name), seed=5)
    model = built(name)
    together = model.inpaint(image, mask)
    for i in range(3):
        alone = model.inpaint(image[i : i + 1], mask[i : i + 1])
        torch.testing.assert_close(together[i : i + 1], alone, rtol=1e-4, atol=1e-4)  # float order only


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", MODELS)
def test_runs_on_cuda_like_on_cpu(name: str) -> None:
    image, mask = batch(2, *odd_size(name))
    expected = built(name).inpaint(image, mask)
    torch.manual_seed(0)
    on_gpu = create_model(name).eval().to("cuda")
    pred = on_gpu.inpaint(image.cuda(), mask.cuda())
    assert pred.device.type == "cuda"
    torch.testing.assert_close(pred.cpu(), expected, rtol=1e-3, atol=1e-3)
