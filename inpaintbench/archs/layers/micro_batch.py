"""A CPU batch run a few samples per pass, where one pass over the whole batch is slower.

On a CPU a sample's activations stay in cache when it runs alone (or with one other), where a whole
batch's do not (results/benchmarks/model_speed.md). The families that use this compute every sample
independently (eval-mode BatchNorm, per-sample attention), so each part's outputs are exactly what
that part gets alone; the concatenation differs from the whole-batch pass by float32 rounding only.
Only without autograd: a training step keeps its one pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor

__all__ = ["micro_batched"]

Output = TypeVar("Output", Tensor, tuple[Tensor, ...])


def micro_batched(function: Callable[..., Output], *tensors: Tensor, step: int | None) -> Output:
    """`function(*tensors)`, run over aligned slices of `step` samples and concatenated along the batch
    when the tensors are on a CPU, autograd is off and the batch is larger than `step` (None: never).

    `function` returns a Tensor or a tuple of Tensors, each with the batch as its first dimension. A
    tensor of batch 1 (e.g. one mask for every image) is broadcast to every part, as the whole call
    would broadcast it; other batch sizes must agree.
    """
    batch = max(t.shape[0] for t in tensors)
    split = step and batch > step and not torch.is_grad_enabled() and all(t.device.type == "cpu" for t in tensors)
    if not split:
        return function(*tensors)
    if any(t.shape[0] not in (1, batch) for t in tensors):
        raise ValueError(f"micro-batches need one batch size (or 1), got {[t.shape[0] for t in tensors]}")
    tensors = tuple(t.expand(batch, *t.shape[1:]) for t in tensors)
    parts = [function(*(t[i : i + step] for t in tensors)) for i in range(0, batch, step)]
    if isinstance(parts[0], Tensor):
        return torch.cat(parts)
    return tuple(torch.cat(outputs) for outputs in zip(*parts, strict=True))
