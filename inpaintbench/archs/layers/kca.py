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
- Propagation (step 3) sums the *query features* over the 3x3 neighbourhood before the score product
  (<K_k, sum_q' F_q'> = sum_q' <K_k, F_q'>, zero padding included), instead of box-filtering the
  (h*w)-channel score map: the same sums on a C-channel map (512 vs 1024 channels at 256 input).
  The scores live as (B, queries, keys) in memory, so the softmax over keys is contiguous;
  `KCAState.scores` is a (B, keys, h, w) view of them. The blend divides once per query (`blend_scores`).
  Together 1.7x faster attention; outputs move by float32 rounding only (issue 19, model_speed.md).
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


def box_sum(features: Tensor, size: int) -> Tensor:
    """Sum over the size x size neighbourhood of every position, zero padded: (B,C,h,w) -> (B,C,h,w).

    Separable (rows, then columns), as slices of one padded copy.
    """
    if size == 1:
        return features
    radius = size // 2
    height, width = features.shape[-2:]
    padded = F.pad(features, (radius, radius, radius, radius))
    rows = padded[..., :, :width]
    for dx in range(1, size):
        rows = rows + padded[..., :, dx : dx + width]
    summed = rows[..., :height, :]
    for dy in range(1, size):
        summed = summed + rows[..., dy : dy + height, :]
    return summed


def blend_scores(previous: Tensor, previous_mask: Tensor, current: Tensor, ratio: Tensor) -> Tensor:
    """Knowledge consistency: (A' M' + A w) / (M' + w) with w = |r| + 1e-7, M' broadcast over keys.

    Written as A' (M' / (M' + w)) + A (w / (M' + w)) so the division runs once per query, not per
    score; where M' = 0 the second factor is exactly 1 and A passes through unchanged.
    """
    weight = torch.abs(ratio) + RATIO_EPS
    total = previous_mask + weight
    return torch.addcmul(current * (weight / total), previous, previous_mask / total)


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
        keys = normalised_keys(features)  # (B, C, keys)
        # Propagation sums the scores of neighbouring queries for each key; the score is linear in the
        # query, so summing the neighbouring query features first gives the same sums with C/(h*w) of
        # the work. Scores are laid out (B, queries, keys): the softmax over keys runs along memory.
        queries = box_sum(features, self.propagate_size).flatten(2)  # (B, C, queries)
        attention = torch.softmax(torch.bmm(queries.transpose(1, 2), keys), dim=2)
        if state is not None:
            previous = state.scores.flatten(2).transpose(1, 2)  # (B, queries, keys), a view
            attention = blend_scores(previous, state.mask.flatten(1).unsqueeze(2), attention, self.ratio)
        out = torch.bmm(keys, attention.transpose(1, 2))
        scores = attention.transpose(1, 2).view(batch, height * width, height, width)  # (B, keys, h, w) view
        return out.view(batch, channels, height, width), KCAState(scores, mask)


class AttentionModule(nn.Module):
    """KCA followed by the official 1x1 combiner (with bias) over cat[attention output, input]."""

    def __init__(self, channels: int, propagate_size: int = 3) -> None:
        super().__init__()
        self.att = KnowledgeConsistentAttention(propagate_size)
        self.combiner = nn.Conv2d(2 * channels, channels, kernel_size=1)

    def forward(self, features: Tensor, mask: Tensor, state: KCAState | None = None) -> tuple[Tensor, KCAState]:
        attended, state = self.att(features, mask, state)
        return self.combiner(torch.cat([attended, features], dim=1)), state
