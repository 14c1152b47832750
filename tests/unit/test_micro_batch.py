"""`layers.micro_batch.micro_batched`: which batches it splits, and that a per-sample function's
outputs come back exactly as the unsplit call gives them (Tensor and tuple outputs)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from inpaintbench.archs.layers.micro_batch import micro_batched


class PerSample:
    """A function of (image, mask) that treats every sample alone, with exact arithmetic (no sums whose
    order could depend on the batch), recording the batch size of every call."""

    def __init__(self, as_tuple: bool) -> None:
        self.as_tuple, self.calls = as_tuple, []

    def __call__(self, x: Tensor, mask: Tensor) -> Tensor | tuple[Tensor, ...]:
        self.calls.append(x.shape[0])
        peak = x.amax(dim=(1, 2, 3), keepdim=True)
        filled = x * (1 - mask) + peak * mask
        return (filled, peak.flatten()) if self.as_tuple else filled


def inputs(batch: int, device: str = "cpu") -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(batch)
    x = torch.rand(batch, 3, 8, 8, generator=g)
    mask = (torch.rand(batch, 1, 8, 8, generator=g) > 0.5).float()
    return x.to(device), mask.to(device)


NO_AUTOGRAD: dict[str, Callable[[], contextlib.AbstractContextManager]] = {
    "no_grad": torch.no_grad,
    "inference_mode": torch.inference_mode,
}


@pytest.mark.parametrize("as_tuple", [False, True], ids=["tensor", "tuple"])
@pytest.mark.parametrize("mode", NO_AUTOGRAD)
def test_a_cpu_batch_without_autograd_runs_in_parts_and_equals_the_whole_call(as_tuple: bool, mode: str) -> None:
    x, mask = inputs(5)
    split, whole = PerSample(as_tuple), PerSample(as_tuple)
    with NO_AUTOGRAD[mode]():
        got = micro_batched(split, x, mask, step=2)
        expected = whole(x, mask)
    assert split.calls == [2, 2, 1]
    if as_tuple:
        assert isinstance(got, tuple) and len(got) == len(expected) == 2
        for part, reference in zip(got, expected, strict=True):
            assert torch.equal(part, reference)
    else:
        assert isinstance(got, Tensor) and torch.equal(got, expected)


@pytest.mark.parametrize(
    ("batch", "step", "grad", "device"),
    [
        (5, 2, True, "cpu"),  # autograd on: a training step keeps its one pass
        (2, 2, False, "cpu"),  # batch not larger than step
        (1, 2, False, "cpu"),
        (5, None, False, "cpu"),  # no step set
        (5, 0, False, "cpu"),
        (5, 2, False, "meta"),  # not a CPU (meta tensors stand in for an accelerator)
    ],
)
def test_whole_batches_run_in_one_call(batch: int, step: int | None, grad: bool, device: str) -> None:
    x, mask = inputs(batch, device)
    function = PerSample(as_tuple=True)
    with torch.set_grad_enabled(grad):
        got = micro_batched(function, x, mask, step=step)
    assert function.calls == [batch]
    assert got[0].shape == x.shape and got[1].shape == (batch,)


def test_a_batch_one_tensor_is_broadcast_to_every_part() -> None:
    """One mask for every image (as DeepFill's official server graph feeds it) gives what the whole
    call gives, not parts sliced to nothing."""
    x, mask = inputs(4)
    function = PerSample(as_tuple=False)
    with torch.no_grad():
        got = micro_batched(function, x, mask[:1], step=2)
    assert function.calls == [2, 2]
    assert torch.equal(got, PerSample(as_tuple=False)(x, mask[:1]))


def test_tensors_of_different_batch_sizes_are_refused_when_split() -> None:
    x, mask = inputs(4)
    with torch.no_grad(), pytest.raises(ValueError, match=r"one batch size \(or 1\), got \[4, 3\]"):
        micro_batched(PerSample(as_tuple=False), x, mask[:3], step=2)
