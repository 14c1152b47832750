"""InpaintDataModule: contract batches, reproducible per (seed, epoch, index) whatever num_workers is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import inpaintbench.masks as masks_module
from inpaintbench.registry import Registry
from inpaintbench.training.datamodule import EpochSampler, InpaintDataModule

STAND_IN = "test_data_stand_in_box"
SIZE = 32


def stand_in_box(rng: np.random.Generator, height: int, width: int, side: int = 8) -> np.ndarray:
    """A side x side hole at a random position: enough to see the generator and its rng are wired."""
    mask = np.zeros((height, width), dtype=np.uint8)
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    mask[top : top + side, left : left + side] = 1
    return mask


@pytest.fixture
def mask_name(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register the stand-in in TRAIN_MASKS (a fresh registry if the masks package has none yet)."""
    registry = getattr(masks_module, "TRAIN_MASKS", None)
    if registry is None:
        registry = Registry("training mask generator")
        monkeypatch.setattr(masks_module, "TRAIN_MASKS", registry, raising=False)
    if STAND_IN not in registry:
        registry.register(STAND_IN)(stand_in_box)
    return STAND_IN


@pytest.fixture
def pool(tmp_path: Path) -> dict[str, np.ndarray]:
    """Six images with shorter side exactly SIZE (no resampling), so crops are windows of the file."""
    rng = np.random.default_rng(7)
    images = {}
    for i in range(6):
        pixels = rng.integers(0, 256, (SIZE, SIZE + 16, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"img{i}.png")
        images[f"img{i}.png"] = pixels
    return images


def datamodule(root: Path, mask_name: str, **kwargs: Any) -> InpaintDataModule:
    data = {"name": "pool", "root": str(root), "list_file": None, "size": SIZE, "resize": "shorter_side"}
    options = {"batch_size": 4, "num_workers": 0, "seed": 3} | kwargs
    return InpaintDataModule(data, {"name": mask_name, "params": {"side": 8}}, **options)


def epoch_batches(module: InpaintDataModule, epoch: int) -> list[dict[str, Any]]:
    loader = module.train_dataloader()
    loader.sampler.set_epoch(epoch)
    return list(loader)


def assert_same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x["id"] == y["id"]
        assert torch.equal(x["image"], y["image"]) and torch.equal(x["mask"], y["mask"])


def test_batches_follow_the_contract(tmp_path: Path, pool: dict[str, np.ndarray], mask_name: str) -> None:
    batches = epoch_batches(datamodule(tmp_path, mask_name), 0)
    assert [len(b["id"]) for b in batches] == [4, 2]
    assert sorted(i for b in batches for i in b["id"]) == sorted(pool)  # each pool image once per epoch
    batch = batches[0]
    assert batch["image"].dtype == torch.float32 and batch["image"].shape == (4, 3, SIZE, SIZE)
    assert batch["mask"].dtype == torch.float32 and batch["mask"].shape == (4, 1, SIZE, SIZE)
    assert set(batch["mask"].unique().tolist()) == {0.0, 1.0}
    assert (batch["mask"].sum(dim=(1, 2, 3)) == 64).all()  # the stand-in's 8x8 hole
    assert batch["errors"] == []
    levels = batch["image"] * 255
    assert torch.equal(levels, levels.round())


def test_crops_are_windows_of_the_image_or_its_mirror(
    tmp_path: Path, pool: dict[str, np.ndarray], mask_name: str
) -> None:
    flipped = 0
    for epoch in range(3):
        for batch in epoch_batches(datamodule(tmp_path, mask_name), epoch):
            for image, image_id in zip(batch["image"], batch["id"], strict=True):
                crop = (image * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
                source = pool[image_id]
                windows = [source[:, x : x + SIZE] for x in range(source.shape[1] - SIZE + 1)]
                if any(np.array_equal(crop, w) for w in windows):
                    continue
                assert any(np.array_equal(crop, w[:, ::-1]) for w in windows), image_id
                flipped += 1
    assert 0 < flipped < 18  # flips happen, but not always


def test_same_batches_for_zero_and_two_workers(tmp_path: Path, pool: dict[str, np.ndarray], mask_name: str) -> None:
    for epoch in (0, 1):
        serial = epoch_batches(datamodule(tmp_path, mask_name, num_workers=0), epoch)
        parallel = epoch_batches(datamodule(tmp_path, mask_name, num_workers=2), epoch)
        assert_same(serial, parallel)


def test_same_seed_reproduces_and_seed_or_epoch_change_it(
    tmp_path: Path, pool: dict[str, np.ndarray], mask_name: str
) -> None:
    first = epoch_batches(datamodule(tmp_path, mask_name, seed=11), 0)
    assert_same(first, epoch_batches(datamodule(tmp_path, mask_name, seed=11), 0))
    other_seed = epoch_batches(datamodule(tmp_path, mask_name, seed=12), 0)
    next_epoch = epoch_batches(datamodule(tmp_path, mask_name, seed=11), 1)
    for other in (other_seed, next_epoch):
        same_order = [b["id"] for b in other] == [b["id"] for b in first]
        same_masks = all(torch.equal(a["mask"], b["mask"]) for a, b in zip(first, other, strict=True))
        assert not (same_order and same_masks)


def test_masks_do_not_depend_on_the_augmentation(tmp_path: Path, pool: dict[str, np.ndarray], mask_name: str) -> None:
    plain = epoch_batches(datamodule(tmp_path, mask_name), 0)
    jittered = epoch_batches(datamodule(tmp_path, mask_name, scale_range=(1.0, 1.5), hflip=False), 0)
    for a, b in zip(plain, jittered, strict=True):
        assert a["id"] == b["id"] and torch.equal(a["mask"], b["mask"])
        assert b["image"].shape[-2:] == (SIZE, SIZE)


def test_epoch_sampler_is_a_seeded_permutation() -> None:
    sampler = EpochSampler(10, seed=5)
    keys = list(sampler)
    assert sorted(index for _, index in keys) == list(range(10)) and {e for e, _ in keys} == {0}
    sampler.set_epoch(4)
    again = list(sampler)
    assert {e for e, _ in again} == {4} and [i for _, i in again] != [i for _, i in keys]
    assert list(EpochSampler(10, seed=5)) == keys


def test_a_broken_generator_is_reported(tmp_path: Path, pool: dict[str, np.ndarray], mask_name: str) -> None:
    module = datamodule(tmp_path, mask_name)
    module.setup("fit")
    assert module.train_set is not None
    module.train_set.mask_fn = lambda rng, h, w, **_: np.full((h, w), 2, np.uint8)
    with pytest.raises(ValueError, match="values other than 0 and 1"):
        module.train_set[(0, 0)]
