"""Eval-mode BatchNorm as an affine map, for folding it into the convolution before it.

One home for the arithmetic shared by model preparation (`archs.inference`) and metric-backbone
preparation (`metrics.prepare`): y = scale * x + shift, computed in float64.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["batch_norm_scale_shift"]


def batch_norm_scale_shift(bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """(scale, shift) in float64 with bn(x) == scale * x + shift per channel in eval mode; a
    BatchNorm without running statistics or affine parameters cannot be folded (ValueError)."""
    if bn.running_mean is None or bn.running_var is None or not bn.affine:
        raise ValueError(f"cannot fold {bn}: it needs running statistics and an affine transform")
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    shift = bn.bias.double() - bn.running_mean.double() * scale
    return scale, shift
