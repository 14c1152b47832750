"""Datasets over image folders and list files, transforms, sample set.

The training datamodule lives in `inpaintbench.training.datamodule` (it pulls in Lightning).
"""

from __future__ import annotations

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
