"""ImageDataset: deterministic order and ids, bad files reported not raised, list files, resize/crop."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image
from torch.utils.data import DataLoader

from inpaintbench.data import (
    DatasetConfigError,
    ImageDataset,
    UnreadableImageWarning,
    build_dataset,
    skip_errors_collate,
)

REPO = Path(__file__).resolve().parents[2]


def write_image(path: Path, height: int = 40, width: int = 48, seed: int = 0) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels


def test_folder_order_is_sorted_relative_posix_paths(tmp_path: Path) -> None:
    names = ["b.png", "a/z.png", "A.png", "a/b/c.JPG", "sub/photo.webp", "x.Tiff"]
    for seed, name in enumerate(reversed(names)):  # creation order must not matter
        write_image(tmp_path / name, seed=seed)
    (tmp_path / "notes.txt").write_text("not an image")
    write_image(tmp_path / ".hidden.png")
    write_image(tmp_path / ".cache" / "thumb.png")
    dataset = ImageDataset(root=tmp_path, size=32)
    assert dataset.ids == ["A.png", "a/b/c.JPG", "a/z.png", "b.png", "sub/photo.webp", "x.Tiff"]
    assert [dataset[i]["id"] for i in range(len(dataset))] == dataset.ids
    assert ImageDataset(root=tmp_path, size=32).ids == dataset.ids


def test_items_are_deterministic_and_on_8bit_levels(tmp_path: Path) -> None:
    write_image(tmp_path / "one.png", 300, 200)
    first, second = ImageDataset(root=tmp_path)[0], ImageDataset(root=tmp_path)[0]
    assert first["image"].dtype == torch.float32 and first["image"].shape == (3, 256, 256)
    assert torch.equal(first["image"], second["image"])
    levels = first["image"] * 255.0
    assert torch.equal(levels, levels.round())


def test_shorter_side_resize_and_centre_crop_match_pillow(tmp_path: Path) -> None:
    pixels = write_image(tmp_path / "wide.png", height=200, width=300)
    item = ImageDataset(root=tmp_path, size=256)[0]
    # Reference: shorter side 200 -> 256 gives 384 x 256, then the centred 256 window starts at x = 64.
    reference = Image.fromarray(pixels).resize((384, 256), Image.Resampling.BICUBIC).crop((64, 0, 320, 256))
    expected = torch.from_numpy(np.asarray(reference).copy()).permute(2, 0, 1).float() / 255.0
    assert torch.equal(item["image"], expected)


def test_tall_image_and_no_resize_policies(tmp_path: Path) -> None:
    pixels = write_image(tmp_path / "tall.png", height=90, width=60)
    assert ImageDataset(root=tmp_path, size=30)[0]["image"].shape == (3, 30, 30)
    centre = ImageDataset(root=tmp_path, size=40, resize="none", crop="center")[0]["image"]
    expected = torch.from_numpy(pixels[25:65, 10:50].copy()).permute(2, 0, 1).float() / 255.0
    assert torch.equal(centre, expected)
    native = ImageDataset(root=tmp_path, size=256, resize="none", crop="none")[0]["image"]
    assert native.shape == (3, 90, 60)


def test_image_already_at_size_is_not_resampled(tmp_path: Path) -> None:
    pixels = write_image(tmp_path / "exact.png", 64, 64)
    image = ImageDataset(root=tmp_path, size=64)[0]["image"]
    assert torch.equal(image, torch.from_numpy(pixels).permute(2, 0, 1).float() / 255.0)


def test_corrupt_files_are_reported_and_skipped(tmp_path: Path) -> None:
    write_image(tmp_path / "a_good.png")
    (tmp_path / "b_garbage.png").write_bytes(b"\x89PNG not really")
    jpeg = tmp_path / "c_truncated.jpg"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(jpeg, quality=90)
    jpeg.write_bytes(jpeg.read_bytes()[:200])
    write_image(tmp_path / "d_good.png", seed=1)
    dataset = ImageDataset(root=tmp_path, size=32)
    with pytest.warns(UnreadableImageWarning) as caught:
        items = [dataset[i] for i in range(len(dataset))]
    assert {str(w.message).split(": ")[0].rsplit("/", 1)[-1] for w in caught} == {"b_garbage.png", "c_truncated.jpg"}
    errors = {item["id"]: item["error"] for item in items if "error" in item}
    assert set(errors) == {"b_garbage.png", "c_truncated.jpg"}
    for image_id, message in errors.items():
        assert image_id in message and "\n" not in message

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreadableImageWarning)
        batches = list(DataLoader(dataset, batch_size=4, collate_fn=skip_errors_collate))
    assert len(batches) == 1
    batch = batches[0]
    assert batch["id"] == ["a_good.png", "d_good.png"]
    assert batch["image"].shape == (2, 3, 32, 32)
    assert [e["id"] for e in batch["errors"]] == ["b_garbage.png", "c_truncated.jpg"]


def test_batch_of_only_errors_is_empty_not_a_crash() -> None:
    batch = skip_errors_collate([{"id": "x.png", "error": "x.png: broken"}])
    assert batch["image"].shape[0] == 0 and batch["id"] == [] and batch["errors"][0]["id"] == "x.png"


def test_image_smaller_than_crop_without_resize_is_an_error_item(tmp_path: Path) -> None:
    write_image(tmp_path / "small.png", 20, 20)
    with pytest.warns(UnreadableImageWarning, match="small.png"):
        item = ImageDataset(root=tmp_path, size=32, resize="none")[0]
    assert "smaller than the crop size 32" in item["error"]


def test_list_file_keeps_its_order_and_resolves_against_its_folder(tmp_path: Path) -> None:
    write_image(tmp_path / "imgs" / "z.png", seed=1)
    write_image(tmp_path / "imgs" / "deep" / "a.jpg", seed=2)
    listing = tmp_path / "imgs" / "test.txt"
    listing.write_text("# CelebA-HQ style split\nz.png\n\n  deep/a.jpg   # trailing comment\nmissing.png\n")
    dataset = ImageDataset(list_file=listing, size=16)
    assert dataset.ids == ["z.png", "deep/a.jpg", "missing.png"]
    assert dataset[0]["image"].shape == (3, 16, 16)
    with pytest.warns(UnreadableImageWarning, match="missing.png"):
        assert "cannot read file" in dataset[2]["error"]
    # With `root`, entries are relative to it instead.
    other = tmp_path / "lists" / "l.txt"
    other.parent.mkdir()
    other.write_text("deep/a.jpg\n")
    assert ImageDataset(root=tmp_path / "imgs", list_file=other, size=16)[0]["id"] == "deep/a.jpg"


def test_list_file_errors_are_clear(tmp_path: Path) -> None:
    (tmp_path / "dup.txt").write_text("a.png\nb.png\na.png\n")
    with pytest.raises(DatasetConfigError, match=r"dup\.txt.*'a\.png' more than once"):
        ImageDataset(list_file=tmp_path / "dup.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(DatasetConfigError, match=r"empty\.txt lists no images"):
        ImageDataset(list_file=tmp_path / "empty.txt")
    with pytest.raises(DatasetConfigError, match=r"nope\.txt: cannot read"):
        ImageDataset(list_file=tmp_path / "nope.txt")


def test_missing_or_empty_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetConfigError, match=r"does-not-exist does not exist"):
        ImageDataset(root=tmp_path / "does-not-exist")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetConfigError, match=r"empty holds no images"):
        ImageDataset(root=tmp_path / "empty")
    with pytest.raises(DatasetConfigError, match="needs `root`"):
        ImageDataset()


def test_unknown_policies_are_rejected(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    with pytest.raises(ValueError, match="unknown resize policy 'longer_side'"):
        ImageDataset(root=tmp_path, resize="longer_side")
    with pytest.raises(ValueError, match="unknown crop policy 'random'"):
        ImageDataset(root=tmp_path, crop="random")


def test_build_dataset_from_the_folder_config(tmp_path: Path) -> None:
    write_image(tmp_path / "p.png", 100, 80)
    cfg = OmegaConf.load(REPO / "conf" / "data" / "folder.yaml")
    assert OmegaConf.is_missing(cfg, "root")
    cfg.root = str(tmp_path)
    cfg.size = 64
    dataset = build_dataset(cfg)
    assert dataset.ids == ["p.png"] and dataset[0]["image"].shape == (3, 64, 64)
