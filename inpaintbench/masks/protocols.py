"""The generated evaluation protocols: irregular buckets, LaMa thin/medium/thick, boxes.

Each class states its version; a change to what a protocol renders must bump it (the golden-hash
test in tests/unit/test_masks_protocols.py fails until it is).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from inpaintbench.masks.boxes import box_center, box_random
from inpaintbench.masks.lama import LAMA_EVAL_SETS, lama_eval_mask
from inpaintbench.masks.protocol import MaskProtocol, MaskSample, register_protocol, unique_ids
from inpaintbench.masks.ratio import RATIO_BINS, bin_bounds, ratio_bin
from inpaintbench.masks.strokes import strokes_to_ratio

#: The six buckets of the PConv / NVIDIA irregular protocol.
IRREGULAR_BUCKETS: tuple[str, ...] = RATIO_BINS[:6]


@register_protocol
class IrregularProtocol(MaskProtocol):
    """PConv/RFR-style irregular masks, rejection-sampled into hole-ratio buckets.

    Each image id gets `per_bucket` masks in every bucket of `buckets`, so N images give
    N * len(buckets) * per_bucket samples with equal counts per bucket. Attempt `a` of sample
    (image, bucket, k) draws a target ratio uniformly inside the bucket from the stream of
    (seed, version, image id, bucket, k, a), adds strokes and blobs until the target is reached
    (`strokes.strokes_to_ratio`) and is accepted if the measured ratio is in the bucket (the last
    element may overshoot). The lowest bucket starts at `min_ratio` = 1 %, as NVIDIA's (0.01, 0.1].
    After `max_attempts` rejections rendering fails with a clear error. Shapes are the NVIDIA-set
    stand-in described in `inpaintbench/masks/strokes.py`.
    """

    name = "irregular"
    version = 1
    defaults: ClassVar[dict[str, Any]] = {
        "per_bucket": 1,
        "buckets": list(IRREGULAR_BUCKETS),
        "min_ratio": 0.01,
        "max_attempts": 100,
        "border": 0,
        "style": {},
    }

    def validate(self) -> None:
        p = self.params
        if not isinstance(p["per_bucket"], int) or p["per_bucket"] < 1:
            raise ValueError(f"irregular: per_bucket must be a positive integer, got {p['per_bucket']!r}")
        bad = [b for b in p["buckets"] if b not in RATIO_BINS]
        if bad or not p["buckets"] or len(set(p["buckets"])) != len(p["buckets"]):
            raise ValueError(f"irregular: buckets must be distinct names from {list(RATIO_BINS)}, got {p['buckets']!r}")
        if not 0.0 <= p["min_ratio"] < 0.1:
            raise ValueError(f"irregular: min_ratio must lie in [0, 0.1), got {p['min_ratio']!r}")
        if not isinstance(p["max_attempts"], int) or p["max_attempts"] < 1:
            raise ValueError(f"irregular: max_attempts must be a positive integer, got {p['max_attempts']!r}")
        style_keys = set(inspect.signature(strokes_to_ratio).parameters) - {
            "rng",
            "height",
            "width",
            "target",
            "border",
        }
        unknown = sorted(set(p["style"]) - style_keys)
        if unknown:
            raise ValueError(
                f"irregular: unknown style key(s) {', '.join(unknown)} (known: {', '.join(sorted(style_keys))})"
            )

    def samples(self, image_ids: Iterable[str]) -> list[MaskSample]:
        return [
            MaskSample(f"{image_id}#{bucket}.{k}", image_id, bucket, k)
            for image_id in unique_ids(image_ids, self.name)
            for bucket in self.params["buckets"]
            for k in range(self.params["per_bucket"])
        ]

    def render(self, sample: MaskSample, height: int, width: int) -> np.ndarray:
        lo, hi = bin_bounds(sample.label)
        lo = max(lo, self.params["min_ratio"])
        for attempt in range(self.params["max_attempts"]):
            rng = self.rng(sample.image_id, sample.label, sample.index, attempt)
            target = float(rng.uniform(lo, hi))
            mask = strokes_to_ratio(rng, height, width, target, border=self.params["border"], **self.params["style"])
            ratio = np.count_nonzero(mask) / mask.size
            if ratio >= lo and ratio_bin(ratio) == sample.label:
                return mask
        raise RuntimeError(
            f"{self.protocol_id}: no mask in bucket {sample.label} for image '{sample.image_id}' at {height}x{width} "
            f"after {self.params['max_attempts']} attempts; raise max_attempts or shrink the stroke style"
        )


class LamaProtocol(MaskProtocol):
    """LaMa's random_<kind>_<resolution> evaluation masks on the evaluated canvas (see masks/lama.py).

    `resolution` selects the parameter row (256 or 512) of the official configs; the mask is drawn
    at the size passed to `render`. Masks with more than `max_hole_ratio` area are redrawn from the
    same stream (the official pipeline's 5-candidate filter, exact on a square canvas).
    """

    kind: ClassVar[str]
    version = 1
    defaults: ClassVar[dict[str, Any]] = {"resolution": 256, "max_hole_ratio": 0.5, "max_attempts": 100, "per_image": 1}

    def validate(self) -> None:
        p = self.params
        if (self.kind, p["resolution"]) not in LAMA_EVAL_SETS:
            raise ValueError(f"{self.name}: resolution must be 256 or 512, got {p['resolution']!r}")
        if not 0.0 < p["max_hole_ratio"] <= 1.0:
            raise ValueError(f"{self.name}: max_hole_ratio must lie in (0, 1], got {p['max_hole_ratio']!r}")
        if not isinstance(p["per_image"], int) or p["per_image"] < 1:
            raise ValueError(f"{self.name}: per_image must be a positive integer, got {p['per_image']!r}")

    def samples(self, image_ids: Iterable[str]) -> list[MaskSample]:
        return self._one_per_image(image_ids, self.kind, self.params["per_image"])

    def render(self, sample: MaskSample, height: int, width: int) -> np.ndarray:
        p = self.params
        try:
            return lama_eval_mask(
                self.rng(sample.image_id, sample.index),
                height,
                width,
                kind=self.kind,
                resolution=p["resolution"],
                max_hole_ratio=p["max_hole_ratio"],
                max_attempts=p["max_attempts"],
            )
        except RuntimeError as error:
            raise RuntimeError(f"{self.protocol_id}, image '{sample.image_id}': {error}") from None


@register_protocol
class LamaThinProtocol(LamaProtocol):
    """random_thin: many narrow strokes, no boxes."""

    name = "lama_thin"
    kind = "thin"


@register_protocol
class LamaMediumProtocol(LamaProtocol):
    """random_medium: fewer, wider strokes; 23 % small boxes."""

    name = "lama_medium"
    kind = "medium"


@register_protocol
class LamaThickProtocol(LamaProtocol):
    """random_thick: few very wide strokes; 23 % large boxes."""

    name = "lama_thick"
    kind = "thick"


@register_protocol
class BoxCenterProtocol(MaskProtocol):
    """DeepFill v1's evaluation hole: `size` x `size` (128) centred; the seed has no effect."""

    name = "box_center"
    version = 1
    defaults: ClassVar[dict[str, Any]] = {"size": 128}

    def samples(self, image_ids: Iterable[str]) -> list[MaskSample]:
        return self._one_per_image(image_ids, "center")

    def render(self, sample: MaskSample, height: int, width: int) -> np.ndarray:
        return box_center(None, height, width, size=self.params["size"])


@register_protocol
class BoxRandomProtocol(MaskProtocol):
    """DeepFill v1's training box as an evaluation protocol: a seeded random box per image."""

    name = "box_random"
    version = 1
    defaults: ClassVar[dict[str, Any]] = {"size": 128, "margin": 0, "max_delta": 32, "per_image": 1}

    def samples(self, image_ids: Iterable[str]) -> list[MaskSample]:
        return self._one_per_image(image_ids, "box", self.params["per_image"])

    def render(self, sample: MaskSample, height: int, width: int) -> np.ndarray:
        p = self.params
        return box_random(
            self.rng(sample.image_id, sample.index),
            height,
            width,
            size=p["size"],
            margin=p["margin"],
            max_delta=p["max_delta"],
        )
