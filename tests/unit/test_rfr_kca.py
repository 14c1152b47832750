"""Knowledge-consistent attention against the formulas of reference/rfrnet.md 2.4, written out as loops."""

from __future__ import annotations

import math

import pytest
import torch

from inpaintbench.archs.layers.kca import AttentionModule, KCAState, KnowledgeConsistentAttention


def brute_force_kca(features: torch.Tensor, ratio: float, prev: KCAState | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One sample and position at a time, in float64: scores, 3x3 box sum, softmax, blend, weighted key sum."""
    f = features.double()
    b, _, h, w = f.shape
    n = h * w
    out = torch.zeros_like(f)
    blended_all = torch.zeros(b, n, h, w, dtype=torch.float64)
    for s in range(b):
        keys = [f[s, :, k // w, k % w] + 1e-7 for k in range(n)]
        keys = [k / math.sqrt(float((k * k).sum())) for k in keys]
        raw = torch.zeros(n, h, w, dtype=torch.float64)
        for k in range(n):
            for y in range(h):
                for x in range(w):
                    raw[k, y, x] = float((keys[k] * f[s, :, y, x]).sum())
        summed = torch.zeros_like(raw)
        for k in range(n):
            for y in range(h):
                for x in range(w):
                    total = 0.0
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            if 0 <= y + dy < h and 0 <= x + dx < w:  # zero padding
                                total += float(raw[k, y + dy, x + dx])
                    summed[k, y, x] = total
        for y in range(h):
            for x in range(w):
                exps = [math.exp(float(summed[k, y, x])) for k in range(n)]
                att = [e / sum(exps) for e in exps]
                if prev is not None:
                    m_prev = float(prev.mask[s, 0, y, x])
                    weight = abs(ratio) + 1e-7
                    att = [
                        (float(prev.scores[s, k, y, x]) * m_prev + a * weight) / (m_prev + weight)
                        for k, a in enumerate(att)
                    ]
                for k in range(n):
                    blended_all[s, k, y, x] = att[k]
                    out[s, :, y, x] += att[k] * keys[k]
    return out, blended_all


@pytest.fixture
def layer() -> KnowledgeConsistentAttention:
    torch.manual_seed(0)
    kca = KnowledgeConsistentAttention()
    with torch.no_grad():
        kca.ratio.fill_(-0.7)  # |r| is used: a negative value checks the abs
    return kca


def test_first_call_matches_brute_force(layer: KnowledgeConsistentAttention) -> None:
    torch.manual_seed(1)
    features = torch.randn(2, 3, 4, 5)
    mask = torch.ones(2, 1, 4, 5)
    out, state = layer(features, mask)
    expected_out, expected_scores = brute_force_kca(features, -0.7, None)
    torch.testing.assert_close(out.double(), expected_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(state.scores.double(), expected_scores, atol=1e-6, rtol=1e-5)


def test_blending_equals_formula(layer: KnowledgeConsistentAttention) -> None:
    """(A' M' + A (|r|+1e-7)) / (M' + |r| + 1e-7) per query position, with A' the previous *blended* scores."""
    torch.manual_seed(2)
    features = torch.randn(2, 3, 4, 4)
    prev_scores = torch.softmax(torch.randn(2, 16, 4, 4), dim=1)
    prev_mask = (torch.rand(2, 1, 4, 4) > 0.5).float()
    prev = KCAState(prev_scores, prev_mask)
    out, state = layer(features, torch.ones(2, 1, 4, 4), prev)
    expected_out, expected_scores = brute_force_kca(features, -0.7, prev)
    torch.testing.assert_close(state.scores.double(), expected_scores, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out.double(), expected_out, atol=1e-5, rtol=1e-5)
    # Where the query was a hole before, the current scores pass through unchanged.
    _, fresh = layer(features, torch.ones(2, 1, 4, 4))
    hole = (prev_mask == 0).expand_as(fresh.scores)
    torch.testing.assert_close(state.scores[hole], fresh.scores[hole])
    # Where it was valid, at |r| = 1 the blend is the plain average of old and new.
    with torch.no_grad():
        layer.ratio.fill_(1.0)
    _, half = layer(features, torch.ones(2, 1, 4, 4), prev)
    valid = (prev_mask == 1).expand_as(fresh.scores)
    torch.testing.assert_close(half.scores[valid], ((prev_scores + fresh.scores) / 2)[valid], atol=1e-6, rtol=1e-5)


def test_mask_is_resized_nearest_top_left(layer: KnowledgeConsistentAttention) -> None:
    """The half-res mask reaches the 1/8-res attention by nearest: the top-left pixel of each 4x4 block."""
    mask = torch.zeros(1, 1, 8, 12)
    mask[0, 0, 0, 4] = 1.0  # top-left of block (0, 1)
    mask[0, 0, 5, 1] = 1.0  # inside block (1, 0) but not its top-left pixel
    _, state = layer(torch.randn(1, 2, 2, 3), mask)
    assert state.mask.tolist() == [[[[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]]


def test_history_is_not_detached() -> None:
    """Gradients reach the previous iteration's scores and the blend weight, as in the official code."""
    torch.manual_seed(3)
    module = AttentionModule(4)
    first = torch.randn(1, 4, 3, 3, requires_grad=True)
    out1, state = module(first, torch.ones(1, 1, 3, 3))
    out2, _ = module(torch.randn(1, 4, 3, 3), torch.ones(1, 1, 3, 3), state)
    out2.square().sum().backward()
    assert first.grad is not None and first.grad.abs().sum() > 0
    assert module.att.ratio.grad is not None and module.att.ratio.grad.abs() > 0
    assert out1.shape == out2.shape == (1, 4, 3, 3)


def test_batched_equals_per_sample(layer: KnowledgeConsistentAttention) -> None:
    torch.manual_seed(4)
    features = torch.randn(3, 5, 4, 4)
    mask = (torch.rand(3, 1, 4, 4) > 0.3).float()
    together, state = layer(features, mask)
    for s in range(3):
        alone, alone_state = layer(features[s : s + 1], mask[s : s + 1])
        torch.testing.assert_close(together[s : s + 1], alone, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(state.scores[s : s + 1], alone_state.scores, atol=1e-7, rtol=1e-5)
