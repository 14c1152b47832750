"""Datasets over image folders and list files, transforms, the training datamodule, sample set.

`InpaintDataModule` is imported lazily (it pulls in Lightning), so evaluation-only code stays light.
"""

from __future__ import annotations

from typing import Any

from inpaintbench.data.datasets import (
    DatasetConfigError,
    ImageDataset,
    UnreadableImageWarning,
    build_dataset,
    list_image_files,
    read_list_file,
    skip_errors_collate,
)
from inpaintbench.data.images import IMAGE_EXTENSIONS, ImageDecodeError, load_rgb8, read_image, rgb8_to_tensor
from inpaintbench.data.transforms import Preprocess, RandomCropFlip

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetConfigError",
    "ImageDataset",
    "ImageDecodeError",
    "InpaintDataModule",
    "Preprocess",
    "RandomCropFlip",
    "UnreadableImageWarning",
    "build_dataset",
    "list_image_files",
    "load_rgb8",
    "read_image",
    "read_list_file",
    "rgb8_to_tensor",
    "skip_errors_collate",
]


def __getattr__(name: str) -> Any:
    if name == "InpaintDataModule":
        from inpaintbench.data.datamodule import InpaintDataModule

        return InpaintDataModule
    raise AttributeError(f"module 'inpaintbench.data' has no attribute {name!r}")
