"""Content, not names: runs and caches follow the bytes of every image and mask file read.

Each case was a wrong table with exit status 0 before (issue 15): a second folder with the same
file names returned the first folder's table or its cached composites, an edited mask was ignored
on rerun, an image edited between an interrupt and the resume was silently mixed in.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import reliability_kit as kit
import torch
from PIL import Image

from inpaintbench.evaluation import runner
from inpaintbench.evaluation.runner import InputChangedError


@pytest.fixture(autouse=True)
def _no_backbones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))


def _ssim(outcome) -> float:
    return outcome.summary.row("all").cells["ssim"].value


def test_same_named_files_in_two_folders_give_two_tables_and_never_share_cached_composites(tmp_path: Path) -> None:
    images_a, masks_a = kit.make_dataset(tmp_path / "a", seed=0)
    images_b, _ = kit.make_dataset(tmp_path / "b", seed=1)  # same names, other pixels, same masks
    results = tmp_path / "results"
    first = kit.evaluate(results, images_a, masks_a)
    second = kit.evaluate(results, images_b, masks_a)
    assert first.store.path != second.store.path
    assert _ssim(first) != _ssim(second)
    # another batch size is a new run directory; the completed-image cache must not serve folder a's
    # composites for folder b's same-named files (SSIM 0.908 -> 0.531 in the issue)
    rebatched = kit.evaluate(results, images_b, masks_a, "batch_size=3")
    fresh = kit.evaluate(tmp_path / "fresh", images_b, masks_a, "batch_size=3")
    assert rebatched.store.path.name == fresh.store.path.name
    assert rebatched.summary.to_json() == fresh.summary.to_json()
    assert [r["completed_sha256"] for r in rebatched.store.iter_rows()] == [
        r["completed_sha256"] for r in second.store.iter_rows()
    ]
    manifest = json.loads((second.store.path / "manifest.json").read_text())
    assert set(manifest["images"]) == {f"img{i:02d}.png" for i in range(6)}
    assert manifest["images"] != json.loads((first.store.path / "manifest.json").read_text())["images"]


def test_the_same_image_bytes_in_another_folder_are_the_same_run(tmp_path: Path) -> None:
    """The data folder's path names no run (the folder protocol's id still holds its mask root)."""
    images, masks = kit.make_dataset(tmp_path / "a")
    shutil.copytree(images, tmp_path / "copy")
    one = kit.evaluate(tmp_path / "r1", images, masks)
    two = kit.evaluate(tmp_path / "r2", tmp_path / "copy", masks)
    assert one.store.record()["run_hash"] == two.store.record()["run_hash"]
    assert one.summary.to_json() == two.summary.to_json()


def test_an_edited_mask_gives_a_new_run_not_the_old_table(tmp_path: Path) -> None:
    images, masks = kit.make_dataset(tmp_path)
    results = tmp_path / "results"
    before = kit.evaluate(results, images, masks)
    bigger = np.zeros((kit.SIZE, kit.SIZE), np.uint8)
    bigger[4:40, 4:40] = 255
    Image.fromarray(bigger).save(masks / "img03.png")
    after = kit.evaluate(results, images, masks)
    assert after.store.path != before.store.path
    row = next(r for r in after.store.iter_rows() if r["image_id"] == "img03.png")
    assert row["hole_ratio"] == pytest.approx(36 * 36 / kit.SIZE**2)
    assert _ssim(after) != _ssim(before)


def _interrupt_after_first_shard(monkeypatch: pytest.MonkeyPatch) -> None:
    original = runner.run_shard
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "run_shard", interrupted)


def test_an_image_edited_between_interrupt_and_resume_is_refused_or_recomputed_never_mixed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    images, masks = kit.make_dataset(tmp_path / "data")
    results = tmp_path / "results"
    with monkeypatch.context() as patch:
        _interrupt_after_first_shard(patch)
        assert kit.cli(["eval", *kit.overrides(results, images, masks)]) == 130
    assert "interrupted; finished shards are kept" in capsys.readouterr().err
    (interrupted,) = kit.run_dirs(results)
    assert len(kit.shard_files(interrupted)) == 1
    Image.fromarray(kit.smooth_image(99)).save(images / "img05.png")  # in a shard not yet computed

    assert kit.cli(["eval", *kit.overrides(results, images, masks)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "img05.png" in err and "changed since the interrupted run" in err
    assert kit.run_dirs(results) == [interrupted]  # nothing started, nothing lost
    assert len(kit.shard_files(interrupted)) == 1

    recomputed = kit.evaluate(results, images, masks, "changed_inputs=recompute")
    assert recomputed.store.path != interrupted
    fresh = kit.evaluate(tmp_path / "fresh", images, masks)
    assert recomputed.summary.to_json() == fresh.summary.to_json()
    assert len(kit.shard_files(interrupted)) == 1  # the old partial run is untouched, and never reported
    kit.report(results)
    text = (results / "local" / "leaderboard.md").read_text()
    assert "incomplete: 2 of 6 samples" in text


@pytest.mark.parametrize("workers", [0, 1])  # 1: read in a loader process, raised here unchanged
def test_an_image_edited_during_the_run_is_refused_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    images, masks = kit.make_dataset(tmp_path / "data")
    original = runner.build_manifest

    def then_edit(*args, **kwargs):
        manifest = original(*args, **kwargs)
        Image.fromarray(kit.smooth_image(7)).save(images / "img02.png")
        return manifest

    monkeypatch.setattr(runner, "build_manifest", then_edit)
    with pytest.raises(InputChangedError, match=r"img02\.png: changed during this evaluation") as raised:
        kit.evaluate(tmp_path / "results", images, masks, f"num_workers={workers}")
    assert len(str(raised.value).splitlines()) == 1
    (run,) = kit.run_dirs(tmp_path / "results")
    assert len(kit.shard_files(run)) == 1  # shard 0 (img00, img01) was finished and is kept


def test_completed_cache_entries_are_keyed_by_the_pixels_the_model_saw(tmp_path: Path) -> None:
    image = torch.full((3, 8, 8), 0.5)
    mask = torch.zeros(1, 8, 8)
    mask[:, 2:4, 2:4] = 1
    key = runner.pixels_key("m", image, mask)
    assert key == runner.pixels_key("m", image.clone(), mask.clone())
    other = image.clone()
    other[0, 7, 7] = 0.0
    moved = torch.roll(mask, 1, dims=2)
    assert len({key, runner.pixels_key("m", other, mask), runner.pixels_key("m", image, moved)}) == 3
    assert runner.pixels_key("other-model", image, mask) != key


def test_published_mask_sets_name_the_files_the_run_hashes() -> None:
    from inpaintbench.masks import get_protocol

    protocol = get_protocol({"name": "published", "set": "box_center-v1-256"})
    samples = protocol.samples(["a.png", "b.png"])
    files = [protocol.mask_file(s) for s in samples]
    assert files and all(f.is_file() and f.suffix == ".png" for f in files)
