"""Degenerate samples are named, not scored; no inpainter ever sees the pixels it must predict.

Before (issue 15): an empty mask scored SSIM 1 and PSNR 'exact' and wrote NaN into the shard; a
full mask let the OpenCV baselines return the ground truth; a hole touching the border let them
read ground-truth pixels inside it.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
import reliability_kit as kit
import torch
from PIL import Image

from inpaintbench.inpainter import complete, to_uint8


@pytest.fixture(autouse=True)
def _no_backbones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))


def _all_text(run: Path) -> str:
    return "".join(p.read_text() for p in sorted(run.rglob("*.json*")))


def test_empty_and_full_holes_are_counted_per_bin_and_never_scored(tmp_path: Path) -> None:
    images, masks = kit.make_dataset(tmp_path / "data")
    Image.fromarray(np.zeros((kit.SIZE, kit.SIZE), np.uint8)).save(masks / "img01.png")  # empty
    Image.fromarray(np.full((kit.SIZE, kit.SIZE), 255, np.uint8)).save(masks / "img02.png")  # full
    faint = np.zeros((kit.SIZE, kit.SIZE, 3), np.uint8)
    faint[10:30, 10:30] = (100, 100, 100)  # an RGB hole below the threshold: empty after binarising
    Image.fromarray(faint).save(masks / "img03.png")
    results = tmp_path / "results"
    outcome = kit.evaluate(results, images, masks)
    rows = {r["image_id"]: r for r in outcome.store.iter_rows()}
    assert rows["img01.png"]["degenerate"] == "empty" and rows["img03.png"]["degenerate"] == "empty"
    assert rows["img02.png"]["degenerate"] == "full"
    for name in ("img01.png", "img02.png", "img03.png"):
        assert "ssim" not in rows[name] and "psnr" not in rows[name]
    summary = outcome.summary
    assert (summary.row("all").n, summary.row("all").n_empty, summary.row("all").n_full) == (3, 2, 1)
    assert (summary.row("0-10").n_empty, summary.row("60-100").n_full) == (2, 1)
    assert summary.row("60-100").n == 0 and summary.row("60-100").cells["ssim"].value is None
    text = _all_text(outcome.store.path)
    assert "NaN" not in text and "Infinity" not in text
    assert all(c.value is None or np.isfinite(c.value) for r in summary.rows for c in r.cells.values())

    from inpaintbench.report.table import render_summary

    assert "| 2 / 1 " in render_summary(summary)
    csv_path, md_path = kit.report(results)
    with open(csv_path) as handle:
        overall = [r for r in csv.DictReader(handle) if r["bin"] == "all" and r["metric"] == "ssim"]
    assert (overall[0]["n"], overall[0]["n_empty"], overall[0]["n_full"]) == ("3", "2", "1")
    assert "| left out: empty / full hole |" in md_path.read_text()
    assert "NaN" not in md_path.read_text() and "nan" not in csv_path.read_text()


class ReturnsItsInput:
    """The most dangerous inpainter: it hands back whatever it was given."""

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return image.clone()


def test_an_inpainter_that_returns_its_input_sees_no_ground_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images, masks = kit.make_dataset(tmp_path / "data")
    monkeypatch.setattr("inpaintbench.inpainter.create_model", lambda name, **args: ReturnsItsInput())
    outcome = kit.evaluate(tmp_path / "results", images, masks, "cache_completed=false")
    for row in outcome.store.iter_rows():
        image = torch.from_numpy(np.array(Image.open(images / row["image_id"]))).permute(2, 0, 1)[None] / 255.0
        hole = torch.from_numpy(np.asarray(Image.open(masks / row["image_id"])) > 127).float()[None, None]
        zeros_in_hole = complete(image, hole, torch.zeros_like(image))
        assert row["completed_sha256"] == hashlib.sha256(to_uint8(zeros_in_hole).numpy()[0].tobytes()).hexdigest()
        assert row["ssim"] < 1 and row["l1_hole"] > 0.05  # scored as a black hole, not as a perfect copy


@pytest.mark.parametrize(
    ("model", "extra"),
    [("opencv_telea", []), ("opencv_ns", []), pytest.param("lama_tiny", ["weights=none"], marks=pytest.mark.slow)],
)
def test_predictions_do_not_depend_on_ground_truth_inside_the_hole(tmp_path: Path, model: str, extra: list) -> None:
    """Same known pixels, other hole pixels: identical composites (holes here touch the border)."""
    images, masks = kit.make_dataset(tmp_path / "data", n=4)
    other = tmp_path / "other"
    other.mkdir()
    for i in range(4):
        name = f"img{i:02d}.png"
        pixels = np.asarray(Image.open(images / name)).copy()
        hole = np.asarray(Image.open(masks / name)) > 127
        pixels[hole] = 255 - pixels[hole]
        Image.fromarray(pixels).save(other / name)
    args = [f"model={model}", "efficiency=false", *extra]
    first = kit.evaluate(tmp_path / "r1", images, masks, *args)
    second = kit.evaluate(tmp_path / "r2", other, masks, *args)
    completed = [[r["completed_sha256"] for r in o.store.iter_rows()] for o in (first, second)]
    real = [[r["real_sha256"] for r in o.store.iter_rows()] for o in (first, second)]
    assert completed[0] == completed[1] and real[0] != real[1]


def test_a_non_finite_prediction_is_an_error_row_not_a_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class NaNInHole:
        def inpaint(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            out = image.clone()
            out[0] = torch.where(mask[0] > 0.5, torch.nan, out[0])  # first sample of each batch
            return out

    images, masks = kit.make_dataset(tmp_path / "data", n=4)
    monkeypatch.setattr("inpaintbench.inpainter.create_model", lambda name, **args: NaNInHole())
    outcome = kit.evaluate(tmp_path / "results", images, masks)
    rows = list(outcome.store.iter_rows())
    assert [("error" in r) for r in rows] == [True, False, True, False]
    assert "non-finite" in rows[0]["error"] and outcome.summary.n_errors == 2
    assert "NaN" not in _all_text(outcome.store.path)


def test_mixed_image_sizes_without_crop_are_scored_in_same_size_groups(tmp_path: Path) -> None:
    images, masks = kit.make_dataset(tmp_path / "data", n=4)
    for name, (h, w) in {"img01.png": (40, 56), "img03.png": (40, 56)}.items():
        Image.fromarray(kit.smooth_image(5, h, w)).save(images / name)
        Image.fromarray(kit.box_mask(1, h, w)).save(masks / name)
    outcome = kit.evaluate(tmp_path / "results", images, masks, "data.resize=none", "data.crop=none", "batch_size=4")
    assert outcome.summary.row("all").n == 4 and outcome.summary.n_errors == 0
    sizes = {r["image_id"]: r["hole_ratio"] for r in outcome.store.iter_rows()}
    assert sizes["img01.png"] == pytest.approx(np.mean(kit.box_mask(1, 40, 56) > 0))
