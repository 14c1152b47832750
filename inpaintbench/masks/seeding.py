"""Sub-seeds derived from names, never from global RNG state.

A mask must be a pure function of (protocol, version, seed, image id, sample index): any shard,
subset or re-ordering of the image list has to reproduce it. So every random stream is built from
a SHA-256 of those parts, spelled out as text, and fed to `np.random.SeedSequence`.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(*parts: object) -> np.random.SeedSequence:
    """A SeedSequence from the SHA-256 of the parts (joined with a separator no id contains)."""
    text = "\x1f".join(f"{type(part).__name__}:{part}" for part in parts)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return np.random.SeedSequence(int.from_bytes(digest, "big"))


def derive_rng(*parts: object) -> np.random.Generator:
    """An independent PCG64 generator for the given parts (see `derive_seed`)."""
    return np.random.Generator(np.random.PCG64(derive_seed(*parts)))
