"""Image grids of the report: the same seeded samples for every model, and each model's worst ones.

Thumbnails are small JPEGs inlined as data URIs (the page stays a few MB for hundreds of them);
each links to the full-size PNG the evaluation saved in its run directory
(`inpaintbench.metrics.saved_images`), by a path relative to the page.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from inpaintbench.metrics.saved_images import (
    WORST_METRIC,
    completed_path,
    grid_choice,
    mask_path,
    mask_suffix,
    real_path,
    worst_choice,
)

THUMB_SIZE = 128  # px, longer side
JPEG_QUALITY = 85
HOLE_COLOUR = (255, 255, 255)  # the masked input shows holes white, as LaMa's visualiser does


@dataclass
class Thumb:
    """One grid cell: an inline thumbnail linking to a full-size file, or the reason there is none."""

    caption: str
    src: str | None = None
    href: str | None = None
    missing: str | None = None


@dataclass
class GridRow:
    title: str
    cells: list[Thumb] = field(default_factory=list)


@dataclass
class RunImages:
    """The rows and directory of one run, as the grids need them."""

    model: str
    path: Path
    rows: list[dict[str, Any]]
    by_pair: dict[tuple[str, str], dict[str, Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_pair = {(r["image_id"], r["mask_id"]): r for r in self.rows}

    def row(self, image_id: str, mask_id: str) -> dict[str, Any] | None:
        return self.by_pair.get((image_id, mask_id))


def thumbnail(array: np.ndarray) -> str:
    """A JPEG data URI of `array` (H, W, 3 uint8) scaled to THUMB_SIZE on its longer side."""
    image = Image.fromarray(array)
    image.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _link(path: Path, page_dir: Path) -> str:
    return Path(os.path.relpath(path, page_dir)).as_posix()


def _missing(caption: str, path: Path) -> Thumb:
    return Thumb(caption, missing=f"not saved: {path.name} (run `inpaintbench eval` again to write it)")


def masked_input_cell(run: RunImages, row: Mapping[str, Any], page_dir: Path) -> Thumb:
    """The input the model saw: ground truth with the hole painted white; links to the mask PNG."""
    real = run.path / real_path(row["image_id"])
    mask = run.path / mask_path(row["image_id"], row["mask_id"])
    caption = f"input, hole {100 * float(row['hole_ratio']):.1f} %"
    if not (real.is_file() and mask.is_file()):
        return _missing(caption, mask if real.is_file() else real)
    picture = _read(real).copy()
    with Image.open(mask) as handle:
        hole = np.asarray(handle.convert("L")) > 127
    picture[hole] = HOLE_COLOUR
    return Thumb(caption, thumbnail(picture), _link(mask, page_dir))


def file_cell(path: Path, caption: str, page_dir: Path) -> Thumb:
    if not path.is_file():
        return _missing(caption, path)
    return Thumb(caption, thumbnail(_read(path)), _link(path, page_dir))


def _metric_caption(row: Mapping[str, Any] | None) -> str:
    if row is None or not isinstance(row.get(WORST_METRIC), float):
        return ""
    return f"L1 hole {row[WORST_METRIC]:.4f}"


def comparison_grid(runs: Sequence[RunImages], bins: Sequence[str], page_dir: Path) -> tuple[list[str], list[GridRow]]:
    """Header and rows: per bin, the seeded samples; columns = masked input, each model, ground truth."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:
        for row in run.rows:
            merged.setdefault((row["image_id"], row["mask_id"]), row)
    choice = grid_choice(merged.values())
    header = ["masked input", *[run.model for run in runs], "ground truth"]
    rows = []
    for name in [b for b in bins if b in choice] + sorted(set(choice) - set(bins)):
        for sample in choice[name]:
            key = (sample["image_id"], sample["mask_id"])
            holder = next(run for run in runs if run.row(*key) is not None)
            cells = [masked_input_cell(holder, sample, page_dir)]
            for run in runs:
                row = run.row(*key)
                if row is None:
                    cells.append(Thumb(run.model, missing="sample not in this run"))
                    continue
                path = run.path / completed_path(*key)
                cells.append(file_cell(path, _metric_caption(row), page_dir))
            cells.append(file_cell(holder.path / real_path(sample["image_id"]), "ground truth", page_dir))
            rows.append(GridRow(f"bin {name} %: {sample['image_id']}, mask {mask_suffix(*key)}", cells))
    return header, rows


def worst_grid(run: RunImages, page_dir: Path) -> list[GridRow]:
    """The run's worst samples by L1 (hole): masked input, completion, ground truth."""
    rows = []
    for rank, row in enumerate(worst_choice(run.rows), 1):
        cells = [
            masked_input_cell(run, row, page_dir),
            file_cell(run.path / completed_path(row["image_id"], row["mask_id"]), _metric_caption(row), page_dir),
            file_cell(run.path / real_path(row["image_id"]), "ground truth", page_dir),
        ]
        title = f"#{rank}: {row['image_id']}, mask {mask_suffix(row['image_id'], row['mask_id'])} (bin {row['bin']} %)"
        rows.append(GridRow(title, cells))
    return rows
