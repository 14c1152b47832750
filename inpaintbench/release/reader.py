"""`read_release`: a file or folder exactly as downloaded -> a flat official-layout state dict.

Steps: identify the container from its bytes (safetensors header, torch zip / legacy pickle,
TensorFlow checkpoint folder or index), read it without running code (`safe_pickle`,
`tensorbundle`), detect the layout from the content (`layouts`), extract the weights the model
needs and drop the rest. The file's sha256 is computed on the way (for a TensorFlow folder: over
the `.index` followed by every data shard, in shard order) and recorded in every result row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from inpaintbench.io.containers import is_safetensors_file, read_safetensors
from inpaintbench.io.errors import WeightsError
from inpaintbench.io.hashing import check_sha256, sha256_file, sha256_files
from inpaintbench.release import layout as layouts
from inpaintbench.release import safe_pickle, tensorbundle


@dataclass
class ReleaseContent:
    """What a release holds, reduced to what a model loads."""

    state_dict: dict[str, Tensor]
    layout: str
    source_sha256: str
    info: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None

    @property
    def models(self) -> tuple[str, ...]:
        """Registry names this content can load into (empty: not known from the file)."""
        return tuple(self.info.get("models") or layouts.LAYOUTS.get(self.layout).models)


def read_raw(path: str | Path, *, sha256: str | None = None) -> tuple[Any, str]:
    """The raw object of a release (unpickled dict, TF variables, safetensors dict) and its sha256."""
    path = Path(path)
    if not path.exists() and not tensorbundle.is_tensorbundle(path):
        raise WeightsError(f"{path}: no such weight file or folder")
    if tensorbundle.is_tensorbundle(path) or path.is_dir():
        bundle = tensorbundle.open_bundle(path)
        missing = [p for p in bundle.files() if not p.is_file()]
        if missing:
            raise WeightsError(f"{missing[0]}: data shard missing from the TensorFlow checkpoint {bundle.prefix}")
        digest = sha256_files(bundle.files())
        if sha256:
            check_sha256(path, digest, sha256)
        return layouts.TFVariables(tensorbundle.read_tensorbundle(path)), digest
    if path.stat().st_size == 0:
        raise WeightsError(f"{path}: empty file")
    digest = sha256_file(path)
    if sha256:
        check_sha256(path, digest, sha256)
    if is_safetensors_file(path):
        return read_safetensors(path), digest
    return safe_pickle.load_torch_pickle(path), digest


def read_release(path: str | Path, *, sha256: str | None = None) -> ReleaseContent:
    """Read an official release (or our own file) as downloaded: flat official-layout state dict.

    `sha256` (full or a published prefix) is checked before anything is parsed.
    """
    path = Path(path)
    raw, digest = read_raw(path, sha256=sha256)
    try:
        layout = layouts.detect_layout(raw)
    except ValueError as error:
        raise WeightsError(f"{path}: {error}") from None
    if layout is None:
        raise WeightsError(
            f"{path}: no known release layout matches ({layouts.describe_found(raw)}); "
            f"known layouts: {layouts.known_layouts_text()}"
        )
    try:
        state_dict = layout.extract(raw)
        info = layout.describe(raw)
    except (KeyError, ValueError) as error:
        raise WeightsError(f"{path}: looks like layout {layout.name} but {_message(error)}") from None
    del raw  # drop optimizer state, evaluators, hyper-parameters as soon as possible
    if not state_dict:
        raise WeightsError(f"{path}: layout {layout.name} matched but holds no weights")
    return ReleaseContent(state_dict, layout.name, digest, info, path)


def _message(error: BaseException) -> str:
    return str(error.args[0]) if error.args else type(error).__name__


def registered_names(model: Any) -> tuple[str, ...]:
    """Registry names `model` was built under: the `model_name` that `create_model` records, or the
    names registered for its class itself (factories are functions, so their products match none)."""
    explicit = getattr(model, "model_name", None)
    if isinstance(explicit, str):
        return (explicit,)
    from inpaintbench.model_registry import MODELS

    return tuple(name for name in MODELS.names() if MODELS.get(name) is type(model))


def _family(name: str) -> str | None:
    from inpaintbench.model_registry import MODELS

    return MODELS.entry(name).meta.get("family") if name in MODELS else None


def check_release_fits(model: Any, content: ReleaseContent) -> None:
    """Refuse a release made for another model, naming the layout found, before any key matching.

    A `*_tiny` test model takes any release of its family (a small generator in the official layout).
    """
    feeds = content.models
    names = registered_names(model)
    if not feeds or not names:
        return
    tiny_families = {_family(name) for name in names if name.endswith("_tiny")} - {None}
    if set(feeds) & set(names) or {_family(feed) for feed in feeds} & tiny_families:
        return
    where = content.source or "weights"
    raise WeightsError(
        f"{where}: layout {content.layout} ({layouts.LAYOUTS.get(content.layout).description.split(':')[0]}) "
        f"is for {', '.join(feeds)}, not for {', '.join(names)}"
    )
