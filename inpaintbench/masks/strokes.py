"""Free-form stroke-and-blob masks: the stand-in for NVIDIA's irregular mask set.

The PConv paper (and RFR-Net, which follows it) trains and tests on NVIDIA's Irregular Mask Dataset:
optical-flow occlusion masks, dilated, in six hole-ratio buckets from 1 % to 60 %. That set cannot be
downloaded here and its licence does not allow redistribution in this repository, so we generate
masks with the same two properties that the protocol depends on:

1. *Coverage of every ratio bucket up to 60 %* (RFR#16: one model trained over all ratios up to
   about 60 %). Elements are added one at a time until the hole ratio reaches a target drawn
   uniformly in the requested range, so ratios are spread evenly instead of clustering where a
   fixed-count generator puts them.
2. *Shapes of mixed scale*: thin-to-thick brush strokes (random walks with round joints, like the
   free-form masks of DeepFill v2 / EdgeConnect and RFR-Net's own stroke mode) and filled, rotated
   ellipses (the blob-like occlusions of the NVIDIA set). All sizes are fractions of the canvas's
   shorter side, so a 512 mask looks like a 256 mask scaled up.

Pixels within `border` of the image edge are never holes (the NVIDIA set's "with border" variant
keeps holes off the border; 0 disables it). Drawing uses OpenCV with 8-connected lines; bit-identical
output across OpenCV releases is not guaranteed, which is why fixed mask sets carry pixel hashes.
"""

from __future__ import annotations

import cv2
import numpy as np


def _clear_border(mask: np.ndarray, border: int) -> None:
    if border > 0:
        mask[:border] = 0
        mask[-border:] = 0
        mask[:, :border] = 0
        mask[:, -border:] = 0


def _draw_stroke(
    rng: np.random.Generator,
    mask: np.ndarray,
    side: int,
    width_range: tuple[float, float],
    length_range: tuple[float, float],
    max_vertices: int,
) -> None:
    """A random-walk polyline with a constant brush width and round joints."""
    height, width = mask.shape
    brush = max(1, round(rng.uniform(*width_range) * side))
    x, y = float(rng.uniform(0, width)), float(rng.uniform(0, height))
    heading = rng.uniform(0, 2 * np.pi)
    cv2.circle(mask, (int(x), int(y)), brush // 2, 1, -1, cv2.LINE_8)
    for _ in range(int(rng.integers(1, max_vertices + 1))):
        heading += rng.normal(0.0, np.pi / 3)
        length = rng.uniform(*length_range) * side
        nx = float(np.clip(x + length * np.cos(heading), 0, width - 1))
        ny = float(np.clip(y + length * np.sin(heading), 0, height - 1))
        cv2.line(mask, (int(x), int(y)), (int(nx), int(ny)), 1, brush, cv2.LINE_8)
        cv2.circle(mask, (int(nx), int(ny)), brush // 2, 1, -1, cv2.LINE_8)
        x, y = nx, ny


def _draw_blob(rng: np.random.Generator, mask: np.ndarray, side: int, axes_range: tuple[float, float]) -> None:
    """A filled ellipse with random centre, semi-axes and rotation."""
    height, width = mask.shape
    center = (int(rng.integers(width)), int(rng.integers(height)))
    axes = (max(1, round(rng.uniform(*axes_range) * side)), max(1, round(rng.uniform(*axes_range) * side)))
    cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1, cv2.LINE_8)


def strokes_to_ratio(
    rng: np.random.Generator,
    height: int,
    width: int,
    target: float,
    *,
    width_range: tuple[float, float] = (0.02, 0.1),
    length_range: tuple[float, float] = (0.05, 0.25),
    max_vertices: int = 8,
    blob_proba: float = 0.3,
    blob_axes: tuple[float, float] = (0.03, 0.12),
    border: int = 0,
    max_elements: int = 2000,
) -> np.ndarray:
    """Add strokes and blobs until the hole ratio is >= `target`; may overshoot by one element."""
    if not 0.0 <= target < 1.0:
        raise ValueError(f"target hole ratio must lie in [0, 1), got {target}")
    if 2 * border >= min(height, width):
        raise ValueError(f"border {border} leaves no room for holes on a {height}x{width} canvas")
    side = min(height, width)
    mask = np.zeros((height, width), np.uint8)
    needed = target * mask.size
    for _ in range(max_elements):
        if np.count_nonzero(mask) >= needed:
            break
        if rng.random() < blob_proba:
            _draw_blob(rng, mask, side, tuple(blob_axes))
        else:
            _draw_stroke(rng, mask, side, tuple(width_range), tuple(length_range), max_vertices)
        _clear_border(mask, border)
    return mask


def irregular_strokes(
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    min_ratio: float = 0.01,
    max_ratio: float = 0.6,
    **style: object,
) -> np.ndarray:
    """Training mask for PConv / RFR-Net: target ratio uniform in [min_ratio, max_ratio)."""
    if not 0.0 <= min_ratio <= max_ratio < 1.0:
        raise ValueError(f"need 0 <= min_ratio <= max_ratio < 1, got {min_ratio}, {max_ratio}")
    target = float(rng.uniform(min_ratio, max_ratio))
    return strokes_to_ratio(rng, height, width, target, **style)  # type: ignore[arg-type]
