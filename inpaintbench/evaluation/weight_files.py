"""The `inpaintbench weights ...` commands: what is installed (metric backbones and official
releases), import a backbone file, fetch a release, convert a release to our layout. Each prints
what the user needs to see and returns what it found or wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inpaintbench.convert import convert_release
from inpaintbench.errors import InpaintbenchError
from inpaintbench.evaluation.loading import load_inpainter
from inpaintbench.metrics.backbones import BACKBONES, fetch_weight_file, import_weight_file
from inpaintbench.metrics.backbones import weights_status as backbone_status
from inpaintbench.registry import UnknownNameError, unknown_name_message
from inpaintbench.release import pretrained
from inpaintbench.release.fetch import fetch_release


def weights_status() -> list[dict[str, Any]]:
    """`inpaintbench weights`: metric backbones (file, where looked for, present, how to install
    offline), then the official model releases."""
    backbones = backbone_status()
    print("metric backbones (torch hub cache; nothing downloads unless asked):")
    for row in backbones:
        print(f"{row['backbone']:<14} {row['used_by']:<28} {'present' if row['present'] == 'yes' else 'missing'}")
        print(f"    file {row['path']}")
        if row["present"] != "yes":
            print(f"    install: {row['install']}")

    releases = pretrained.release_table()
    print("official model releases:")
    pretrained.print_release_table(releases)
    return [*backbones, *releases]


def weights_import(path: str | Path) -> Path:
    """`inpaintbench weights import FILE`: copy a metric backbone file into the torch hub cache after
    checking its published hash prefix."""
    target = import_weight_file(path)
    print(f"{Path(path).name}: hash prefix ok, copied to {target}")
    return target


def weights_fetch(name: str, cache_dir: str | Path | None = None) -> Path:
    """Download a release with a direct URL (release id, or model name with one such release)."""
    if name in BACKBONES:  # a metric backbone (inception_fid, alexnet, vgg16)
        path = fetch_weight_file(name)
        print(f"{name}: {path}")
        return path
    try:
        release = pretrained.find_release(name)
    except UnknownNameError:
        known = [*BACKBONES, *pretrained.RELEASES.names()]
        raise UnknownNameError(unknown_name_message("weights", name, known)) from None
    path = fetch_release(release, cache_dir=Path(cache_dir) if cache_dir else None)
    print(f"{name}: {path}")
    return path


def weights_convert(model: str, file: str | Path, out: str | Path | None = None) -> Path:
    """Official release file -> `.safetensors` in our layout + card (source sha256, layout, licence)."""

    def learned_only(learned: bool) -> None:
        if not learned:
            raise InpaintbenchError(f"model '{model}' is not learned and has no weights to convert")

    inpainter, _ = load_inpainter(model, check=learned_only)
    target, card = convert_release(inpainter, model, file, out)
    print(f"wrote {target} (sha256 {card['sha256'][:12]}, layout {card['layout']}, from {Path(file).name})")
    return target
