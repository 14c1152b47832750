"""Contextual attention against a brute-force transcription of the official algorithm.

The reference below is written with explicit loops (patch extraction, cosine scores, propagation
over neighbouring matrix entries, masked softmax, weighted paste) and exact rational index maps, so
it shares no code with the vectorised layer.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inpaintbench.archs.layers.contextual_attention import (
    ContextualAttention,
    align_corners_index,
    resize_nearest_tf,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is fastest on a shared CPU


def tf_nearest_indices(n_in: int, n_out: int) -> list[int]:
    """round(i·(n_in-1)/(n_out-1)) with halves rounded away from zero, in exact arithmetic."""
    return [min(math.floor(Fraction(i * (n_in - 1), n_out - 1) + Fraction(1, 2)), n_in - 1) for i in range(n_out)]


def brute_force_attention(
    f: np.ndarray, b: np.ndarray, mask: np.ndarray, rate: int = 2, scale: float = 10.0, eps: float = 1e-4
) -> np.ndarray:
    """One sample: f, b (C,H,W) float64, mask (H,W) with 1 = hole. Loops, no convolutions."""
    c, height, width = b.shape
    h, w = height // rate, width // rate
    rows, cols = tf_nearest_indices(height, h), tf_nearest_indices(width, w)
    f_s, b_s, m_s = f[:, rows][:, :, cols], b[:, rows][:, :, cols], mask[rows][:, cols]
    pad = lambda a: np.pad(a, [(0, 0)] * (a.ndim - 2) + [(1, 1), (1, 1)])  # noqa: E731
    f_p, b_p, m_p = pad(f_s), pad(b_s), pad(m_s)
    positions = [(y, x) for y in range(h) for x in range(w)]  # row-major
    count = len(positions)
    scores = np.zeros((count, count))
    valid = np.zeros(count)
    for q, (by, bx) in enumerate(positions):
        patch_b = b_p[:, by : by + 3, bx : bx + 3]
        norm = max(np.sqrt((patch_b**2).sum()), eps)
        valid[q] = float(m_p[by : by + 3, bx : bx + 3].sum() == 0)
        for p, (fy, fx) in enumerate(positions):
            scores[p, q] = (f_p[:, fy : fy + 3, fx : fx + 3] * patch_b).sum() / norm
    # propagation 1: neighbours along the row-major flattening of both axes
    fused = np.zeros_like(scores)
    for p in range(count):
        for q in range(count):
            for d in (-1, 0, 1):
                if 0 <= p + d < count and 0 <= q + d < count:
                    fused[p, q] += scores[p + d, q + d]
    # propagation 2: the same along the column-major flattening
    col_major = [y * w + x for x in range(w) for y in range(h)]  # column-major order -> row-major id
    fused2 = np.zeros_like(fused)
    for i, p in enumerate(col_major):
        for j, q in enumerate(col_major):
            for d in (-1, 0, 1):
                if 0 <= i + d < count and 0 <= j + d < count:
                    fused2[p, q] += fused[col_major[i + d], col_major[j + d]]
    out = np.zeros((c, height + 2, width + 2))  # 1 px 'SAME' border of the 4x4 stride-2 patches
    b_raw = np.pad(b, [(0, 0), (1, 1), (1, 1)])
    for p, (fy, fx) in enumerate(positions):
        logits = fused2[p] * valid * scale
        weights = np.exp(logits - logits.max())
        weights = weights / weights.sum() * valid
        for q, (by, bx) in enumerate(positions):
            raw_patch = b_raw[:, 2 * by : 2 * by + 4, 2 * bx : 2 * bx + 4]
            out[:, 2 * fy : 2 * fy + 4, 2 * fx : 2 * fx + 4] += weights[q] * raw_patch
    return out[:, 1:-1, 1:-1] / 4.0


def test_index_map_matches_the_official_rule() -> None:
    assert align_corners_index(64, 32).tolist() == [*range(0, 31, 2), *range(33, 64, 2)]
    assert align_corners_index(62, 31).tolist() == [*range(0, 29, 2), *range(31, 62, 2)]
    for n_in, n_out in [(16, 8), (62, 31), (64, 32), (256, 64), (90, 45), (7, 3), (5, 1)]:
        if n_out > 1:
            assert align_corners_index(n_in, n_out).tolist() == tf_nearest_indices(n_in, n_out)
    up = torch.arange(12.0).reshape(1, 1, 3, 4)
    assert torch.equal(resize_nearest_tf(up, (6, 8)), up.repeat_interleave(2, -2).repeat_interleave(2, -1))


@pytest.mark.parametrize("feature_scale", [1.0, 0.05])
def test_matches_brute_force_on_16x16(feature_scale: float) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 4, 16, 16, generator=gen, dtype=torch.float64) * feature_scale
    mask = torch.zeros(2, 1, 16, 16, dtype=torch.float64)
    mask[0, :, 4:11, 5:12] = 1
    mask[1, :, 0:6, 9:16] = 1  # a second, different hole: masks are per sample
    layer = ContextualAttention()
    out = layer(x, x, mask)
    for i in range(2):
        ref = brute_force_attention(x[i].numpy(), x[i].numpy(), mask[i, 0].numpy())
        np.testing.assert_allclose(out[i].numpy(), ref, atol=1e-5 * max(1.0, np.abs(ref).max()), rtol=0)
    out32 = layer(x.float(), x.float(), mask.float())
    assert torch.allclose(out32.double(), out, atol=1e-5)


def test_masked_logits_are_zero_not_minus_infinity() -> None:
    """With small features the official zero-logit escape differs from -inf masking."""
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 16, 16, generator=gen, dtype=torch.float64) * 0.05
    mask = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    mask[..., 4:12, 4:12] = 1
    out = ContextualAttention()(x, x, mask)
    ref = brute_force_attention(x[0].numpy(), x[0].numpy(), mask[0, 0].numpy())
    np.testing.assert_allclose(out[0].numpy(), ref, atol=1e-7)
    # renormalising over the valid patches (the -inf variant) gives a visibly larger output
    full_valid = ContextualAttention()(x, x, None)
    assert not torch.allclose(out, full_valid, atol=1e-4)


def test_everything_masked_gives_zero() -> None:
    x = torch.rand(1, 3, 8, 8)
    out = ContextualAttention()(x, x, torch.ones(1, 1, 8, 8))
    assert torch.count_nonzero(out) == 0


def test_rejects_sizes_that_are_not_multiples_of_rate() -> None:
    with pytest.raises(ValueError, match="multiple of rate"):
        ContextualAttention()(torch.rand(1, 2, 9, 8), torch.rand(1, 2, 9, 8))


def test_copies_texture_into_a_blurred_hole() -> None:
    """On raw pixels of a periodic texture, the layer alone beats the blurred guess in the hole."""
    size, period = 64, 8
    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij"
    )
    truth = torch.stack(
        [
            torch.sin(2 * math.pi * xx / period),
            torch.sin(2 * math.pi * (xx + yy) / period),
            torch.cos(2 * math.pi * yy / period),
        ]
    )[None]
    mask = torch.zeros(1, 1, size, size)
    mask[..., 24:40, 24:40] = 1
    kernel = torch.ones(3, 1, 5, 5) / 25
    blurred = F.conv2d(F.pad(truth, (2, 2, 2, 2), mode="circular"), kernel, groups=3)
    guess = truth * (1 - mask) + blurred * mask
    out = ContextualAttention()(guess, guess, mask)
    hole = mask.bool().expand_as(truth)
    err_guess = (guess - truth)[hole].abs().mean()
    err_attention = (out - truth)[hole].abs().mean()
    assert err_attention < 0.5 * err_guess, (err_attention, err_guess)


def test_runs_in_float32_under_autocast() -> None:
    x = torch.rand(1, 8, 16, 16)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:10, 4:10] = 1
    ref = ContextualAttention()(x, x, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ContextualAttention()(x.bfloat16(), x.bfloat16(), mask)
    assert out.dtype == torch.float32
    assert torch.allclose(out, ContextualAttention()(x.bfloat16().float(), x.bfloat16().float(), mask))
    assert out.shape == ref.shape


def test_offsets_point_to_self_without_holes() -> None:
    """Cauchy-Schwarz: a patch matches itself best (also after fusion), so the argmax is the identity."""
    x = torch.rand(2, 6, 16, 24, generator=torch.Generator().manual_seed(3))
    _, offsets = ContextualAttention()(x, x, None, return_offsets=True)
    rows, cols = torch.meshgrid(torch.arange(8), torch.arange(12), indexing="ij")
    assert offsets.shape == (2, 2, 8, 12)
    assert torch.equal(offsets[:, 0], rows.expand(2, -1, -1)) and torch.equal(offsets[:, 1], cols.expand(2, -1, -1))
