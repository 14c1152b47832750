"""LaMa's random mask generators (`saicinpainting/training/data/masks.py`) and evaluation sets.

Semantics follow the official code, including its quirks (reference/lama.md section 4):

- irregular: stroke count uniform in [min_times, max_times + 1] (the wrapper passes max_times + 1 to
  an exclusive `randint`); 1-5 segments per stroke; angle `0.01 + randint(max_angle)` in *radians*,
  mirrored to `2 * 3.1415926 - angle` on even strokes; length in [10, max_len + 9]; brush width in
  [5, max_width + 4]; end point truncated toward zero, then clipped to [0, W] (W, not W - 1);
  x moves with sin, y with cos; drawn with `cv2.line` (8-connected), thickness = brush width.
- box: width and height drawn independently by `randint(min, min(max + 1, H - 2m, W - 2m))`, i.e. in
  [bbox_min_size, bbox_max_size] unless the canvas is smaller; box count uniform in
  [min_times, max_times] (no +1 here); top-left uniform in [margin, W - margin - w] (inclusive).
- mixture: one generator per mask, chosen with the renormalised probabilities
  (irregular_proba 1, box_proba 0.3 -> 76.9 % irregular, 23.1 % box).

Deliberate deviations:

- Random numbers come from an explicit `np.random.Generator` (PCG64, seeded per mask) instead of the
  global legacy `np.random` state, so the value *stream* differs while every distribution is the same.
- Evaluation sets are drawn directly on the square canvas the benchmark evaluates (256 x 256 by
  default). The official `gen_mask_dataset.py` resizes each image so its short side is 256 (or 512),
  draws 5 candidate masks on that non-square canvas, takes a random square crop of each
  (`propose_random_square_crop`, min_overlap 1: the crop keeps the mask's far end), drops crops with
  more than 50 % hole area and keeps one survivor at random (skipping the image when none survive).
  On a square canvas the crop is the identity, and "one random survivor of 5 i.i.d. candidates" has
  exactly the distribution of one draw conditioned on area <= 50 %; so we redraw from the same
  seeded stream until the area is <= `max_hole_ratio` (with a `max_attempts` guard instead of
  silently skipping the image). Statistics therefore match the official generator at 256 x 256
  (reference table: CelebA row), not the 256 x 341 Places crops.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from inpaintbench.masks.errors import MaskError

#: The official code's truncated 2*pi (`2 * 3.1415926`), kept so the mirrored angles are the same values.
_TWO_PI_OFFICIAL = 2 * 3.1415926


def lama_irregular_mask(
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    max_angle: int = 4,
    max_len: int = 60,
    max_width: int = 20,
    min_times: int = 0,
    max_times: int = 10,
) -> np.ndarray:
    """`RandomIrregularMaskGenerator` (ramp coef 1) + `make_random_irregular_mask`, LINE method."""
    mask = np.zeros((height, width), np.uint8)
    # The wrapper's cur_max_times = min_times + 1 + (max_times - min_times) = max_times + 1, then
    # randint(min_times, cur_max_times + 1): uniform in [min_times, max_times + 1].
    times = int(rng.integers(min_times, max_times + 2))
    for stroke in range(times):
        start_x = int(rng.integers(width))
        start_y = int(rng.integers(height))
        for _ in range(1 + int(rng.integers(5))):
            angle = 0.01 + int(rng.integers(max_angle))
            if stroke % 2 == 0:
                angle = _TWO_PI_OFFICIAL - angle
            length = 10 + int(rng.integers(max_len))
            brush_w = 5 + int(rng.integers(max_width))
            end_x = min(max(int(start_x + length * np.sin(angle)), 0), width)
            end_y = min(max(int(start_y + length * np.cos(angle)), 0), height)
            cv2.line(mask, (start_x, start_y), (end_x, end_y), 1, brush_w)
            start_x, start_y = end_x, end_y
    return mask


def lama_box_mask(
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    margin: int = 10,
    bbox_min_size: int = 30,
    bbox_max_size: int = 100,
    min_times: int = 0,
    max_times: int = 3,
) -> np.ndarray:
    """`RandomRectangleMaskGenerator` (ramp coef 1) + `make_random_rectangle_mask`."""
    # The wrapper passes bbox_min_size + 1 + (bbox_max_size - bbox_min_size) = bbox_max_size + 1.
    effective_max = min(bbox_max_size + 1, height - 2 * margin, width - 2 * margin)
    if effective_max <= bbox_min_size:
        raise MaskError(
            f"LaMa box mask: a {height}x{width} canvas with margin {margin} cannot hold a box of at least "
            f"{bbox_min_size} px"
        )
    mask = np.zeros((height, width), np.uint8)
    times = int(rng.integers(min_times, max_times + 1))
    for _ in range(times):
        box_w = int(rng.integers(bbox_min_size, effective_max))
        box_h = int(rng.integers(bbox_min_size, effective_max))
        left = int(rng.integers(margin, width - margin - box_w + 1))
        top = int(rng.integers(margin, height - margin - box_h + 1))
        mask[top : top + box_h, left : left + box_w] = 1
    return mask


def lama_mixed_mask(
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    irregular_proba: float = 1.0,
    irregular: Mapping[str, Any] | None = None,
    box_proba: float = 1.0,
    box: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """`MixedMaskGenerator` restricted to its irregular and box members (segm/squares/... are 0)."""
    if irregular_proba < 0 or box_proba < 0 or irregular_proba + box_proba <= 0:
        raise MaskError(
            f"LaMa mixture needs non-negative probabilities with a positive sum, got "
            f"irregular_proba={irregular_proba}, box_proba={box_proba}"
        )
    p_irregular = irregular_proba / (irregular_proba + box_proba)
    if rng.random() < p_irregular:
        return lama_irregular_mask(rng, height, width, **dict(irregular or {}))
    return lama_box_mask(rng, height, width, **dict(box or {}))


#: Training mixture of `configs/training/data/abl-04-256-mh-dist.yaml` (reference/lama.md section 4).
LAMA_TRAIN_IRREGULAR: dict[str, int] = {
    "max_angle": 4,
    "max_len": 200,
    "max_width": 100,
    "min_times": 1,
    "max_times": 5,
}
LAMA_TRAIN_BOX: dict[str, int] = {
    "margin": 10,
    "bbox_min_size": 30,
    "bbox_max_size": 150,
    "min_times": 1,
    "max_times": 4,
}


@dataclass(frozen=True)
class LamaEvalSet:
    """One `configs/data_gen/random_<kind>_<resolution>.yaml` (irregular_proba is 1 in all of them)."""

    irregular: dict[str, int]
    box_proba: float = 0.0
    box: dict[str, int] = field(default_factory=dict)


def _irregular(min_times: int, max_times: int, max_width: int, max_angle: int, max_len: int) -> dict[str, int]:
    return {
        "min_times": min_times,
        "max_times": max_times,
        "max_width": max_width,
        "max_angle": max_angle,
        "max_len": max_len,
    }


def _box(margin: int, bbox_min_size: int, bbox_max_size: int, min_times: int, max_times: int) -> dict[str, int]:
    return {
        "margin": margin,
        "bbox_min_size": bbox_min_size,
        "bbox_max_size": bbox_max_size,
        "min_times": min_times,
        "max_times": max_times,
    }


#: (kind, resolution) -> parameters, copied from the table in reference/lama.md section 4.
LAMA_EVAL_SETS: dict[tuple[str, int], LamaEvalSet] = {
    ("thin", 256): LamaEvalSet(_irregular(4, 50, 10, 4, 40)),
    ("medium", 256): LamaEvalSet(_irregular(4, 5, 50, 4, 100), 0.3, _box(0, 10, 50, 1, 5)),
    ("thick", 256): LamaEvalSet(_irregular(1, 5, 100, 4, 200), 0.3, _box(10, 30, 150, 1, 3)),
    ("thin", 512): LamaEvalSet(_irregular(4, 70, 20, 4, 100)),
    ("medium", 512): LamaEvalSet(_irregular(4, 10, 100, 4, 200), 0.3, _box(0, 30, 150, 1, 5)),
    ("thick", 512): LamaEvalSet(_irregular(1, 5, 250, 4, 450), 0.3, _box(10, 30, 300, 1, 4)),
}


def lama_eval_mask(
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    kind: str,
    resolution: int = 256,
    max_hole_ratio: float = 0.5,
    max_attempts: int = 100,
) -> np.ndarray:
    """One mask of LaMa's random_<kind>_<resolution> evaluation set, redrawn until area <= max_hole_ratio.

    The redraws continue the same seeded stream, so the result is a pure function of `rng`'s seed.
    """
    try:
        spec = LAMA_EVAL_SETS[(kind, resolution)]
    except KeyError:
        known = ", ".join(f"{k}@{r}" for k, r in LAMA_EVAL_SETS)
        raise MaskError(f"no LaMa evaluation set '{kind}' at resolution {resolution} (known: {known})") from None
    for _ in range(max_attempts):
        mask = lama_mixed_mask(
            rng, height, width, irregular_proba=1.0, irregular=spec.irregular, box_proba=spec.box_proba, box=spec.box
        )
        # The official filter is `mask.mean() > max_tamper_area` -> dropped; equal is kept.
        if np.count_nonzero(mask) <= max_hole_ratio * mask.size:
            return mask
    raise RuntimeError(
        f"LaMa {kind}_{resolution}: no mask with hole area <= {max_hole_ratio} in {max_attempts} draws on a "
        f"{height}x{width} canvas; raise max_attempts or max_hole_ratio"
    )
