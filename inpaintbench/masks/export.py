"""Write a mask set in the file layouts other inpainting tools read, so their evaluators see our masks.

Every layout writes 8-bit greyscale PNGs with white (255) = hole, the polarity all three consumers
expect; images are paired with masks by the published-set rule (`published.PublishedProtocol`).

- `folder`: a plain folder of masks. Without images: the set's own file names. With images: masks
  named after the images (`<image id stem>.png`, the "same name as the ground truth" convention of
  most repositories and of our `masks=folder`); for sets with several masks per image (irregular),
  one sub-folder per label, e.g. `20-30/<image id stem>.png`.
- `lama`: the folder LaMa's `bin/predict.py` / `bin/evaluate_predicts.py` read
  (`saicinpainting/evaluation/data.py: InpaintingDataset`): masks found by the recursive glob
  `**/*mask*<img_suffix>`, the image of `<stem>_mask<NNN>.png` being `<stem><img_suffix>`, mask
  read as L / 255 and binarised `> 0`. We write `<stem>.png` (the image, copied when PNG, else
  decoded and re-encoded losslessly) beside `<stem>_mask000.png`, `<stem>_mask001.png`, ... (the
  numbering of LaMa's `gen_mask_dataset.py`); run LaMa with `img_suffix: .png`. An image whose file
  name contains "mask" would itself be globbed as a mask, so it is refused.
- `nvidia`: the naming of NVIDIA's irregular test masks (PConv, Liu et al. 2018): `NNNNN.png`,
  five digits from 00000, bucket-major in increasing hole ratio (the NVIDIA set has 2000 per bucket,
  we have the set's count per bucket), white = hole as in that set. Only for sets with bucket labels.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from inpaintbench.masks.errors import MaskError
from inpaintbench.masks.mask_sets import load_mask_png
from inpaintbench.masks.published import PublishedProtocol
from inpaintbench.masks.ratio import RATIO_BINS

LAYOUTS: tuple[str, ...] = ("folder", "lama", "nvidia")


def _write_grey(mask: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((mask != 0).astype(np.uint8) * 255, mode="L").save(path, format="PNG")


def _stem(image_id: str) -> str:
    return PurePosixPath(image_id).with_suffix("").as_posix()


def _copy_image_as_png(source: Path, target: Path, size: tuple[int, int]) -> None:
    """The image at `target` as PNG (bytes copied when it already is one); its size must be the set's."""
    with Image.open(source) as image:
        if (image.height, image.width) != size:
            raise MaskError(
                f"{source}: image is {image.width}x{image.height}, the set's masks are {size[1]}x{size[0]}; "
                "export a set of the image size or resize the images first"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        if image.format == "PNG":
            shutil.copyfile(source, target)
        else:
            image.convert("RGB").save(target, format="PNG")


def export_set(
    protocol: PublishedProtocol,
    layout: str,
    out_dir: str | Path,
    *,
    image_ids: Sequence[str] | None = None,
    images_root: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Write `protocol`'s set into `out_dir` in `layout`; return one row per written mask.

    The rows (also written to `out_dir/pairs.csv`) name the written file, the set file it came
    from, its label, and the image it is paired with (empty without images).
    """
    if layout not in LAYOUTS:
        raise MaskError(f"unknown export layout '{layout}' (known: {', '.join(LAYOUTS)})")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise MaskError(f"export folder {out} is not empty; choose a new folder")
    if layout == "lama" and image_ids is None:
        raise MaskError("the lama layout puts masks beside their images: pass --images DIR")
    if layout == "nvidia" and image_ids is not None:
        raise MaskError("the nvidia layout is a numbered mask set without images; leave out --images")
    rows = _plan(protocol, layout, image_ids)
    out.mkdir(parents=True, exist_ok=True)
    for row in rows:
        _write_grey(load_mask_png(protocol.folder / row["set_file"]), out / row["file"])
        if layout == "lama" and row["index_in_group"] == 0:
            source = Path(images_root or ".") / row["image_id"]
            _copy_image_as_png(source, out / f"{_stem(row['image_id'])}.png", protocol.size)
    with open(out / "pairs.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "set_file", "label", "image_id"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _plan(protocol: PublishedProtocol, layout: str, image_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    """Target file name of every mask to write, in a deterministic order."""
    rows: list[dict[str, Any]] = []
    if image_ids is None:
        entries = [entry for group in protocol.groups for entry in group]
        if layout == "nvidia":
            bad = sorted({str(e["label"]) for e in entries} - set(RATIO_BINS))
            if bad:
                raise MaskError(
                    f"set {protocol.set_name} has labels {', '.join(bad)}, not hole-ratio buckets; the nvidia layout "
                    "numbers masks by bucket, so it only takes bucketed sets (irregular)"
                )
            entries.sort(key=lambda e: RATIO_BINS.index(str(e["label"])))  # stable: manifest order within a bucket
            for number, entry in enumerate(entries):
                rows.append({"file": f"{number:05d}.png", "set_file": entry["name"], "label": entry["label"]})
            return rows
        return [{"file": e["name"], "set_file": e["name"], "label": e["label"]} for e in entries]
    several = max(len(group) for group in protocol.groups) > 1
    samples = protocol.samples(image_ids)
    position: dict[str, int] = {}
    for sample in samples:
        name = sample.mask_id.rsplit("#", 1)[1]
        index = position.get(sample.image_id, 0)
        position[sample.image_id] = index + 1
        stem = _stem(sample.image_id)
        if layout == "lama":
            if "mask" in PurePosixPath(stem).name:
                raise MaskError(
                    f"image '{sample.image_id}': LaMa takes every file named *mask* for a mask; rename the image"
                )
            target = f"{stem}_mask{index:03d}.png"
        elif several:
            target = f"{sample.label}/{stem}.png"
        else:
            target = f"{stem}.png"
        rows.append(
            {
                "file": target,
                "set_file": name,
                "label": sample.label,
                "image_id": sample.image_id,
                "index_in_group": index,
            }
        )
    seen: set[str] = set()
    for row in rows:
        if row["file"] in seen:
            raise MaskError(f"two masks would be written to {row['file']}; image ids differ only by extension")
        seen.add(row["file"])
    return rows
