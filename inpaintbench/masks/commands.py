"""The `inpaintbench masks ...` commands: make a fixed set, check sets, publish the standard sets,
export a set in another tool's layout. Each prints one line per result and returns what it wrote
or found."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from inpaintbench.data import build_dataset
from inpaintbench.data.datasets import list_image_files
from inpaintbench.masks import PUBLISHED_ROOT, check_masks, check_published, get_protocol, make_masks, publish
from inpaintbench.masks.export import export_set
from inpaintbench.masks.mask_sets import find_mask_sets
from inpaintbench.masks.published import DEFAULT_REGENERATE_EVERY


def masks_make(cfg: DictConfig) -> Path:
    """Write a fixed mask set (PNGs + manifest.json) for the configured protocol."""
    image_ids = None
    if cfg.use_data:
        image_ids = build_dataset(cfg.data).ids
    out = Path(cfg.out)
    manifest = make_masks(
        cfg.masks,
        out,
        count=int(cfg.count),
        image_ids=image_ids,
        height=int(cfg.height),
        width=int(cfg.width),
        overwrite=bool(cfg.get("overwrite", False)),
    )
    print(f"wrote {len(manifest['files'])} masks of {manifest['protocol_id']} to {out}")
    return out


def masks_check(root: str | Path | None = None, *, full: bool = False) -> bool:
    """Verify mask sets: the published ones in masks/ (default; standard sets present, made to spec)
    or every set under `root`. Hashes, ratios and counts of every file; regenerates every 7th file
    from its generator (`full`: every file). True when all pass."""
    base = Path(root) if root is not None else PUBLISHED_ROOT
    every: bool | int = True if full else DEFAULT_REGENERATE_EVERY
    if base.resolve() == PUBLISHED_ROOT.resolve():
        problems = check_published(base, regenerate=every)
    else:
        problems = check_masks(base, regenerate=every)
    regenerated = "every file" if full else f"every {DEFAULT_REGENERATE_EVERY}th file"
    status = "ok" if not problems else f"{len(problems)} problem(s)"
    print(f"{len(find_mask_sets(base))} mask set(s) under {base} ({regenerated} regenerated): {status}")
    for problem in problems:
        print(f"  {problem}")
    return not problems


def masks_publish(names: list[str] | None = None) -> list[Path]:
    """Write the standard sets missing from masks/ (a new protocol version's); never rewrites one."""
    written = publish(names=names or None)
    for folder in written:
        print(f"wrote {folder}")
    if not written:
        print("every standard set is already published")
    return written


def masks_export(
    name: str, layout: str, out: str | Path, images: str | Path | None = None, root: str | Path | None = None
) -> Path:
    """Write a published set in another tool's file layout (inpaintbench.masks.export)."""
    protocol = get_protocol({"name": "published", "set": name, "root": root})
    image_ids = list_image_files(images) if images is not None else None
    rows = export_set(protocol, layout, out, image_ids=image_ids, images_root=images)
    print(f"wrote {len(rows)} masks of {protocol.set_name} in the {layout} layout to {out} (white = hole)")
    if layout == "lama":
        print(f"  LaMa: predict/evaluate with indir={out} and img_suffix=.png")
    elif layout == "folder" and image_ids is not None and len(protocol.groups[0]) == 1:
        print(f"  here: inpaintbench eval masks=folder masks.root={out} masks.polarity=hole_white masks.threshold=0.5")
    return Path(out)
