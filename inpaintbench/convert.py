"""`weights convert`: an official release -> `.safetensors` in our layout, plus a card.

The card (YAML beside the weights, as in the zoo) records the source file and its sha256, the
layout detected, the release's licence, the date, and the converted file's own sha256, so later
runs load the fast file and results still trace back to the official download.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from torch import nn

from inpaintbench.release.pretrained import releases_for
from inpaintbench.release.reader import ReleaseContent, check_release_fits, read_release
from inpaintbench.weights import WeightsError, as_state_dict, check_state_dict, save_safetensors
from inpaintbench.zoo import write_card


def _plain(value: Any) -> Any:
    """YAML-safe copy of layout info (tuples -> lists, anything odd -> its string)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def licence_for(model: str) -> str:
    licences = sorted({release.licence for release in releases_for(model)})
    return "; ".join(licences) if licences else "unknown (no catalogued release for this model)"


def default_output(model: str, content: ReleaseContent) -> Path:
    return Path.cwd() / f"{model}.official-{content.source_sha256[:8]}.safetensors"


def convert_release(
    model: nn.Module, model_name: str, source: str | Path, out: str | Path | None = None
) -> tuple[Path, dict[str, Any]]:
    """Convert `source` for `model` (built by the caller); write weights + card; return (path, card)."""
    content = read_release(source)
    check_release_fits(model, content)
    converter = getattr(model, "checkpoint_filter_fn", None)
    state_dict = as_state_dict(converter(content.state_dict) if callable(converter) else content.state_dict, source)
    check_state_dict(model, state_dict, source)
    target = Path(out) if out else default_output(model_name, content)
    if target.is_dir() or not target.suffix:  # a folder, existing or to be made
        target = target / default_output(model_name, content).name
    if target.suffix != ".safetensors":
        raise WeightsError(f"{target}: the converted file must end in .safetensors")
    # clone: release tensors may share one storage (or an mmap), which safetensors refuses
    sha = save_safetensors(
        {k: v.clone() for k, v in state_dict.items()},
        target,
        metadata={"arch": model_name, "source_sha256": content.source_sha256, "layout": content.layout},
    )
    card = {
        "arch": model_name,
        "file": target.name,
        "sha256": sha,
        "source": {"file": str(Path(source).resolve()), "sha256": content.source_sha256},
        "layout": content.layout,
        "licence": licence_for(model_name),
        "converted": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "release_info": _plain(content.info),
    }
    write_card(target, card)
    return target, card
