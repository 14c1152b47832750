"""Hole ratio, bins and sub-seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inpaintbench.masks import RATIO_BINS, bin_bounds, derive_rng, hole_ratio, ratio_bin


def test_hole_ratio_counts_nonzero_pixels_of_arrays_and_tensors() -> None:
    mask = np.zeros((4, 5), np.uint8)
    mask[1, 1:4] = 1
    assert hole_ratio(mask) == 3 / 20
    assert hole_ratio(torch.from_numpy(mask).float()[None, None]) == 3 / 20
    with pytest.raises(ValueError, match="empty"):
        hole_ratio(np.zeros((0, 3)))


@pytest.mark.parametrize(
    ("count", "total", "expected"),
    [
        (0, 100, "0-10"),
        (999, 10000, "0-10"),
        (1000, 10000, "10-20"),  # lower edges are inclusive: [0.1, 0.2)
        (2999, 10000, "20-30"),
        (3000, 10000, "30-40"),
        (5999, 10000, "50-60"),
        (6000, 10000, "60-100"),
        (10000, 10000, "60-100"),
        (6553, 65536, "0-10"),
        (6554, 65536, "10-20"),
        (32768, 65536, "50-60"),  # exactly half
    ],
)
def test_ratio_bin_edges_match_integer_arithmetic(count: int, total: int, expected: str) -> None:
    assert ratio_bin(count / total) == expected
    brute = RATIO_BINS[min(10 * count // total, 6)]  # integer floor(10 * ratio), capped at the last bin
    assert brute == expected


def test_bin_bounds_and_bad_ratios() -> None:
    assert bin_bounds("0-10") == (0.0, 0.1) and bin_bounds("50-60") == (0.5, 0.6)
    assert bin_bounds("60-100") == (0.6, 1.0)
    for ratio in np.linspace(0, 1, 101):
        lo, hi = bin_bounds(ratio_bin(ratio))
        assert lo <= ratio and (ratio < hi or hi == 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ratio_bin(1.5)
    with pytest.raises(ValueError, match="unknown ratio bin"):
        bin_bounds("60-70")


def test_derived_streams_depend_on_every_part_and_nothing_else() -> None:
    draw = lambda *parts: derive_rng(*parts).integers(1 << 62, size=4).tolist()  # noqa: E731
    np.random.seed(0)
    base = draw("irregular", 1, 0, "a.png", 3)
    np.random.seed(1)
    assert draw("irregular", 1, 0, "a.png", 3) == base
    variants = [
        ("irregular", 2, 0, "a.png", 3),
        ("irregular", 1, 1, "a.png", 3),
        ("irregular", 1, 0, "b.png", 3),
        ("irregular", 1, 0, "a.png", 4),
        ("irregular", 1, 0, "a.png", "3"),
        ("lama_thin", 1, 0, "a.png", 3),
    ]
    assert all(draw(*v) != base for v in variants)
