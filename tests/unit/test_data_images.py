"""Decoding to 8-bit RGB: every mode lands on the right RGB values, exactly k/255 as floats."""

from __future__ import annotations

import zlib
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from inpaintbench.data.images import ImageDecodeError, load_rgb8, rgb8_to_tensor, uint16_to_uint8

# 16-bit levels chosen so that rounding and Pillow's high-byte truncation disagree on several of them.
LEVELS_16 = np.array([0, 1, 127, 128, 255, 257, 496, 32767, 32768, 32960, 65407, 65535], dtype=np.uint16)


def rounded_8bit(value: int) -> int:
    """Reference: round(v * 255 / 65535) in exact rational arithmetic."""
    return round(Fraction(int(value) * 255, 65535))


def test_uint16_to_uint8_matches_exact_rounding_for_every_level() -> None:
    every = np.arange(65536, dtype=np.uint16)
    expected = np.array([round(Fraction(v * 255, 65535)) for v in range(65536)], dtype=np.uint8)
    np.testing.assert_array_equal(uint16_to_uint8(every), expected)


def test_tensor_values_are_exact_8bit_levels() -> None:
    rgb = np.arange(256, dtype=np.uint8).repeat(3).reshape(16, 16, 3)
    tensor = rgb8_to_tensor(rgb)
    assert tensor.dtype == torch.float32 and tensor.shape == (3, 16, 16)
    assert torch.equal(tensor[0].flatten(), torch.arange(256, dtype=torch.float32) / 255.0)


def test_grayscale_is_replicated(tmp_path: Path) -> None:
    gray = np.array([[0, 17, 255], [1, 128, 254]], dtype=np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    rgb = load_rgb8(tmp_path / "g.png")
    assert rgb.shape == (2, 3, 3)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], gray)


def test_bilevel_becomes_black_and_white(tmp_path: Path) -> None:
    bits = np.array([[True, False, True]])
    Image.fromarray(bits).convert("1").save(tmp_path / "b.png")
    rgb = load_rgb8(tmp_path / "b.png")
    np.testing.assert_array_equal(rgb[..., 0], [[255, 0, 255]])


def test_rgba_alpha_is_dropped_not_composited(tmp_path: Path) -> None:
    rgba = np.array([[[10, 200, 30, 255], [40, 50, 60, 0], [250, 1, 128, 77]]], dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(load_rgb8(tmp_path / "a.png"), rgba[..., :3])


def test_gray_alpha_is_dropped(tmp_path: Path) -> None:
    la = np.array([[[9, 0], [200, 255]]], dtype=np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    rgb = load_rgb8(tmp_path / "la.png")
    np.testing.assert_array_equal(rgb, np.repeat(la[..., :1], 3, axis=2))


def test_palette_maps_through_the_palette(tmp_path: Path) -> None:
    palette = [255, 0, 0, 0, 128, 255, 10, 20, 30]
    image = Image.fromarray(np.array([[0, 1, 2, 1]], dtype=np.uint8), "P")
    image.putpalette(palette + [0] * (768 - len(palette)))
    image.info["transparency"] = 1  # a transparent palette entry keeps its colour
    image.save(tmp_path / "p.png", transparency=1)
    assert Image.open(tmp_path / "p.png").mode == "P"
    expected = np.array([[[255, 0, 0], [0, 128, 255], [10, 20, 30], [0, 128, 255]]], dtype=np.uint8)
    np.testing.assert_array_equal(load_rgb8(tmp_path / "p.png"), expected)


def test_16bit_grayscale_png_is_rounded(tmp_path: Path) -> None:
    Image.fromarray(LEVELS_16[None, :]).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I;16")
    rgb = load_rgb8(tmp_path / "g16.png")
    expected = [rounded_8bit(v) for v in LEVELS_16]
    for channel in range(3):
        assert rgb[0, :, channel].tolist() == expected


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_colour_is_rounded_not_truncated(tmp_path: Path, suffix: str) -> None:
    red, green, blue = LEVELS_16, LEVELS_16[::-1], np.roll(LEVELS_16, 3)
    rgb16 = np.stack([red, green, blue], axis=-1)[None]  # (1, 12, 3)
    path = tmp_path / f"c16{suffix}"
    assert cv2.imwrite(str(path), rgb16[..., ::-1])  # OpenCV writes BGR
    rgb = load_rgb8(path)
    expected = np.vectorize(rounded_8bit)(rgb16).astype(np.uint8)
    np.testing.assert_array_equal(rgb, expected)
    truncated = (rgb16 >> 8).astype(np.uint8)
    assert (rgb != truncated).any()  # the levels above make the two disagree


def test_16bit_rgba_png_drops_alpha(tmp_path: Path) -> None:
    bgra = np.zeros((1, 4, 4), dtype=np.uint16)
    bgra[0, :, 2] = LEVELS_16[:4]  # red
    bgra[0, :, 3] = [0, 65535, 1000, 0]  # alpha
    assert cv2.imwrite(str(tmp_path / "a16.png"), bgra)
    rgb = load_rgb8(tmp_path / "a16.png")
    assert rgb[0, :, 0].tolist() == [rounded_8bit(v) for v in LEVELS_16[:4]]
    assert (rgb[..., 1:] == 0).all()


def test_cmyk_uses_the_multiplicative_conversion(tmp_path: Path) -> None:
    cmyk = np.array([[[10, 20, 30, 40], [200, 100, 0, 250], [0, 0, 0, 0], [255, 0, 128, 0]]], dtype=np.uint8)
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.tif")
    rgb = load_rgb8(tmp_path / "c.tif")
    c, m, y, k = (cmyk[..., i].astype(int) for i in range(4))
    # Brute-force reference: each channel (255 - ink) * (255 - black) / 255, never a tie (255 is odd).
    expected = [
        [
            [round(Fraction((255 - ink) * (255 - kk), 255)) for ink in (cc, mm, yy)]
            for cc, mm, yy, kk in zip(c[0], m[0], y[0], k[0], strict=True)
        ]
    ]
    np.testing.assert_array_equal(rgb, np.array(expected, dtype=np.uint8))


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    image.save(tmp_path / "o.png", exif=exif.tobytes())
    rgb = load_rgb8(tmp_path / "o.png")
    np.testing.assert_array_equal(rgb, np.rot90(pixels, k=-1))


@pytest.mark.parametrize("fmt,suffix", [("WEBP", ".webp"), ("BMP", ".bmp"), ("TIFF", ".tiff"), ("PNG", ".PNG")])
def test_lossless_formats_round_trip(tmp_path: Path, fmt: str, suffix: str) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = tmp_path / f"x{suffix}"
    Image.fromarray(pixels).save(path, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    np.testing.assert_array_equal(load_rgb8(path), pixels)


def test_float_images_are_rejected_with_the_file_name(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((2, 2), dtype=np.float32), "F").save(tmp_path / "f.tif")
    with pytest.raises(ImageDecodeError, match=r"f\.tif.*mode F"):
        load_rgb8(tmp_path / "f.tif")


def test_garbage_raises_decode_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "junk.jpg").write_bytes(b"definitely not a jpeg")
    with pytest.raises(ImageDecodeError, match=r"junk\.jpg: not a recognised image"):
        load_rgb8(tmp_path / "junk.jpg")


def _with_exif_chunk(png: bytes, orientation: int) -> bytes:
    """Insert an eXIf chunk right after IHDR (OpenCV cannot write one)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    payload = exif.tobytes()[6:] if exif.tobytes().startswith(b"Exif\x00\x00") else exif.tobytes()
    chunk = len(payload).to_bytes(4, "big") + b"eXIf" + payload
    chunk += zlib.crc32(b"eXIf" + payload).to_bytes(4, "big")
    ihdr_end = 8 + 4 + 4 + 13 + 4
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def test_exif_orientation_applies_to_16bit_colour_too(tmp_path: Path) -> None:
    rgb16 = (np.arange(2 * 3 * 3, dtype=np.uint16).reshape(2, 3, 3) * 3000).astype(np.uint16)
    ok, encoded = cv2.imencode(".png", rgb16[..., ::-1])
    assert ok
    path = tmp_path / "o16.png"
    path.write_bytes(_with_exif_chunk(encoded.tobytes(), 6))
    expected = np.vectorize(rounded_8bit)(np.rot90(rgb16, k=-1)).astype(np.uint8)
    np.testing.assert_array_equal(load_rgb8(path), expected)
