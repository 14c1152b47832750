"""The only code that opens weight files.

Rules: safetensors, or `torch.load(weights_only=True)`; never a full unpickle. A sha256 can be
checked before anything is parsed. A state dict is loaded strictly, and a mismatch lists the missing,
unexpected and mis-shaped keys instead of torch's wall of text. `load_weights` reads through
`inpaintbench.release.read_release`, the one extension of this module: official release files as
downloaded (torch legacy / zip pickles with foreign objects via a restricted unpickler, TensorFlow
checkpoints), reduced to a flat state dict.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file as _save_safetensors
from torch import Tensor, nn

from inpaintbench.io.atomic import atomic_path
from inpaintbench.io.containers import is_safetensors_file, read_safetensors
from inpaintbench.io.errors import WeightsError
from inpaintbench.io.hashing import check_sha256, sha256_file
from inpaintbench.release import check_release_fits, read_release

__all__ = [
    "WeightsError",
    "as_state_dict",
    "check_state_dict",
    "load_weights",
    "read_checkpoint",
    "save_safetensors",
    "sha256_file",
]


def read_checkpoint(path: str | Path, *, sha256: str | None = None) -> Any:
    """Read a weight file without running code: safetensors, or a torch file with weights_only=True.

    Returns whatever the file holds (a flat state dict, or a nested dict for training checkpoints).
    """
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"{path}: no such weight file")
    if path.is_dir():
        raise WeightsError(f"{path}: is a folder; expected a weight file")
    if sha256:
        check_sha256(path, sha256_file(path), sha256)
    if path.suffix == ".safetensors" or is_safetensors_file(path):
        return read_safetensors(path)
    return _torch_load(path)


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "unsafe pickle"
        raise WeightsError(
            f"{path}: refused to unpickle: the file needs Python objects beyond tensors "
            f"({first_line}); only weights_only-loadable files and safetensors are accepted"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, io.UnsupportedOperation) as error:
        raise WeightsError(f"{path}: not a readable torch weight file ({_one_line(error)})") from None


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def as_state_dict(obj: Any, source: str | Path = "<memory>") -> dict[str, Tensor]:
    """Accept a flat {name: tensor} mapping and nothing else."""
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise WeightsError(f"{source}: expected a flat state dict of tensors, found {type(obj).__name__}")
    return dict(obj)


def check_state_dict(model: nn.Module, state_dict: Mapping[str, Tensor], source: str | Path) -> None:
    """Strict key and shape match, reported as one readable line per kind of problem."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    shapes = sorted(
        f"{k} {tuple(state_dict[k].shape)} != {tuple(expected[k].shape)}"
        for k in set(expected) & set(state_dict)
        if tuple(state_dict[k].shape) != tuple(expected[k].shape)
    )
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if items:
            shown = ", ".join(items[:8]) + (f" (+{len(items) - 8} more)" if len(items) > 8 else "")
            problems.append(f"{len(items)} {label}: {shown}")
    if problems:
        raise WeightsError(f"{source}: state dict does not match {type(model).__name__}: " + "; ".join(problems))


def load_weights(model: nn.Module, path: str | Path, *, sha256: str | None = None, strict: bool = True) -> str:
    """Load a weight file (or official release, as downloaded) into `model`; return its sha256.

    read_release (official layouts detected from content, reduced to a flat official state dict)
    -> the model's `checkpoint_filter_fn` when it has one (official names -> ours) -> strict load.
    The returned sha256 is that of the file actually loaded, recorded in every result row.
    """

    path = Path(path)
    content = read_release(path, sha256=sha256)
    check_release_fits(model, content)
    converter = getattr(model, "checkpoint_filter_fn", None)
    try:
        state_dict = converter(content.state_dict) if callable(converter) else content.state_dict
    except WeightsError as error:  # converters see tensors, not the file: name it here
        raise WeightsError(f"{path}: {error}") from None
    state_dict = as_state_dict(state_dict, path)
    if strict:
        check_state_dict(model, state_dict, path)
    model.load_state_dict(state_dict, strict=strict)
    return content.source_sha256


def save_safetensors(state_dict: Mapping[str, Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> str:
    """Write contiguous CPU tensors atomically (temporary name, then rename); return the sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    with atomic_path(path) as tmp:
        _save_safetensors(tensors, str(tmp), metadata=metadata or {})
    return sha256_file(path)
