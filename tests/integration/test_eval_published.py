"""`inpaintbench eval masks=published masks.set=...`: the committed sets through the real runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from inpaintbench.masks import PUBLISHED_ROOT


def test_eval_on_a_published_set_pairs_sorted_images_with_consecutive_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inpaintbench import tasks
    from inpaintbench.config import compose

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))
    overrides = [f"paths.results={tmp_path / 'results'}", "limit=3", "progress=false", "metrics.bootstrap.resamples=50"]
    cfg = compose(
        "eval", ["model=opencv_telea", "masks=published", "masks.set=irregular-v1-256", "data=sample", *overrides]
    )
    outcome = tasks.evaluate(cfg)
    rows = sorted(outcome.store.iter_rows(), key=lambda r: (r["image_id"], r["label"]))
    assert outcome.summary.row("all").n == 3 * 6
    manifest = json.loads((PUBLISHED_ROOT / "irregular-v1-256" / "manifest.json").read_text())
    by_name = {entry["name"]: entry for entry in manifest["files"]}
    images = sorted({r["image_id"] for r in rows})
    for k, image_id in enumerate(images):
        used = [r["mask_id"].rsplit("#", 1)[1] for r in rows if r["image_id"] == image_id]
        assert sorted(used) == sorted(n for n, e in by_name.items() if e["image_id"] == f"mask_{k:06d}")
    for row in rows:  # the measured ratio and bin of each row are the manifest's
        entry = by_name[row["mask_id"].rsplit("#", 1)[1]]
        assert row["bin"] == entry["bin"] and row["label"] == entry["label"]
    record = json.loads((outcome.store.path / "run.json").read_text())
    assert "published@v1/irregular-v1-256/m" in json.dumps(record)
