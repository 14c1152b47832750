"""Decode any supported image file into 8-bit RGB, and turn 8-bit RGB into the batch's float tensor.

Every image enters the pipeline on the 256 levels of an 8-bit PNG: the harness composites and
quantises completed images to 8 bit (`inpainter.quantize_8bit`), so ground truth must live on the
same levels or known pixels would not stay bit-identical. The float tensor is computed as
`uint8 -> float32 / 255`, so every value is exactly `k / 255`.

Conversions (all documented choices):
- EXIF orientation is applied (`ImageOps.exif_transpose`), so a photo is seen upright as a viewer
  shows it; ids and sizes refer to the upright image.
- Grayscale (`L`, bilevel `1`) is replicated to three channels.
- Alpha (`RGBA`, `LA`, `PA`, palette transparency) is dropped, **not** composited on a background:
  the colour stored under a transparent pixel is what the model sees.
- Palette (`P`) images are mapped to RGB through their palette.
- 16-bit images (`I;16*`, `I`, and 16-bit RGB/RGBA/LA PNG or TIFF) are scaled to 8-bit levels by
  rounding, `round(v * 255 / 65535)`. Pillow itself would truncate 16-bit colour files to their high
  byte, so those are decoded with OpenCV to keep all 16 bits before rounding.
- CMYK, YCbCr, LAB, HSV use Pillow's conversion to RGB. Embedded ICC profiles are ignored (no colour
  management), as in the loaders the published models were trained and evaluated with.
- Floating-point images (`F`) are rejected: their range is not defined by the format.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from inpaintbench.errors import InpaintbenchError

#: Default pixel budget (`data.max_pixels`): larger images are refused from their header, before decoding,
#: so a small compressed file cannot claim gigabytes of memory (a decompression bomb).
DEFAULT_MAX_PIXELS = 40_000_000

#: Extensions a folder dataset picks up (compared case-insensitively).
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})

_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageDecodeError(InpaintbenchError, ValueError):
    """An image file that cannot be turned into 8-bit RGB; the message names the file and the problem."""


def is_image_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def uint16_to_uint8(values: np.ndarray) -> np.ndarray:
    """Round 16-bit levels to 8-bit levels: round(v * 255 / 65535), exact in integers (no ties exist)."""
    wide = values.astype(np.uint32)
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)


@dataclass(frozen=True)
class LoadedImage:
    """A decoded file with the sha256 of the bytes it was decoded from (hashed while reading)."""

    rgb: np.ndarray
    sha256: str


def load_rgb8(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as an upright (H, W, 3) uint8 RGB array; raise ImageDecodeError otherwise."""
    return load_rgb8_hashed(path, max_pixels).rgb


def load_rgb8_hashed(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """`load_rgb8` plus the sha256 of exactly the bytes decoded, so identity and pixels cannot disagree."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ImageDecodeError(f"{path}: cannot read file ({err.strerror or err})") from None
    try:
        return LoadedImage(decode_rgb8(data, max_pixels), hashlib.sha256(data).hexdigest())
    except ImageDecodeError as err:
        raise ImageDecodeError(f"{path}: {err}") from None
    except UnidentifiedImageError:
        message = "not a recognised image (unknown format, unsupported variant or corrupt)"
        raise ImageDecodeError(f"{path}: {message}") from None
    except Exception as err:  # Pillow and libtiff raise many types (OSError, SyntaxError, ValueError, ...)
        raise ImageDecodeError(f"{path}: cannot decode image ({type(err).__name__}: {err})") from None


def check_pixel_budget(width: int, height: int, max_pixels: int) -> None:
    """Refuse an image whose header claims more than `max_pixels` pixels (before any decoding)."""
    if width * height > max_pixels:
        raise ImageDecodeError(
            f"{width}x{height} = {width * height} pixels exceeds the pixel budget data.max_pixels={max_pixels}; "
            "refused before decoding"
        )


def decode_rgb8(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes into an upright (H, W, 3) uint8 RGB array (conversions: module docstring)."""
    with Image.open(io.BytesIO(data)) as image:
        check_pixel_budget(image.width, image.height, max_pixels)
        is_16bit_colour = _is_16bit_colour(image)  # before getexif(), which may load (and clear .tile)
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        if is_16bit_colour:
            return _apply_orientation(_decode_16bit_colour(data), orientation)
        if orientation in _EXIF_TRANSPOSE:  # exif_transpose copies even when there is nothing to do
            image = ImageOps.exif_transpose(image)
        return pil_to_rgb8(image)


def pil_to_rgb8(image: Image.Image) -> np.ndarray:
    """Convert a decoded Pillow image of any supported mode into (H, W, 3) uint8 RGB."""
    mode = image.mode
    if mode == "RGB":
        array = np.asarray(image)
    elif mode in ("RGBA", "RGBa", "RGBX"):
        array = np.asarray(image.convert("RGBA") if mode == "RGBa" else image)[..., :3]
    elif mode in ("L", "1", "LA", "La"):
        gray = np.asarray(image.getchannel(0).convert("L"))
        array = np.repeat(gray[..., None], 3, axis=2)
    elif mode in ("P", "PA"):
        # Through RGBA so palette transparency is dropped like any alpha, never composited.
        array = np.asarray(image.convert("RGBA"))[..., :3]
    elif mode.startswith("I;16") or mode == "I":
        levels = np.asarray(image).astype(np.int64)
        if levels.size and (levels.min() < 0 or levels.max() > 65535):
            raise ImageDecodeError(f"mode {mode} values outside 0..65535 (not a 16-bit image)")
        array = np.repeat(uint16_to_uint8(levels)[..., None], 3, axis=2)
    elif mode == "F":
        raise ImageDecodeError("floating-point images (mode F) are not supported: their value range is undefined")
    else:  # CMYK, YCbCr, LAB, HSV and anything else Pillow can convert
        array = np.asarray(image.convert("RGB"))
    return np.ascontiguousarray(array, dtype=np.uint8)


def read_image(path: str | Path) -> Tensor:
    """One image file as a (3, H, W) float32 tensor on 8-bit levels, at its own size (no resize/crop)."""
    return rgb8_to_tensor(load_rgb8(path))


def rgb8_to_tensor(rgb: np.ndarray) -> Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 with values exactly k / 255."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) uint8, got {rgb.dtype} {rgb.shape}")
    # A copy: arrays from Pillow are read-only views, and the tensor must own writable memory.
    return torch.from_numpy(np.array(rgb, order="C", copy=True)).permute(2, 0, 1).to(torch.float32).div_(255.0)


def _is_16bit_colour(image: Image.Image) -> bool:
    """True when Pillow would silently truncate 16-bit samples (16-bit RGB/RGBA/LA PNG or TIFF)."""
    if image.mode not in ("RGB", "RGBA", "LA"):
        return False
    for tile in image.tile:
        rawmode = tile.args if isinstance(tile.args, str) else (tile.args or ("",))[0]
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


def _decode_16bit_colour(data: bytes) -> np.ndarray:
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.dtype != np.uint16:
        raise ImageDecodeError("cannot decode 16-bit colour image")
    if decoded.ndim == 2:
        gray = uint16_to_uint8(decoded)
        return np.repeat(gray[..., None], 3, axis=2)
    channels = decoded.shape[2]
    if channels == 2:  # gray + alpha
        return np.repeat(uint16_to_uint8(decoded[..., 0])[..., None], 3, axis=2)
    # OpenCV orders colour as BGR(A); alpha is dropped.
    return np.ascontiguousarray(uint16_to_uint8(decoded[..., 2::-1]))


def _apply_orientation(rgb: np.ndarray, orientation: int) -> np.ndarray:
    method = _EXIF_TRANSPOSE.get(orientation)
    if method is None:
        return rgb
    return np.asarray(Image.fromarray(rgb).transpose(method))
