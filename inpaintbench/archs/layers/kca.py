"""Knowledge-consistent attention (KCA) of RFR-Net (Li et al., CVPR 2020), as the official code computes it.

Every spatial position of the feature map F (B,C,h,w) is both a query and a key; there is no
separate background and holes are not excluded, because their features are being filled in by the
recurrence. For each sample:

1. keys K = (F + 1e-7) / ||F + 1e-7|| over channels (unit vectors); queries are F itself, unnormalised;
2. scores S[k, q] = <K_k, F_q> (1x1 "patches");
3. propagation: S <- 3x3 box *sum* over neighbouring query positions for the same key, zero padded
   (the official `9 * avg_pool2d(S, 3, 1, 1)`; not DeepFill's diagonal fusion);
4. A = softmax over keys, temperature 1;
5. knowledge consistency (from the second call of one forward pass on): with the learnable scalar
   r and the previous call's blended scores A' and mask M' (1 = valid),
   A <- (A' * M' + A * (|r| + 1e-7)) / (M' + |r| + 1e-7),
   i.e. a 1 : |r| mean of old and new scores where the query was valid before, the new scores elsewhere;
6. output O_q = sum_k A[k, q] K_k: a weighted sum of the *normalised* keys.

`AttentionModule` adds the official 1x1 combiner (with bias) over cat[O, F]; there is no residual.

Deliberate deviations from the official `modules/Attention.py` (numerics equal up to float rounding):
- Batched (`bmm` over the batch) instead of a Python loop over samples with one conv per sample.
- The score history is explicit state passed in and returned (`KCAState`), not attributes that the
  caller must reset: nothing leaks between forward passes, and the module is re-entrant. As in the
  official code the history is not detached, so gradients reach earlier iterations.
- The mask is resized whenever its height or width differs from the features' (the official code
  checks the width only); nearest, like the official `F.interpolate` default.
- Runs on any device: the official layer builds an unused `.cuda()` kernel on its first call.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KEY_EPS = 1e-7  # added to every key element before normalising (official constant)
RATIO_EPS = 1e-7  # keeps the blend weight |r| + eps positive (official constant)


class KCAState(NamedTuple):
    """What one KCA call hands to the next call within the same forward pass."""

    scores: Tensor  # (B, h*w keys, h, w queries): the blended attention scores
    mask: Tensor  # (B, 1, h, w): the mask (1 = valid) this call was given, at the attention's resolution


def normalised_keys(features: Tensor) -> Tensor:
    """(B,C,h,w) -> (B,C,h*w): every position's feature vector plus 1e-7, scaled to unit length."""
    keys = features.flatten(2) + KEY_EPS
    return keys / torch.sum(keys**2, dim=1, keepdim=True) ** 0.5


def propagate(scores: Tensor, size: int) -> Tensor:
    """Sum scores over a size x size neighbourhood of query positions, per key, zero padded."""
    if size == 1:
        return scores
    return F.avg_pool2d(scores, size, stride=1, padding=size // 2) * (size * size)


def blend_scores(previous: Tensor, previous_mask: Tensor, current: Tensor, ratio: Tensor) -> Tensor:
    """Knowledge consistency: (A' M' + A w) / (M' + w) with w = |r| + 1e-7."""
    weight = torch.abs(ratio) + RATIO_EPS
    return (previous * previous_mask + current * weight) / (previous_mask + weight)


class KnowledgeConsistentAttention(nn.Module):
    """Self-attention over 1x1 feature patches whose scores are carried across recurrent iterations."""

    def __init__(self, propagate_size: int = 3) -> None:
        super().__init__()
        if propagate_size < 1 or propagate_size % 2 == 0:
            raise ValueError(f"propagate_size must be a positive odd number, got {propagate_size}")
        self.propagate_size = propagate_size
        # Weight of the current scores against the previous ones (1 : |ratio|); 1 at init, as official.
        self.ratio = nn.Parameter(torch.ones(1))

    def forward(self, features: Tensor, mask: Tensor, state: KCAState | None = None) -> tuple[Tensor, KCAState]:
        """features (B,C,h,w), mask (B,1,H',W') 1 = valid; returns the attended features and the new state."""
        batch, channels, height, width = features.shape
        if mask.shape[-2:] != (height, width):
            mask = F.interpolate(mask, size=(height, width), mode="nearest")
        keys = normalised_keys(features)
        scores = torch.bmm(keys.transpose(1, 2), features.flatten(2))  # (B, keys, queries)
        scores = propagate(scores.view(batch, height * width, height, width), self.propagate_size)
        attention = torch.softmax(scores, dim=1)
        if state is not None:
            attention = blend_scores(state.scores, state.mask, attention, self.ratio)
        out = torch.bmm(keys, attention.view(batch, height * width, height * width))
        return out.view(batch, channels, height, width), KCAState(attention, mask)


class AttentionModule(nn.Module):
    """KCA followed by the official 1x1 combiner (with bias) over cat[attention output, input]."""

    def __init__(self, channels: int, propagate_size: int = 3) -> None:
        super().__init__()
        self.att = KnowledgeConsistentAttention(propagate_size)
        self.combiner = nn.Conv2d(2 * channels, channels, kernel_size=1)

    def forward(self, features: Tensor, mask: Tensor, state: KCAState | None = None) -> tuple[Tensor, KCAState]:
        attended, state = self.att(features, mask, state)
        return self.combiner(torch.cat([attended, features], dim=1)), state
