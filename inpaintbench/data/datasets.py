"""Image datasets over a folder or a list file, in a deterministic order, with ids that name the file.

The id of an image is its path relative to the dataset root (posix separators), so masks, results
rows and shards refer to the same image on any machine. A file that cannot be read becomes an error
item instead of an exception: one bad JPEG in a 30k-image folder must not stop a benchmark, but it
must be seen, so it is warned about (once per file) and carried in the batch under "errors" for the
run summary.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from torch.utils.data import Dataset, default_collate

from inpaintbench.data.errors import DatasetConfigError
from inpaintbench.data.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    ImageDecodeError,
    is_image_file,
    load_rgb8,
    load_rgb8_hashed,
    rgb8_to_tensor,
)
from inpaintbench.data.transforms import Preprocess


class UnreadableImageWarning(UserWarning):
    """An image was skipped; the message names the file and the problem."""


def list_image_files(root: str | Path) -> list[str]:
    """Relative posix paths of every image under `root` (recursive), sorted by that string.

    Extensions match case-insensitively. Hidden files and folders (name starting with '.') are
    skipped: they are editor/OS debris such as `.ipynb_checkpoints` or macOS `._photo.jpg`.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetConfigError(f"data root {root} does not exist or is not a folder")
    found: list[str] = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        relative = Path(folder).relative_to(root)
        for name in files:
            if not name.startswith(".") and is_image_file(name):
                found.append((relative / name).as_posix())
    if not found:
        raise DatasetConfigError(f"data root {root} holds no images (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    return sorted(found)


def read_list_file(list_file: str | Path) -> list[str]:
    """Entries of a list file: one path per line, blank lines and '#' comments ignored, order kept."""
    list_file = Path(list_file)
    try:
        text = list_file.read_text(encoding="utf-8")
    except OSError as err:
        raise DatasetConfigError(f"list file {list_file}: cannot read ({err.strerror or err})") from None
    entries: list[str] = []
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            entries.append(PurePosixPath(entry.replace("\\", "/")).as_posix())
    if not entries:
        raise DatasetConfigError(f"list file {list_file} lists no images")
    duplicates = sorted({e for e in entries if entries.count(e) > 1})
    if duplicates:
        raise DatasetConfigError(f"list file {list_file} lists {duplicates[0]!r} more than once")
    return entries


class ImageDataset(Dataset):
    """Images of a folder (recursive, sorted) or a list file, preprocessed for evaluation.

    `item = {"image": float32 (3, H, W) on 8-bit levels in [0, 1], "id": relative path,
    "sha256": of the file bytes decoded, "source_size": (H, W) before preprocessing}`, or
    `{"id": ..., "error": "<one line>"}` for a file that cannot be read or preprocessed.
    List-file entries are relative to `root` when it is given, else to the list file's folder;
    the id is the entry as written. Files claiming more than `max_pixels` pixels are refused from
    their header, before decoding.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        list_file: str | Path | None = None,
        size: int = 256,
        resize: str = "shorter_side",
        crop: str = "center",
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.preprocess = Preprocess(size=int(size), resize=resize, crop=crop)
        self.list_file = Path(list_file) if list_file is not None else None
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
            raise DatasetConfigError(f"data.max_pixels must be a positive integer, got {max_pixels!r}")
        self.max_pixels = max_pixels
        if list_file is not None:
            list_file = Path(list_file)
            self.root = Path(root) if root is not None else list_file.parent
            self.ids = read_list_file(list_file)
        elif root is not None:
            self.root = Path(root)
            self.ids = list_image_files(self.root)
        else:
            raise DatasetConfigError("a dataset needs `root` (an image folder) or `list_file`")

    def __len__(self) -> int:
        return len(self.ids)

    def label(self) -> str:
        """Default name in results: the folder (or list file) name plus a hash of the images' bytes."""
        from inpaintbench.data.fingerprint import dataset_label

        source = self.list_file.stem if self.list_file is not None else self.root.resolve().name
        return dataset_label(source, self.root, self.ids)

    def path(self, index: int) -> Path:
        return self.root / self.ids[index]

    def load(self, index: int) -> Any:
        """The decoded (H, W, 3) uint8 image before preprocessing (raises ImageDecodeError)."""
        return load_rgb8(self.path(index), self.max_pixels)

    def file_sha256(self, index: int) -> str | None:
        """sha256 of the file's bytes (None when it cannot be read: its item will be an error row)."""
        try:
            return hashlib.sha256(self.path(index).read_bytes()).hexdigest()
        except OSError:
            return None

    def __getitem__(self, index: int) -> dict[str, Any]:
        image_id = self.ids[index]
        try:
            loaded = load_rgb8_hashed(self.path(index), self.max_pixels)
            rgb = self.preprocess(loaded.rgb)
        except ImageDecodeError as err:
            return error_item(image_id, str(err))
        except ValueError as err:  # preprocessing: e.g. smaller than the crop with resize: none
            return error_item(image_id, f"{self.path(index)}: {err}")
        return {
            "image": rgb8_to_tensor(rgb),
            "id": image_id,
            "sha256": loaded.sha256,
            "source_size": tuple(loaded.rgb.shape[:2]),
        }

    def identity(self) -> dict[str, Any]:
        """The preprocessing and pixel budget a run hash records beside the files' content hashes."""
        return {**self.preprocess.identity(), "max_pixels": self.max_pixels}


def error_item(image_id: str, message: str) -> dict[str, str]:
    """The item that replaces an unreadable image; warns once per file."""
    message = " ".join(message.split())  # one line, whatever the decoder said
    warnings.warn(f"skipping unreadable image {message}", UnreadableImageWarning, stacklevel=2)
    return {"id": image_id, "error": message}


def skip_errors_collate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """DataLoader collate that drops error items and keeps them under "errors" ([{"id", "error"}]).

    A batch whose items all failed has `image` of shape (0, 3, 0, 0) and empty `id`.
    """
    good = [{k: v for k, v in item.items() if k != "source_size"} for item in items if "error" not in item]
    errors = [{"id": item["id"], "error": item["error"]} for item in items if "error" in item]
    batch = dict(default_collate(good)) if good else {"image": torch.zeros((0, 3, 0, 0)), "id": []}
    batch["errors"] = errors
    return batch


def build_dataset(data_cfg: Mapping[str, Any]) -> ImageDataset:
    """The dataset a data config (conf/data/*.yaml) describes."""
    root = data_cfg.get("root")
    list_file = data_cfg.get("list_file")
    return ImageDataset(
        root=_expand(root),
        list_file=_expand(list_file),
        size=int(data_cfg.get("size", 256)),
        resize=str(data_cfg.get("resize", "shorter_side")),
        crop=str(data_cfg.get("crop", "center")),
        max_pixels=DEFAULT_MAX_PIXELS if data_cfg.get("max_pixels") is None else data_cfg.get("max_pixels"),
    )


def _expand(path: Any) -> Path | None:
    if path is None or str(path) in ("", "null", "None"):
        return None
    return Path(os.path.expanduser(str(path)))
