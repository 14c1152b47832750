"""Box masks: the centred evaluation hole and DeepFill v1's random training box.

DeepFill v1 (reference/deepfill_v1.md section 5.3, neuralgym `random_bbox` + `bbox2mask`):
- the bbox is HEIGHT x WIDTH = 128 x 128; its top-left is `tf.random_uniform(minval=margin,
  maxval=H - margin - 128)` (maxval exclusive), i.e. uniform in [0, 128) at 256 with margins 0;
- the hole is that bbox shrunk by dh = randint(MAX_DELTA // 2 + 1) on *both* top and bottom and by
  dw (drawn separately) on both left and right, so with MAX_DELTA 32 each side is 96..128 px, even;
- validation ("static view") uses the centred 128 x 128 box with no shrink.
The training recipe also needs the bbox itself (local discriminator crop, spatial discounting), so
`deepfill_bbox_and_mask` returns both; `box_random` returns the mask only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from inpaintbench.masks.errors import MaskError


class BBox(NamedTuple):
    """(top, left, height, width) in pixels, as neuralgym's `random_bbox` returns it."""

    top: int
    left: int
    height: int
    width: int


def _pair(value: int | Sequence[int], what: str) -> tuple[int, int]:
    if isinstance(value, int | np.integer):
        return int(value), int(value)
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise MaskError(f"{what} must be an int or a [height, width] pair, got {value!r}")
    return pair  # type: ignore[return-value]


def box_center(
    rng: np.random.Generator | None, height: int, width: int, *, size: int | Sequence[int] = 128
) -> np.ndarray:
    """A size x size hole centred on the canvas (top-left at ((H - h) // 2, (W - w) // 2)); `rng` is unused."""
    box_h, box_w = _pair(size, "box_center size")
    if not (0 < box_h <= height and 0 < box_w <= width):
        raise MaskError(f"box_center: a {box_h}x{box_w} box does not fit a {height}x{width} canvas")
    top, left = (height - box_h) // 2, (width - box_w) // 2
    mask = np.zeros((height, width), np.uint8)
    mask[top : top + box_h, left : left + box_w] = 1
    return mask


def deepfill_bbox_and_mask(
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    size: int | Sequence[int] = 128,
    margin: int | Sequence[int] = 0,
    max_delta: int | Sequence[int] = 32,
) -> tuple[BBox, np.ndarray]:
    """DeepFill v1's training bbox and its shrunk hole (`margin`, `max_delta` as [vertical, horizontal])."""
    box_h, box_w = _pair(size, "box_random size")
    margin_v, margin_h = _pair(margin, "box_random margin")
    delta_v, delta_h = _pair(max_delta, "box_random max_delta")
    max_top, max_left = height - margin_v - box_h, width - margin_h - box_w
    if max_top <= margin_v or max_left <= margin_h:
        raise MaskError(
            f"box_random: a {box_h}x{box_w} box with margins {margin_v}/{margin_h} does not fit "
            f"a {height}x{width} canvas"
        )
    if 2 * (delta_v // 2) >= box_h or 2 * (delta_h // 2) >= box_w:
        raise MaskError(f"box_random: max_delta {max_delta} would shrink a {box_h}x{box_w} box to nothing")
    top = int(rng.integers(margin_v, max_top))
    left = int(rng.integers(margin_h, max_left))
    shrink_v = int(rng.integers(delta_v // 2 + 1))
    shrink_h = int(rng.integers(delta_h // 2 + 1))
    mask = np.zeros((height, width), np.uint8)
    mask[top + shrink_v : top + box_h - shrink_v, left + shrink_h : left + box_w - shrink_h] = 1
    return BBox(top, left, box_h, box_w), mask


def box_random(rng: np.random.Generator, height: int, width: int, **params: int | Sequence[int]) -> np.ndarray:
    """DeepFill v1's training hole, mask only; `params` (size, margin, max_delta) are `deepfill_bbox_and_mask`'s."""
    return deepfill_bbox_and_mask(rng, height, width, **params)[1]
