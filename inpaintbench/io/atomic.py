"""The one atomic writer: a temporary beside the target, fsync, rename; debris never survives a failure.

The temporary is unique per process and thread (`.<name>.<pid>.<thread>.tmp`), so concurrent writers
of the same file (ranks, resumed runs) never write into each other's temporary.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def temporary_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write `path` through (for writers that want a file name); on
    success it is fsynced and renamed onto `path`, on any error it is removed and the error raised."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> None:
    """`write(handle)` into a temporary beside `path`, fsync, rename. OSError propagates (after
    cleanup) for the caller to turn into its own one-line message."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        write(handle)
        handle.flush()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(data))
