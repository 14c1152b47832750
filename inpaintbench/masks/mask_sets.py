"""Fixed mask sets: PNG files plus a manifest that makes them checkable and regenerable.

A set is a folder of 1-bit PNGs (white = hole, black = known; sets written before 1-bit PNGs were
8-bit greyscale 0/255 and still load) and `manifest.json` holding the protocol id, version, seed and
parameters (the exact config that regenerates the set), the tool versions that wrote it and, per
file, its name, mask id, image id, label, SHA-256 of the file bytes, SHA-256 of the pixels (stable
across PNG encoders), measured hole ratio and bin. The manifest has no timestamp, so regenerating a
set with the same tools gives a byte-identical manifest. `check_mask_set` verifies a folder against
its manifest; `make_masks` / `check_masks` are what `inpaintbench masks make|check` call.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import PIL
from PIL import Image

from inpaintbench.masks.errors import MaskError
from inpaintbench.masks.protocol import PROTOCOLS, MaskProtocol, MaskSample, get_protocol
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
    """1-bit PNG, white = hole (every PNG reader, converted to 8-bit grey, sees 255 = hole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(mask != 0)).save(path, format="PNG", optimize=True)


def load_mask_png(path: Path) -> np.ndarray:
    """A set's PNG back as uint8 {0, 1}: 1-bit, or 8-bit grey where any value but 0 and 255 is an error."""
    with Image.open(path) as image:
        if image.mode == "1":
            return np.asarray(image).astype(np.uint8)
        if image.mode != "L":
            raise MaskError(f"mode {image.mode}, expected 1-bit or L")
        values = np.asarray(image)
    if not np.isin(values, (0, 255)).all():
        raise MaskError("values other than 0 and 255")
    return (values == 255).astype(np.uint8)


def tool_versions() -> dict[str, str]:
    """The versions that decide a set's pixels (numpy, OpenCV) and its file bytes (Pillow, zlib)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        inpaintbench_version = version("inpaintbench")
    except PackageNotFoundError:
        inpaintbench_version = "unknown"
    import zlib

    return {
        "inpaintbench": inpaintbench_version,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "pillow": PIL.__version__,
        "zlib": zlib.ZLIB_VERSION,
    }


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
        "png": "1-bit, white = hole",
        "made_with": tool_versions(),
        "files": files,
    }
    (out / MANIFEST).write_text(manifest_text(manifest), encoding="utf-8")
    return manifest


def manifest_text(manifest: dict[str, Any]) -> str:
    """Indented JSON with one line per file entry: readable, diffable, a third smaller than fully indented."""
    head = json.dumps({key: value for key, value in manifest.items() if key != "files"}, indent=1)
    files = ",\n  ".join(json.dumps(entry) for entry in manifest["files"])
    return f'{head[:-2]},\n "files": [\n  {files}\n ]\n}}\n'


def read_manifest(mask_dir: str | Path) -> dict[str, Any]:
    """The manifest of a set folder; a MaskError naming the file when it is missing or unreadable."""
    path = Path(mask_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or not isinstance(manifest["files"], list):
            raise TypeError("no list of files")
        int(manifest["height"]), int(manifest["width"])
    except FileNotFoundError:
        raise MaskError(f"{path}: missing") from None
    except (ValueError, KeyError, TypeError) as error:
        raise MaskError(f"{path}: unreadable manifest ({error})") from None
    return manifest


def rebuild_protocol(manifest: dict[str, Any]) -> MaskProtocol | None:
    """The protocol that wrote a set, or None when the set has an older version than the code (frozen).

    A frozen set stays valid evidence (its files are checked by hash), but the current code no longer
    claims to reproduce it; a newer version than the code is an error.
    """
    cls = PROTOCOLS.get(str(manifest["config"]["name"]))
    version = int(manifest["config"].get("version", cls.version))
    if version < cls.version:
        return None
    return get_protocol(manifest["config"])


def check_mask_set(mask_dir: str | Path, *, regenerate: bool | int = False) -> list[str]:
    """Problems found in a mask set, one line each naming the file; empty when the set is intact.

    Checks the file count, every listed file's existence, SHA-256, decoding (1-bit, or L with only
    0/255), size, measured hole ratio and bin against the manifest, and flags PNGs the manifest does
    not list. With `regenerate` (True, or k: every k-th file in manifest order, a deterministic
    subset), the masks are also re-rendered from the manifest's config and compared by pixel hash:
    this catches code that draws other masks without a version bump. Sets of an older protocol
    version than the code's are frozen: checked by hash, not regenerated.
    """
    root = Path(mask_dir)
    try:
        manifest = read_manifest(root)
    except MaskError as error:
        return [str(error)]
    entries = manifest["files"]
    height, width = int(manifest["height"]), int(manifest["width"])
    problems: list[str] = []
    if manifest.get("count") != len(entries):
        problems.append(f"{root / MANIFEST}: count says {manifest.get('count')}, {len(entries)} files are listed")
    protocol = None
    every = int(regenerate)
    if every:
        try:
            protocol = rebuild_protocol(manifest)
        except (ValueError, KeyError, TypeError) as error:
            problems.append(f"{root / MANIFEST}: cannot rebuild the protocol ({error})")
    listed: set[str] = set()
    for position, entry in enumerate(entries):
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
        if pixel_sha256(mask) != entry["pixel_sha256"]:
            problems.append(f"{path}: pixel sha256 differs from the manifest")
        ratio = hole_ratio(mask)
        if ratio != entry["hole_ratio"] or ratio_bin(ratio) != entry["bin"]:
            problems.append(
                f"{path}: measured hole ratio {ratio:.6f} ({ratio_bin(ratio)}), manifest says "
                f"{entry['hole_ratio']:.6f} ({entry['bin']})"
            )
        if protocol is not None and position % every == 0:
            sample = MaskSample(entry["mask_id"], entry["image_id"], entry["label"], int(entry["index"]))
            if pixel_sha256(protocol.render(sample, height, width)) != entry["pixel_sha256"]:
                problems.append(
                    f"{path}: {protocol.name} v{protocol.version} renders a different mask now; "
                    "bump the protocol's version (the published set stays) or restore the generator"
                )
    for path in sorted(root.rglob("*.png")):
        if path.relative_to(root).as_posix() not in listed:
            problems.append(f"{path}: not listed in the manifest")
    return problems


def _set_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """What makes two sets the same: protocol config, size, and the image ids (so the count)."""
    ids = list(dict.fromkeys(str(entry["image_id"]) for entry in manifest["files"]))
    return {
        "config": manifest.get("config"),
        "size": f"{manifest.get('width')}x{manifest.get('height')}",
        "count": len(ids),
        "ids": ids,
    }


def describe_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    """One phrase naming how two set summaries differ, e.g. "count 100 -> 64, per_image 1 -> 2"."""
    parts: list[str] = []
    old_cfg, new_cfg = dict(old["config"] or {}), dict(new["config"] or {})
    for key in dict.fromkeys([*old_cfg, *new_cfg]):
        if old_cfg.get(key) != new_cfg.get(key):
            parts.append(f"{key} {old_cfg.get(key)!r} -> {new_cfg.get(key)!r}")
    for key in ("size", "count"):
        if old[key] != new[key]:
            parts.append(f"{key} {old[key]} -> {new[key]}")
    if not parts and old["ids"] != new["ids"]:
        parts.append("other image ids")
    return ", ".join(parts)


def make_masks(
    masks_cfg: Any,
    out_dir: str | Path,
    count: int = 64,
    image_ids: Sequence[str] | None = None,
    *,
    height: int = 256,
    width: int = 256,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the fixed set of a masks config into `out_dir` (the CLI passes `masks/<name>`); return its manifest.

    Uses `image_ids` when given (masks for a dataset's ids), else `count` anonymous ids
    `mask_000000` .... A set already in `out_dir` made with the same protocol config, size and ids
    is rewritten (sets are deterministic, so the bytes are the same); one made with anything else
    is refused, naming the difference, unless `overwrite`. A folder that holds other files is never
    deleted.
    """
    protocol = get_protocol(masks_cfg)
    out = Path(out_dir)
    if image_ids is None and count < 1:
        raise MaskError(f"mask set count must be positive, got {count}")
    ids = [str(i) for i in image_ids] if image_ids is not None else [f"mask_{i:06d}" for i in range(count)]
    if out.exists() and any(out.iterdir()):
        if not (out / MANIFEST).is_file():
            raise FileExistsError(f"{out} holds files but is not a mask set (no {MANIFEST}); refusing to replace it")
        if not overwrite:
            new = {"config": protocol.config(), "size": f"{width}x{height}", "count": len(ids), "ids": ids}
            try:
                difference = describe_difference(_set_summary(read_manifest(out)), new)
            except MaskError:
                difference = "its manifest is unreadable"
            if difference:
                raise MaskError(
                    f"{out} already holds a different mask set ({difference}); "
                    "pass overwrite=true (or --force) to replace it, or out=<folder> to write elsewhere"
                )
        shutil.rmtree(out)
    return write_mask_set(protocol, ids, out, height=height, width=width)


def find_mask_sets(root: str | Path) -> list[Path]:
    """`root` itself when it is a set, else every set folder below it (sorted)."""
    base = Path(root)
    if (base / MANIFEST).is_file():
        return [base]
    return sorted(p.parent for p in base.rglob(MANIFEST))


def check_masks(root: str | Path = "masks", *, regenerate: bool | int = False) -> list[str]:
    """Problems of one mask set (a folder with a manifest) or of every set below `root`; [] = intact.

    Each line names the file it is about; a root without any manifest is itself one problem.
    """
    folders = find_mask_sets(root)
    if not folders:
        return [f"{Path(root)}: no {MANIFEST} found"]
    return [problem for folder in folders for problem in check_mask_set(folder, regenerate=regenerate)]
