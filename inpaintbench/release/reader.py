"""`read_release`: a file or folder exactly as downloaded -> a flat official-layout state dict.

Steps: identify the container from its bytes (safetensors header, torch zip / legacy pickle,
TensorFlow checkpoint folder or index), read it without running code (`safe_pickle`,
`tensorbundle`), detect the layout from the content (`layouts`), extract the weights the model
needs and drop the rest. The file's sha256 is computed on the way (for a TensorFlow folder: over
the `.index` followed by every data shard, in shard order) and recorded in every result row.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file as _load_safetensors
from torch import Tensor

from inpaintbench.release import layout as layouts
from inpaintbench.release import safe_pickle, tensorbundle
from inpaintbench.weights import WeightsError, sha256_file

_CHUNK = 1 << 20


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


def is_safetensors_file(path: Path) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON object."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return 2 <= header_len <= path.stat().st_size - 8


def sha256_files(paths: list[Path]) -> str:
    """sha256 of several files read one after the other (a TensorFlow checkpoint's identity)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def _check_hash(path: Path, actual: str, expected: str | None) -> None:
    if expected and not actual.startswith(expected.lower()):
        raise WeightsError(f"{path}: sha256 {actual[:16]}... does not match the expected {expected}")


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
        _check_hash(path, digest, sha256)
        return layouts.TFVariables(tensorbundle.read_tensorbundle(path)), digest
    if path.stat().st_size == 0:
        raise WeightsError(f"{path}: empty file")
    digest = sha256_file(path)
    _check_hash(path, digest, sha256)
    if is_safetensors_file(path):
        try:
            return _load_safetensors(str(path), device="cpu"), digest
        except Exception as error:  # safetensors raises several unrelated types
            raise WeightsError(f"{path}: not a readable safetensors file ({error})") from None
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
    from inpaintbench.archs.registry import MODELS

    return tuple(name for name in MODELS.names() if MODELS.get(name) is type(model))


def _family(name: str) -> str | None:
    from inpaintbench.archs.registry import MODELS

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
