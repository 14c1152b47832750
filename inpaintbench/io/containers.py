"""Weight-container detection from a file's bytes, and the one safetensors reader.

Formats: safetensors (8-byte little-endian header length, then a JSON object), torch zip
(`PK\x03\x04`), torch legacy pickle (`\x80`), torch < 0.4 tar; TensorFlow TensorBundles are folders or
`.index` prefixes, recognised by `release.tensorbundle`. Reading code never runs here.
"""

from __future__ import annotations

import struct
import tarfile
from pathlib import Path

from torch import Tensor

from inpaintbench.io.errors import WeightsError

ZIP_MAGIC = b"PK\x03\x04"


def is_safetensors_file(path: Path) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON object."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return 2 <= header_len <= path.stat().st_size - 8


def container_format(path: Path) -> str:
    """'zip', 'legacy' (torch < 1.6 magic-number format) or 'tar' (torch < 0.4), from the bytes."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head[:4] == ZIP_MAGIC:
        return "zip"
    if head[:1] == b"\x80":
        return "legacy"
    if tarfile.is_tarfile(path):
        return "tar"
    raise WeightsError(f"{path}: not a torch pickle (starts with {head[:8]!r})")


def read_safetensors(path: Path) -> dict[str, Tensor]:
    """All tensors of a safetensors file on the CPU; any failure is one WeightsError line."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as error:  # safetensors raises several unrelated types
        raise WeightsError(f"{path}: not a readable safetensors file ({error})") from None
