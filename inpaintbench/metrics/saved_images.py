"""Completed images as PNG files in the run directory, for people and for other evaluators.

Layout inside a run directory (names follow the inputs, so another tool can pair them by path):

    images/<mask suffix>/<image id>.png   the 8-bit composite the metrics scored
    masks/<mask suffix>/<image id>.png    its mask (white = hole)
    real/<image id>.png                   the ground truth after preprocessing (what was compared)

`<mask suffix>` is the part of the mask id after `<image id>#` (e.g. `0-10.0`: bucket and index),
and the image id's extension becomes `.png`. With `save_images=true` every sample is written;
by default only the samples the HTML report's grids show: per bin, the `GRID_PER_BIN` samples
whose seeded hash of (image id, mask id) is smallest (the same pairs for every model, as the hash
ignores the model), plus the run's `GRID_WORST` samples by L1 (hole). Both choices are made per
shard: the global choice is a subset of the union of per-shard choices, so resumed and
distributed runs save everything the report needs without holding all images.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from inpaintbench.metrics.aggregate import scored
from inpaintbench.results import atomic_write_bytes, slug, stable_hash

GRID_PER_BIN = 3
GRID_WORST = 4
GRID_SEED = 0
WORST_METRIC = "l1_hole"


def mask_suffix(image_id: str, mask_id: str) -> str:
    """`bythewater_00.png#0-10.0` -> `0-10.0`; a mask id of another form becomes a path-safe slug."""
    prefix = f"{image_id}#"
    return slug(mask_id[len(prefix) :] if mask_id.startswith(prefix) else mask_id)


def _png_id(image_id: str) -> str:
    return PurePosixPath(image_id).with_suffix(".png").as_posix()


def completed_path(image_id: str, mask_id: str) -> str:
    """Path of a sample's completed image, relative to the run directory."""
    return f"images/{mask_suffix(image_id, mask_id)}/{_png_id(image_id)}"


def mask_path(image_id: str, mask_id: str) -> str:
    return f"masks/{mask_suffix(image_id, mask_id)}/{_png_id(image_id)}"


def real_path(image_id: str) -> str:
    return f"real/{_png_id(image_id)}"


def grid_rank(row: Mapping[str, Any]) -> str:
    """The seeded, model-independent order in which a bin's samples enter the grid."""
    return stable_hash([GRID_SEED, str(row["image_id"]), str(row["mask_id"])])


def grid_choice(rows: Iterable[Mapping[str, Any]], per_bin: int = GRID_PER_BIN) -> dict[str, list[dict[str, Any]]]:
    """bin -> its `per_bin` samples with the smallest grid rank (scored rows only)."""
    by_bin: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if scored(row):
            by_bin.setdefault(str(row["bin"]), []).append(dict(row))
    return {name: sorted(members, key=grid_rank)[:per_bin] for name, members in by_bin.items()}


def worst_choice(rows: Iterable[Mapping[str, Any]], count: int = GRID_WORST) -> list[dict[str, Any]]:
    """The `count` samples with the largest L1 (hole), worst first; ties broken by grid rank."""
    valued = [dict(r) for r in rows if isinstance(r.get(WORST_METRIC), float) and math.isfinite(r[WORST_METRIC])]
    return sorted(valued, key=lambda r: (-r[WORST_METRIC], grid_rank(r)))[:count]


def selected_keys(rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Sample keys of everything the report's grids could show from these rows."""
    chosen = [r for members in grid_choice(rows).values() for r in members] + worst_choice(rows)
    return {str(r["sample_key"]) for r in chosen}


def all_saved(run_dir: str | Path, rows: Iterable[Mapping[str, Any]]) -> bool:
    """True when every scored row has its completed image on disk (an older run may have none;
    unreadable inputs and empty or full holes have no completion)."""
    return all(
        (Path(run_dir) / completed_path(str(r["image_id"]), str(r["mask_id"]))).is_file() for r in rows if scored(r)
    )


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _uint8_hwc(tensor: Tensor) -> np.ndarray:
    """(3, H, W) or (1, H, W) float on 8-bit levels in [0, 1] -> (H, W, 3) / (H, W) uint8."""
    array = (tensor.detach().cpu().float().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return array[0] if array.shape[0] == 1 else np.ascontiguousarray(array.transpose(1, 2, 0))


class ShardImages:
    """Collects one shard's images and writes the chosen ones (all of them with `save_all`).

    The runner calls `add` after scoring each batch and `write` before the shard's rows file, so a
    shard on disk always has its images; a crash in between leaves files that a rerun overwrites.
    """

    def __init__(self, run_dir: str | Path, save_all: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.save_all = save_all
        self.rows: list[dict[str, Any]] = []
        self.pending: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def add(self, rows: Sequence[Mapping[str, Any]], image: Tensor, mask: Tensor, completed: Tensor) -> None:
        """`rows[j]` is the scored row of `image[j]`, `mask[j]`, `completed[j]`."""
        for j, row in enumerate(rows):
            arrays = (_uint8_hwc(image[j]), _uint8_hwc(mask[j]), _uint8_hwc(completed[j]))
            self.rows.append(dict(row))
            if self.save_all:
                self._write(row, *arrays)
            else:
                self.pending[str(row["sample_key"])] = arrays
        if not self.save_all:  # keep only the current candidates: memory stays at a few images per bin
            keep = selected_keys(self.rows)
            self.pending = {key: value for key, value in self.pending.items() if key in keep}

    def write(self) -> int:
        """Write the shard's chosen samples; returns how many were written in this shard in total."""
        if self.save_all:
            return len(self.rows)
        for row in self.rows:
            arrays = self.pending.get(str(row["sample_key"]))
            if arrays is not None:
                self._write(row, *arrays)
        return len(self.pending)

    def _write(self, row: Mapping[str, Any], real: np.ndarray, mask: np.ndarray, completed: np.ndarray) -> None:
        image_id, mask_id = str(row["image_id"]), str(row["mask_id"])
        for relative, array in (
            (completed_path(image_id, mask_id), completed),
            (mask_path(image_id, mask_id), mask),
            (real_path(image_id), real),
        ):
            target = self.run_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, png_bytes(array))
