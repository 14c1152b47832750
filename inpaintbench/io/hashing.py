"""sha256 of files, and the one check of a digest against a full hash or a published prefix."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from inpaintbench.io.errors import WeightsError

CHUNK = 1 << 20


def sha256_files(paths: Iterable[str | Path]) -> str:
    """sha256 of several files read one after the other (a TensorFlow checkpoint's identity)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, streamed in 1 MiB chunks."""
    return sha256_files([path])


def matches_sha256(actual: str, expected: str | None) -> bool:
    """A full hash or a published prefix (torch hub names carry 8-10 hex digits); empty never matches."""
    return bool(expected) and actual.startswith(expected.lower())


def check_sha256(label: str | Path, actual: str, expected: str | None, *, published: bool = False) -> str:
    """Raise WeightsError naming `label` unless `actual` matches `expected`; return `actual`."""
    if not matches_sha256(actual, expected):
        wanted = (
            f"does not start with the published {expected}" if published else f"does not match the expected {expected}"
        )
        raise WeightsError(f"{label}: sha256 {actual[:16]}... {wanted}")
    return actual
