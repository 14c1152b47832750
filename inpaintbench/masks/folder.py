"""User masks from a folder, matched to image ids by relative path stem.

Image id `city/0001.jpg` takes the mask `<root>/city/0001<suffix>.<ext>` for any image extension
(PNG is the safe choice: JPEG masks are not binary after decoding). Nothing is implicit:

- `polarity: hole_white | hole_black` and `threshold` (in [0, 1), a fraction of full white) must
  be set in the config; a pixel is "white" when its grey value is
  > threshold, and a hole is white or black by polarity;
- the mask is binarised exactly once, at its own resolution, then follows its image's geometry
  (`render_source`): the same shorter-side resize and centre crop as the image, with nearest
  neighbour, so on a non-square photo the scored hole is the hole the user drew. A mask whose size
  differs from its image's but has the same aspect ratio is first scaled to the image's size with
  pixel-centre nearest neighbour (PIL's NEAREST = OpenCV's INTER_NEAREST_EXACT: source index
  floor((i + 0.5) * in / out)), with a warning naming the file; `strict: true` makes that an error,
  and another aspect ratio is always an error (the hole could not be placed);
- the sha256 of each mask file's bytes is part of the run's identity and is re-checked while
  reading, so an edited mask can never be served from an old run or cache;
- a mask file whose header claims more pixels than the budget (40 MP) is refused before decoding;
- grey levels in [0, 1]: 8-bit L / 255; 1-bit as 0/1; 16-bit images (PIL modes I;16 and I) / 65535;
  RGB, palette and alpha images are converted to L with PIL's ITU-R 601 luma, ignoring alpha (put
  the mask in the colour channels, not in alpha);
- `missing: error | skip`: an image id without a mask stops `samples()` with the first ids named,
  or is left out of the protocol.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from inpaintbench.data.images import DEFAULT_MAX_PIXELS, check_pixel_budget
from inpaintbench.data.transforms import Preprocess
from inpaintbench.masks.errors import MaskError
from inpaintbench.masks.protocol import REQUIRED, MaskProtocol, MaskSample, register_protocol, unique_ids

#: Extensions tried when matching a mask file (lower case; matched case-insensitively).
MASK_EXTENSIONS: tuple[str, ...] = (".png", ".bmp", ".tif", ".tiff", ".webp", ".jpg", ".jpeg")


class MaskSizeWarning(UserWarning):
    """A folder mask had another size than its image and was resized with nearest neighbour."""


@dataclass(frozen=True)
class SourceMask:
    """A rendered folder mask and the sha256 of the file bytes it was decoded from."""

    mask: np.ndarray
    sha256: str


def read_grey(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A mask file as float64 grey values in [0, 1] (value / 255 or / 65535, correctly rounded, so a
    threshold written as k / 255 splits exactly at level k); a one-line error naming the file."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise MaskError(f"cannot read mask file {path}: {error.strerror or error}") from None
    return decode_grey(data, path, max_pixels)


def decode_grey(data: bytes, path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """`read_grey` on bytes already read (`path` only names the file in errors)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            check_pixel_budget(image.width, image.height, max_pixels)
            image.load()
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                return np.asarray(image, dtype=np.float64) / 65535.0
            if image.mode == "F":
                raise MaskError("floating-point mask images are ambiguous; save masks as 8-bit PNG")
            return np.asarray(image.convert("L"), dtype=np.float64) / 255.0
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as error:
        raise MaskError(f"cannot read mask file {path}: {error}") from None


def binarize_grey(grey: np.ndarray, polarity: str, threshold: float) -> np.ndarray:
    """The one binarisation of a user mask: uint8 {0, 1}, 1 = hole."""
    if polarity not in ("hole_white", "hole_black"):
        raise MaskError(f"mask polarity must be hole_white or hole_black, got {polarity!r}")
    white = grey > threshold
    hole = white if polarity == "hole_white" else ~white
    return hole.astype(np.uint8)


def read_mask(path: str | Path, *, polarity: str, threshold: float) -> np.ndarray:
    """One user mask file as uint8 (H, W) {0, 1}, 1 = hole, binarised once (see the module docstring)."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold < 1.0:
        raise MaskError(f"mask threshold must be a number in [0, 1), got {threshold!r}")
    return binarize_grey(read_grey(path), polarity, float(threshold))


@register_protocol
class FolderProtocol(MaskProtocol):
    """User-supplied masks; see the module docstring for matching, polarity and resizing rules."""

    name = "folder"
    version = 1
    defaults: ClassVar[dict[str, Any]] = {
        "root": REQUIRED,
        "polarity": REQUIRED,
        "threshold": REQUIRED,
        "strict": False,
        "suffix": "",
        "missing": "error",
    }

    def validate(self) -> None:
        p = self.params
        if p["polarity"] not in ("hole_white", "hole_black"):
            raise MaskError(f"folder: polarity must be hole_white or hole_black, got {p['polarity']!r}")
        threshold = p["threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold < 1.0:
            raise MaskError(f"folder: threshold must be a number in [0, 1), got {threshold!r}")
        if p["missing"] not in ("error", "skip"):
            raise MaskError(f"folder: missing must be error or skip, got {p['missing']!r}")
        if not isinstance(p["strict"], bool):
            raise MaskError(f"folder: strict must be true or false, got {p['strict']!r}")
        if not Path(p["root"]).is_dir():
            raise MaskError(f"folder: mask root {p['root']} is not a directory")
        self._index: dict[str, list[Path]] | None = None

    @property
    def root(self) -> Path:
        return Path(self.params["root"])

    def _files(self) -> dict[str, list[Path]]:
        """Relative stem (posix, without extension) -> mask files, built once per protocol object."""
        if self._index is None:
            index: dict[str, list[Path]] = {}
            for path in sorted(self.root.rglob("*")):
                if path.is_file() and path.suffix.lower() in MASK_EXTENSIONS:
                    stem = path.relative_to(self.root).with_suffix("").as_posix()
                    index.setdefault(stem, []).append(path)
            self._index = index
        return self._index

    def mask_path(self, image_id: str) -> Path | None:
        """The mask file of an image id, None if there is none; two candidates are an error."""
        stem = Path(image_id).with_suffix("").as_posix() + self.params["suffix"]
        candidates = self._files().get(stem, [])
        if len(candidates) > 1:
            names = ", ".join(str(c) for c in candidates)
            raise MaskError(f"folder: image '{image_id}' matches several masks ({names}); keep one")
        return candidates[0] if candidates else None

    def samples(self, image_ids: Iterable[str]) -> list[MaskSample]:
        ids = unique_ids(image_ids, self.name)
        missing = [image_id for image_id in ids if self.mask_path(image_id) is None]
        if missing and self.params["missing"] == "error":
            shown = ", ".join(repr(m) for m in missing[:3]) + (" ..." if len(missing) > 3 else "")
            raise FileNotFoundError(
                f"folder: {len(missing)} of {len(ids)} images have no mask under {self.root} "
                f"(suffix {self.params['suffix']!r}): {shown}; set missing: skip to leave them out"
            )
        absent = set(missing)
        kept = [image_id for image_id in ids if image_id not in absent]
        return self._one_per_image(kept, "folder")

    def mask_file(self, sample: MaskSample) -> Path:
        """The file a sample's mask is read from (the runner hashes it into the run's identity)."""
        return self._existing_path(sample.image_id)

    def _existing_path(self, image_id: str) -> Path:
        path = self.mask_path(image_id)
        if path is None:
            raise FileNotFoundError(f"folder: no mask for image '{image_id}' under {self.root}")
        return path

    def render_source(self, sample: MaskSample, source_size: tuple[int, int], preprocess: Preprocess) -> SourceMask:
        """The mask of `sample` put through its image's geometry: `source_size` is the image's (H, W)
        before preprocessing, `preprocess` the resize and crop the image went through."""
        path = self._existing_path(sample.image_id)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise MaskError(f"cannot read mask file {path}: {error.strerror or error}") from None
        grey = decode_grey(data, path)
        mask = binarize_grey(grey, self.params["polarity"], float(self.params["threshold"]))
        mask = self._to_source_size(mask, path, source_size)
        try:
            mask = preprocess.apply_to_mask(mask)
        except ValueError as error:
            raise MaskError(f"mask {path}: {error}") from None
        return SourceMask(mask, hashlib.sha256(data).hexdigest())

    def _to_source_size(self, mask: np.ndarray, path: Path, source_size: tuple[int, int]) -> np.ndarray:
        height, width = source_size
        if mask.shape == (height, width):
            return mask
        size = f"mask {path} is {mask.shape[1]}x{mask.shape[0]} but its image is {width}x{height}"
        scale_x, scale_y = width / mask.shape[1], height / mask.shape[0]
        if abs(scale_x - scale_y) > 0.01 * max(scale_x, scale_y):
            raise MaskError(f"{size} (another aspect ratio, so the hole cannot be placed); save it at the image's size")
        if self.params["strict"]:
            raise MaskError(f"{size} (strict: true)")
        warnings.warn(f"{size}: scaled to the image with nearest", MaskSizeWarning, stacklevel=3)
        return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)

    def render(self, sample: MaskSample, height: int, width: int) -> np.ndarray:
        """The mask at `height` x `width` when its image's geometry is unknown (same aspect only);
        the runner uses `render_source`, which applies the image's resize and crop."""
        path = self._existing_path(sample.image_id)
        mask = read_mask(path, polarity=self.params["polarity"], threshold=float(self.params["threshold"]))
        return self._to_source_size(mask, path, (height, width))
