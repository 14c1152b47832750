"""Measured hole ratio and its bin.

Bins are half-open [lo, hi) in 10 % steps up to 60 %, then one "60-100" bin. They are computed on
the mask as it is used (after resizing and binarising), never on a generator's intent: a protocol's
own label (e.g. an intended bucket) is kept beside the measured bin.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Bin names in order; bin i covers [i/10, (i+1)/10) for i < 6, the last one [0.6, 1.0].
RATIO_BINS: tuple[str, ...] = ("0-10", "10-20", "20-30", "30-40", "40-50", "50-60", "60-100")

#: Lower edges of bins 1..6. Float literals: k/n equals the literal exactly when the ratio is exact.
_EDGES = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])


def hole_ratio(mask: Any) -> float:
    """Fraction of hole pixels (non-zero entries) of a mask array or tensor, in [0, 1]."""
    if hasattr(mask, "detach"):  # a torch tensor, without importing torch here
        mask = mask.detach().cpu().numpy()
    array = np.asarray(mask)
    if array.size == 0:
        raise ValueError("hole_ratio of an empty mask")
    return float(np.count_nonzero(array)) / float(array.size)


def ratio_bin(ratio: float) -> str:
    """The RATIO_BINS name holding `ratio` (0.1 falls in "10-20", 0.6 in "60-100")."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"hole ratio must lie in [0, 1], got {ratio!r}")
    return RATIO_BINS[int(np.searchsorted(_EDGES, ratio, side="right"))]


def bin_bounds(name: str) -> tuple[float, float]:
    """(lo, hi) of a bin name; the last bin's hi is 1.0 and, unlike the others, inclusive."""
    if name not in RATIO_BINS:
        raise ValueError(f"unknown ratio bin '{name}' (known: {', '.join(RATIO_BINS)})")
    index = RATIO_BINS.index(name)
    lo = 0.0 if index == 0 else float(_EDGES[index - 1])
    hi = 1.0 if index == len(_EDGES) else float(_EDGES[index])
    return lo, hi
