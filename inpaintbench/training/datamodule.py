"""The training datamodule: (image, mask) batches from a train pool, reproducible to the bit.

Every random choice of a training item (scale, crop position, flip, the mask) is drawn from a numpy
Generator seeded by (seed, epoch, index) alone. The sampler hands each worker `(epoch, index)` keys
rather than bare indices, so a batch does not depend on `num_workers`, on which worker loads which
item, or on how many processes share the epoch. Lightning calls `set_epoch` on the sampler at the
start of every epoch (also through its DDP sampler wrapper).

Augmentation and mask draw from two independent child streams, so changing the augmentation
(e.g. the scale range) leaves the masks of a run unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from inpaintbench.data.datasets import ImageDataset, build_dataset, error_item, skip_errors_collate
from inpaintbench.data.images import ImageDecodeError, rgb8_to_tensor
from inpaintbench.data.transforms import RandomCropFlip

#: A training mask generator: fn(rng, height, width, **params) -> (H, W) uint8 {0,1}, 1 = hole.
MaskFn = Callable[..., np.ndarray]

# Purpose tags keep the order stream and the per-item streams apart for the same (seed, epoch).
_ORDER_STREAM = 0x0D
_ITEM_STREAM = 0x17


def item_rngs(seed: int, epoch: int, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The (augmentation, mask) generators of one training item; a pure function of its key."""
    augment_seq, mask_seq = np.random.SeedSequence([_ITEM_STREAM, seed, epoch, index]).spawn(2)
    return np.random.default_rng(augment_seq), np.random.default_rng(mask_seq)


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields `(epoch, index)` keys, in an order shuffled by (seed, epoch) when `shuffle`."""

    def __init__(self, length: int, seed: int = 0, shuffle: bool = True) -> None:
        self.length = int(length)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            order = np.random.default_rng([_ORDER_STREAM, self.seed, self.epoch]).permutation(self.length)
        else:
            order = np.arange(self.length)
        epoch = self.epoch
        return iter([(epoch, int(index)) for index in order])

    def __len__(self) -> int:
        return self.length


class TrainingPairs(Dataset):
    """Random crop/flip of a pool image plus a freshly generated training mask, keyed by (epoch, index)."""

    def __init__(
        self,
        images: ImageDataset,
        augment: RandomCropFlip,
        mask_fn: MaskFn,
        mask_params: Mapping[str, Any] | None = None,
        seed: int = 0,
        mask_name: str = "mask generator",
    ) -> None:
        self.images = images
        self.augment = augment
        self.mask_fn = mask_fn
        self.mask_params = dict(mask_params or {})
        self.seed = int(seed)
        self.mask_name = mask_name

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int] | int) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        image_id = self.images.ids[index]
        augment_rng, mask_rng = item_rngs(self.seed, epoch, index)
        try:
            rgb = self.augment(self.images.load(index), augment_rng)
        except ImageDecodeError as err:
            return error_item(image_id, str(err))
        except ValueError as err:
            return error_item(image_id, f"{self.images.path(index)}: {err}")
        size = self.augment.size
        mask = self._mask(mask_rng, size, size)
        return {
            "image": rgb8_to_tensor(rgb),
            "mask": torch.from_numpy(mask).to(torch.float32).unsqueeze(0),
            "id": image_id,
        }

    def _mask(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        mask = np.asarray(self.mask_fn(rng, height, width, **self.mask_params))
        if mask.shape != (height, width):
            expected = (height, width)
            raise ValueError(f"training mask '{self.mask_name}' returned shape {mask.shape}, expected {expected}")
        if mask.dtype == np.bool_:
            mask = mask.astype(np.uint8)
        if not np.isin(mask, (0, 1)).all():
            raise ValueError(f"training mask '{self.mask_name}' returned values other than 0 and 1")
        return mask.astype(np.uint8, copy=False)


def training_mask_fn(name: str) -> MaskFn:
    """Look a training mask generator up in `inpaintbench.masks.TRAIN_MASKS` (imported lazily)."""
    from inpaintbench import masks

    return masks.TRAIN_MASKS.get(name)


class InpaintDataModule(L.LightningDataModule):
    """Training batches `{"image": (N,3,H,W), "mask": (N,1,H,W) 1 = hole, "id": [...], "errors": [...]}`.

    `data` is a data config (conf/data/*.yaml: the train pool and `size`; its `resize: none` keeps
    native resolution, its `crop` policy is for evaluation and unused here). `train_masks` is
    `{name, params}` naming a generator of `inpaintbench.masks.TRAIN_MASKS`.
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        train_masks: Mapping[str, Any],
        batch_size: int,
        num_workers: int = 0,
        seed: int = 0,
        scale_range: tuple[float, float] = (1.0, 1.0),
        hflip: bool = True,
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        self.data_cfg = data
        self.mask_name = str(train_masks["name"])
        self.mask_params = dict(train_masks.get("params") or {})
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)
        self.augment = RandomCropFlip(
            size=int(data.get("size", 256)),
            scale_range=(float(scale_range[0]), float(scale_range[1])),
            hflip=bool(hflip),
            resize=str(data.get("resize", "shorter_side")),
        )
        self.drop_last = drop_last
        self.train_set: TrainingPairs | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            # The generator is resolved here, in the main process, and travels to workers with the dataset.
            self.train_set = TrainingPairs(
                build_dataset(self.data_cfg),
                self.augment,
                training_mask_fn(self.mask_name),
                self.mask_params,
                seed=self.seed,
                mask_name=self.mask_name,
            )

    def train_dataloader(self) -> DataLoader:
        self.setup("fit")
        assert self.train_set is not None
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=EpochSampler(len(self.train_set), seed=self.seed, shuffle=True),
            num_workers=self.num_workers,
            collate_fn=skip_errors_collate,
            drop_last=self.drop_last,
            persistent_workers=False,
        )
