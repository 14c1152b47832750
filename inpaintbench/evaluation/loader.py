"""Input loading (PNG decode, mask rendering, hash checks) overlapped with compute (issue 19).

`loaded_batches` yields the items `load(0..n-1)` in batches, in order. With `num_workers > 0` a
`torch.utils.data.DataLoader` runs `load` in worker processes a few batches ahead while the main
process runs the model and the metric pass; with `pin=True` (a CUDA device) the loaded tensors are
pinned so the copy to the GPU can overlap too. `num_workers=0` is the serial path (no processes).
The items are the same either way, so rows, numbers and shards are byte-identical.

Errors stay what they are serially: an exception raised by `load` in a worker is carried back and
raised in the main process unchanged (the one-line error of the serial path), not as the
DataLoader's multi-line worker traceback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset


@dataclasses.dataclass
class _Raised:
    """An exception from `load`, carried to the main process and raised there unchanged."""

    error: BaseException


def _pinned(item: Any) -> Any:
    """`item` with its tensor fields (a dataclass) or itself (a tensor) in pinned memory."""
    if isinstance(item, torch.Tensor):
        return item.pin_memory()
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        fields = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
        return dataclasses.replace(
            item, **{k: v.pin_memory() for k, v in fields.items() if isinstance(v, torch.Tensor)}
        )
    return item


class LoadedBatch:
    """One batch of loaded items, in order; the DataLoader's pin thread calls `pin_memory`."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def pin_memory(self, device: str | None = None) -> LoadedBatch:
        return LoadedBatch([_pinned(item) for item in self.items])

    def results(self) -> list[Any]:
        """The items, raising the first exception `load` met (as the serial loop would have)."""
        for item in self.items:
            if isinstance(item, _Raised):
                raise item.error
        return self.items


class _Indexed(Dataset):
    """Item `i` = `load(i)`; an exception is returned as `_Raised` (re-raised by `results`)."""

    def __init__(self, load: Callable[[int], Any], count: int) -> None:
        self.load, self.count = load, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> Any:
        try:
            return self.load(i)
        except Exception as error:
            return _Raised(error)


def loaded_batches(
    load: Callable[[int], Any], count: int, batch_size: int, num_workers: int = 0, pin: bool = False
) -> Iterator[list[Any]]:
    """`[load(i) for i in batch]` for each batch of `range(count)`, in order (see the module docstring).

    With workers, `load` must be picklable where processes are spawned (macOS, Windows)."""
    if num_workers == 0:
        for start in range(0, count, batch_size):
            yield [load(i) for i in range(start, min(start + batch_size, count))]
        return
    loader = DataLoader(
        _Indexed(load, count),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=LoadedBatch,
        pin_memory=pin,
    )
    for batch in loader:
        yield batch.results()
