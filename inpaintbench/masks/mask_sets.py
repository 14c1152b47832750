"""Fixed mask sets: PNG files plus a manifest that makes them checkable and regenerable.

A set is a folder of 8-bit greyscale PNGs (255 = hole, 0 = known) and `manifest.json` holding the
protocol id, version, seed and parameters (the exact config that regenerates the set) and, per file,
its name, mask id, image id, label, SHA-256 of the file bytes, SHA-256 of the pixels (stable across
PNG encoders), measured hole ratio and bin. The manifest has no timestamp, so regenerating a set
gives a byte-identical manifest. `check_mask_set` verifies a folder against its manifest;
`make_masks` / `check_masks` are what `inpaintbench masks make|check` call.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from inpaintbench.masks.errors import MaskError
from inpaintbench.masks.protocol import MaskProtocol, MaskSample, get_protocol
from inpaintbench.masks.ratio import hole_ratio, ratio_bin

MANIFEST = "manifest.json"
FORMAT = "inpaintbench-maskset/1"


def pixel_sha256(mask: np.ndarray) -> str:
    """SHA-256 over the shape and the 0/1 bytes of a binary mask (independent of file encoding)."""
    binary = np.ascontiguousarray(mask != 0, dtype=np.uint8)
    digest = hashlib.sha256(f"{binary.shape[0]}x{binary.shape[1]}:".encode())
    digest.update(binary.tobytes())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def mask_file_name(sample: MaskSample) -> str:
    """`<image id without extension>.<label>.<index>.png`, keeping the image id's sub-folders."""
    path = Path(sample.image_id)
    if path.is_absolute() or ".." in path.parts:
        raise MaskError(f"image id '{sample.image_id}' must be a relative path inside the data root")
    label = "".join(c if c.isalnum() or c in "-_" else "_" for c in sample.label)
    return f"{path.with_suffix('').as_posix()}.{label}.{sample.index}.png"


def save_mask_png(mask: np.ndarray, path: Path) -> None:
    """L-mode PNG, 255 = hole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((mask != 0).astype(np.uint8) * 255).save(path, format="PNG")


def load_mask_png(path: Path) -> np.ndarray:
    """A set's PNG back as uint8 {0, 1}; any grey value other than 0 or 255 is an error."""
    with Image.open(path) as image:
        if image.mode != "L":
            raise MaskError(f"mode {image.mode}, expected L")
        values = np.asarray(image)
    if not np.isin(values, (0, 255)).all():
        raise MaskError("values other than 0 and 255")
    return (values == 255).astype(np.uint8)


def write_mask_set(
    protocol: MaskProtocol,
    image_ids_or_count: Sequence[str] | int,
    out_dir: str | Path,
    *,
    height: int = 256,
    width: int = 256,
) -> dict[str, Any]:
    """Render every sample at height x width into `out_dir` and write its manifest; return the manifest.

    An int `n` stands for the image ids "mask_000000" ... of n images (masks not tied to a dataset).
    """
    if isinstance(image_ids_or_count, int):
        if image_ids_or_count < 1:
            raise MaskError(f"mask set count must be positive, got {image_ids_or_count}")
        image_ids: list[str] = [f"mask_{i:06d}" for i in range(image_ids_or_count)]
    else:
        image_ids = [str(i) for i in image_ids_or_count]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[dict[str, Any]] = []
    names: set[str] = set()
    for sample in protocol.samples(image_ids):
        name = mask_file_name(sample)
        if name in names:
            raise MaskError(f"two masks would be written to {out / name}; image ids differ only by extension")
        names.add(name)
        mask = protocol.render(sample, height, width)
        save_mask_png(mask, out / name)
        ratio = hole_ratio(mask)
        files.append(
            {
                "name": name,
                "mask_id": sample.mask_id,
                "image_id": sample.image_id,
                "label": sample.label,
                "index": sample.index,
                "sha256": file_sha256(out / name),
                "pixel_sha256": pixel_sha256(mask),
                "hole_ratio": ratio,
                "bin": ratio_bin(ratio),
            }
        )
    manifest = {
        "format": FORMAT,
        "protocol": protocol.name,
        "protocol_id": protocol.protocol_id,
        "version": protocol.version,
        "seed": protocol.seed,
        "config": protocol.config(),
        "height": height,
        "width": width,
        "count": len(files),
        "made_with": {"numpy": np.__version__, "opencv": cv2.__version__},
        "files": files,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def check_mask_set(mask_dir: str | Path, *, regenerate: bool = False) -> list[str]:
    """Problems found in a mask set, one line each naming the file; empty when the set is intact.

    Checks every listed file's existence, SHA-256, decoding (L mode, only 0/255), size, measured
    hole ratio and bin against the manifest, and flags PNGs the manifest does not list. With
    `regenerate`, the masks are also re-rendered from the manifest's config and compared by pixel
    hash (this catches code drift that was not announced by a version bump).
    """
    root = Path(mask_dir)
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        entries = manifest["files"]
        height, width = int(manifest["height"]), int(manifest["width"])
    except FileNotFoundError:
        return [f"{root / MANIFEST}: missing"]
    except (ValueError, KeyError, TypeError) as error:
        return [f"{root / MANIFEST}: unreadable manifest ({error})"]
    problems: list[str] = []
    protocol = None
    if regenerate:
        try:
            protocol = get_protocol(manifest["config"])
        except (ValueError, KeyError) as error:
            problems.append(f"{root / MANIFEST}: cannot rebuild the protocol ({error})")
    listed: set[str] = set()
    for entry in entries:
        name = entry["name"]
        listed.add(name)
        path = root / name
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        if file_sha256(path) != entry["sha256"]:
            problems.append(f"{path}: sha256 differs from the manifest")
        try:
            mask = load_mask_png(path)
        except (OSError, ValueError) as error:
            problems.append(f"{path}: not a valid mask PNG ({error})")
            continue
        if mask.shape != (height, width):
            problems.append(f"{path}: size {mask.shape[1]}x{mask.shape[0]}, manifest says {width}x{height}")
            continue
        ratio = hole_ratio(mask)
        if ratio != entry["hole_ratio"] or ratio_bin(ratio) != entry["bin"]:
            problems.append(
                f"{path}: measured hole ratio {ratio:.6f} ({ratio_bin(ratio)}), manifest says "
                f"{entry['hole_ratio']:.6f} ({entry['bin']})"
            )
        if protocol is not None:
            sample = MaskSample(entry["mask_id"], entry["image_id"], entry["label"], int(entry["index"]))
            if pixel_sha256(protocol.render(sample, height, width)) != entry["pixel_sha256"]:
                problems.append(f"{path}: the protocol's code renders a different mask now (bump its version?)")
    for path in sorted(root.rglob("*.png")):
        if path.relative_to(root).as_posix() not in listed:
            problems.append(f"{path}: not listed in the manifest")
    return problems


def make_masks(
    masks_cfg: Any,
    out_dir: str | Path,
    count: int = 64,
    image_ids: Sequence[str] | None = None,
    *,
    height: int = 256,
    width: int = 256,
    overwrite: bool = True,
) -> dict[str, Any]:
    """Write the fixed set of a masks config into `out_dir` (the CLI passes `masks/<name>`); return its manifest.

    Uses `image_ids` when given (masks for a dataset's ids), else `count` anonymous ids
    `mask_000000` .... An existing mask set in `out_dir` is replaced (sets are deterministic, so the
    same config rewrites the same bytes); a folder that holds other files is never deleted.
    """
    protocol = get_protocol(masks_cfg)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not (out / MANIFEST).is_file():
            raise FileExistsError(f"{out} holds files but is not a mask set (no {MANIFEST}); refusing to replace it")
        if not overwrite:
            raise FileExistsError(f"{out} already holds a mask set; pass overwrite to replace it")
        shutil.rmtree(out)
    ids: Sequence[str] | int = list(image_ids) if image_ids is not None else [f"mask_{i:06d}" for i in range(count)]
    return write_mask_set(protocol, ids, out, height=height, width=width)


def check_masks(root: str | Path = "masks", *, regenerate: bool = False) -> list[str]:
    """Problems of one mask set (a folder with a manifest) or of every set below `root`; [] = intact.

    Each line names the file it is about; a root without any manifest is itself one problem.
    """
    base = Path(root)
    folders = [base] if (base / MANIFEST).is_file() else sorted(p.parent for p in base.rglob(MANIFEST))
    if not folders:
        return [f"{base}: no {MANIFEST} found"]
    return [problem for folder in folders for problem in check_mask_set(folder, regenerate=regenerate)]
