"""Saved completed images: which samples the grids need, chosen per shard, written under the input's names."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from inpaintbench.metrics.saved_images import (
    GRID_PER_BIN,
    GRID_WORST,
    ShardImages,
    completed_path,
    grid_choice,
    mask_path,
    real_path,
    selected_keys,
    worst_choice,
)

BINS = ["0-10", "10-20", "20-30"]


def _rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "sample_key": f"key{i}",
            "image_id": f"dir/img_{i // 3:03d}.jpg",
            "mask_id": f"dir/img_{i // 3:03d}.jpg#{BINS[i % 3]}.0",
            "bin": BINS[i % 3],
            "hole_ratio": 0.05 + 0.1 * (i % 3),
            "l1_hole": rng.random(),
        }
        for i in range(n)
    ]


def test_names_follow_the_input_relative_path_per_mask() -> None:
    assert completed_path("dir/img_001.jpg", "dir/img_001.jpg#10-20.0") == "images/10-20.0/dir/img_001.png"
    assert mask_path("dir/img_001.jpg", "dir/img_001.jpg#10-20.0") == "masks/10-20.0/dir/img_001.png"
    assert real_path("dir/img_001.jpg") == "real/dir/img_001.png"
    assert completed_path("a.png", "masks/m 7.png") == "images/masks_m_7.png/a.png"  # a mask id of another form


def test_global_choice_is_contained_in_the_union_of_per_shard_choices() -> None:
    """What the report picks from all rows was saved by some shard, whatever the shard size."""
    rows = _rows(200)
    wanted = selected_keys(rows)
    assert len(wanted) <= len(BINS) * GRID_PER_BIN + GRID_WORST
    for size in (1, 7, 64, 200):
        union = set().union(*(selected_keys(rows[k : k + size]) for k in range(0, len(rows), size)))
        assert wanted <= union


def test_grid_choice_ignores_the_model_and_worst_is_by_l1_hole() -> None:
    rows = _rows(60)
    other_model = [{**r, "l1_hole": 1 - r["l1_hole"]} for r in reversed(rows)]
    pick = {b: [r["mask_id"] for r in members] for b, members in grid_choice(rows).items()}
    assert pick == {b: [r["mask_id"] for r in members] for b, members in grid_choice(other_model).items()}
    assert all(len(members) == GRID_PER_BIN for members in pick.values())
    worst = worst_choice(rows)
    assert [r["l1_hole"] for r in worst] == sorted((r["l1_hole"] for r in rows), reverse=True)[:GRID_WORST]


def _batch(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (n, 3, 8, 10), generator=generator).float() / 255
    mask = (torch.rand(n, 1, 8, 10, generator=generator) > 0.5).float()
    completed = torch.randint(0, 256, (n, 3, 8, 10), generator=generator).float() / 255
    return image, mask, completed


def _saved(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*.png")}


def test_default_writes_exactly_the_chosen_samples_and_save_all_writes_every_one(tmp_path: Path) -> None:
    rows = _rows(30)
    image, mask, completed = _batch(30)
    chosen = ShardImages(tmp_path / "chosen")
    for start in range(0, 30, 4):  # batches, as the runner feeds them
        chosen.add(
            rows[start : start + 4], image[start : start + 4], mask[start : start + 4], completed[start : start + 4]
        )
    chosen.write()
    keys = selected_keys(rows)
    expected = {completed_path(r["image_id"], r["mask_id"]) for r in rows if r["sample_key"] in keys}
    assert {p for p in _saved(tmp_path / "chosen") if p.startswith("images/")} == expected
    assert len(chosen.pending) == len(keys)  # only candidates were held in memory

    every = ShardImages(tmp_path / "all", save_all=True)
    every.add(rows, image, mask, completed)
    every.write()
    saved = _saved(tmp_path / "all")
    assert {p for p in saved if p.startswith("images/")} == {completed_path(r["image_id"], r["mask_id"]) for r in rows}
    j = 7
    png = np.asarray(Image.open(tmp_path / "all" / completed_path(rows[j]["image_id"], rows[j]["mask_id"])))
    assert np.array_equal(png, (completed[j] * 255).round().byte().permute(1, 2, 0).numpy())
    hole = np.asarray(Image.open(tmp_path / "all" / mask_path(rows[j]["image_id"], rows[j]["mask_id"])))
    assert np.array_equal(hole > 127, mask[j, 0].numpy() > 0.5)
