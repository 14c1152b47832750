"""What a dataset holds, as one hash: the bytes of every image, with its id, in the dataset's order.

Used to label folder datasets (`<folder>-<8 hex>`), so two folders never share a name in results
and a folder whose files change gets a new label. Reading every file costs one pass over the data,
about what evaluating it costs anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from inpaintbench.io.hashing import sha256_file


def content_sha256(root: str | Path, ids: Sequence[str]) -> str:
    """sha256 over (id, sha256 of the file's bytes) of each image, in order. A missing or unreadable
    file contributes its id and the word 'unreadable' (it is skipped, with a warning, when evaluated)."""
    digest = hashlib.sha256()
    for image_id in ids:
        try:
            file_digest = sha256_file(Path(root) / image_id)
        except OSError:
            file_digest = "unreadable"
        digest.update(f"{image_id}\0{file_digest}\n".encode())
    return digest.hexdigest()


def dataset_label(name: str, root: str | Path, ids: Sequence[str]) -> str:
    """`<name>-<first 8 hex of the content sha256>`: the default label of a folder dataset."""
    return f"{name}-{content_sha256(root, ids)[:8]}"
