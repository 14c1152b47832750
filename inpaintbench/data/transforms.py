"""Resize and crop policies on 8-bit RGB arrays, deterministic for evaluation, seeded for training.

Resizing uses Pillow's bicubic filter on the 8-bit image (Pillow widens the kernel when it shrinks,
so downscaling is antialiased) and rounds back to 8-bit levels, so a preprocessed image is still
exactly on the levels the harness quantises to. An image that already has the target size is
returned untouched (no resampling), which keeps the embedded 256x256 sample crops bit-exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from inpaintbench.data.errors import DatasetConfigError

RESIZE_POLICIES: tuple[str, ...] = ("shorter_side", "none")
CROP_POLICIES: tuple[str, ...] = ("center", "none")


def shorter_side_size(height: int, width: int, target: int) -> tuple[int, int]:
    """(H, W) after scaling the shorter side to `target` (aspect kept, longer side rounded)."""
    if height <= width:
        return target, max(1, round(width * target / height))
    return max(1, round(height * target / width)), target


def resize_shorter_side(
    rgb: np.ndarray, target: int, resample: Image.Resampling = Image.Resampling.BICUBIC
) -> np.ndarray:
    """Scale an (H, W[, C]) uint8 array so its shorter side is `target` (aspect kept, longer side rounded)."""
    height, width = rgb.shape[:2]
    if min(height, width) == target:
        return rgb
    new_h, new_w = shorter_side_size(height, width, target)
    return np.asarray(Image.fromarray(rgb).resize((new_w, new_h), resample))


def crop(rgb: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """A size x size window; raises if it does not fit."""
    height, width = rgb.shape[:2]
    if height < size or width < size:
        raise ValueError(f"image {width}x{height} is smaller than the crop size {size}")
    if not (0 <= top <= height - size and 0 <= left <= width - size):
        raise ValueError(f"crop at ({left}, {top}) of size {size} leaves the {width}x{height} image")
    return rgb[top : top + size, left : left + size]


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """The centred size x size window (odd margins put the extra pixel bottom/right)."""
    height, width = rgb.shape[:2]
    return crop(rgb, (height - size) // 2, (width - size) // 2, size)


@dataclass(frozen=True)
class Preprocess:
    """The evaluation policy of a data config: `resize` then `crop`, both to `size`."""

    size: int = 256
    resize: str = "shorter_side"
    crop: str = "center"

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_POLICIES:
            raise DatasetConfigError(f"unknown resize policy '{self.resize}' (known: {', '.join(RESIZE_POLICIES)})")
        if self.crop not in CROP_POLICIES:
            raise DatasetConfigError(f"unknown crop policy '{self.crop}' (known: {', '.join(CROP_POLICIES)})")
        if int(self.size) <= 0:
            raise DatasetConfigError(f"size must be positive, got {self.size}")

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self._geometry(rgb, Image.Resampling.BICUBIC)

    def apply_to_mask(self, mask: np.ndarray) -> np.ndarray:
        """The same resize and crop for a (H, W) uint8 {0, 1} mask at its image's source size, with
        nearest neighbour, so the hole lands on the pixels it covered in the user's image."""
        return np.ascontiguousarray(self._geometry(mask, Image.Resampling.NEAREST))

    def _geometry(self, array: np.ndarray, resample: Image.Resampling) -> np.ndarray:
        if self.resize == "shorter_side":
            array = resize_shorter_side(array, self.size, resample)
        if self.crop == "center":
            array = center_crop(array, self.size)
        return array

    def identity(self) -> dict[str, object]:
        """What a run hash records of the preprocessing."""
        return {"size": int(self.size), "resize": self.resize, "crop": self.crop}


@dataclass(frozen=True)
class RandomCropFlip:
    """Training augmentation: shorter side to `size * s` with s ~ U(scale_range), random crop, h-flip.

    The default scale range (1, 1) means no scale jitter: the shorter side becomes exactly `size`.
    With `resize="none"` the crop is taken at native resolution and `scale_range` must stay (1, 1).
    """

    size: int = 256
    scale_range: tuple[float, float] = (1.0, 1.0)
    hflip: bool = True
    resize: str = "shorter_side"

    def __post_init__(self) -> None:
        low, high = self.scale_range
        if not 1.0 <= low <= high:
            raise DatasetConfigError(f"scale_range must satisfy 1 <= low <= high, got {self.scale_range}")
        if self.resize not in RESIZE_POLICIES:
            raise DatasetConfigError(f"unknown resize policy '{self.resize}' (known: {', '.join(RESIZE_POLICIES)})")
        if self.resize == "none" and (low, high) != (1.0, 1.0):
            raise DatasetConfigError("scale_range needs resize: shorter_side")

    def __call__(self, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        low, high = self.scale_range
        scale = rng.uniform(low, high) if high > low else low
        if self.resize == "shorter_side":
            rgb = resize_shorter_side(rgb, round(self.size * scale))
        height, width = rgb.shape[:2]
        if height < self.size or width < self.size:
            raise ValueError(f"image {width}x{height} is smaller than the crop size {self.size}")
        top = int(rng.integers(0, height - self.size + 1))
        left = int(rng.integers(0, width - self.size + 1))
        rgb = crop(rgb, top, left, self.size)
        if self.hflip and rng.random() < 0.5:
            rgb = rgb[:, ::-1]
        return np.ascontiguousarray(rgb)
