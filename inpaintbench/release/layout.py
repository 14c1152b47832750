"""Release layouts: how an official file is organised, recognised from its content alone.

A layout knows three things about a raw object read from a release (the unpickled dict, the
TensorFlow variables, the safetensors tensors): whether it `matches` (top-level keys, key prefixes,
shapes; never the file name), how to `extract` the flat official-layout state dict the model's
`checkpoint_filter_fn` takes (the keys of reference/*_keys.tsv), and which models it feeds.
Everything else in the file (optimizer state, evaluator networks, hyper-parameters) is dropped.

This module holds the machinery and the two generic layouts (our own training checkpoints, a flat
state dict). Each family's official layouts live in its file, `archs/<family>.py`, and register
here when the families load (the registry loads them at its first lookup).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from inpaintbench.registry import Registry
from inpaintbench.release.safe_pickle import foreign_name


@dataclass(frozen=True)
class ReleaseLayout:
    """One known way a release organises its weights."""

    name: str
    description: str
    models: tuple[str, ...]  # registry names it feeds; () = whatever the file says / any model
    matches: Callable[[Any], bool]
    extract: Callable[[Any], dict[str, Tensor]]
    describe: Callable[[Any], dict[str, Any]] = field(default=lambda raw: {})
    fallback: bool = False  # generic layouts lose to any specific one


#: layout name -> ReleaseLayout. Detection tries every layout; a specific match beats a fallback.
LAYOUTS: Registry[ReleaseLayout] = Registry("release layout", populate="inpaintbench.model_registry:load_families")


def register(layout: ReleaseLayout) -> ReleaseLayout:
    LAYOUTS.register(layout.name)(layout)
    return layout


# --- helpers ------------------------------------------------------------------------------------


class TFVariables(dict):
    """Variables read from a TensorFlow checkpoint ({name: ndarray}); a type of its own so that
    pickled layouts never mistake a plain dict for one."""


def is_flat_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items())
    )


def state_keys(obj: Any) -> list[str]:
    return [k for k in obj if isinstance(k, str)] if isinstance(obj, Mapping) else []


def flat_tensors(obj: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """A plain dict (drops an OrderedDict's `_metadata`), tensors only."""
    return {k: v for k, v in obj.items() if isinstance(v, Tensor)}


def prefix_counts(keys: list[str]) -> dict[str, int]:
    return dict(Counter(k.split(".", 1)[0] for k in keys))


def foreign_objects(obj: Any, depth: int = 0) -> set[str]:
    """Names of the inert placeholder objects found near the top of a raw checkpoint."""
    found: set[str] = set()
    name = foreign_name(obj)
    if name:
        found.add(name)
    if depth < 3 and isinstance(obj, Mapping) and not is_flat_state_dict(obj):
        for key, value in obj.items():
            found |= foreign_objects(key, depth + 1) | foreign_objects(value, depth + 1)
    return found


def omegaconf_plain(obj: Any, depth: int = 0) -> Any:
    """An inert OmegaConf DictConfig / ListConfig / value node as plain dicts, lists and values.

    OmegaConf 2.x pickles a container as `{'_content': {key: node}}` (a list for ListConfig) and a
    value node as `{'_val': value}`; the placeholders keep that state, so the card can show the
    release's training config without importing omegaconf. Anything else is shown by its name.
    """
    state = getattr(obj, "state", None) if foreign_name(obj) else None
    if isinstance(state, Mapping) and depth < 16:
        if "_content" in state:
            content = state["_content"]
            if isinstance(content, Mapping):
                return {str(k): omegaconf_plain(v, depth + 1) for k, v in content.items()}
            if isinstance(content, list):
                return [omegaconf_plain(v, depth + 1) for v in content]
            return content if content is None or isinstance(content, str) else repr(content)  # "???", ${..}
        if "_val" in state:
            return omegaconf_plain(state["_val"], depth + 1)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return foreign_name(obj) or repr(obj)


def describe_found(raw: Any) -> str:
    """What a raw object looks like, for the 'nothing matches' message."""
    if isinstance(raw, Mapping):
        keys = [str(k) for k in raw]
        text = f"top-level keys {keys[:8]}" + (f" (+{len(keys) - 8} more)" if len(keys) > 8 else "")
        for inner_name in ("state_dict", "model", "generator", "netG"):
            inner = raw.get(inner_name)
            if isinstance(inner, Mapping):
                text += f"; '{inner_name}' starts with {[str(k) for k in list(inner)[:4]]}"
        return text
    return f"a {type(raw).__name__}"


# --- ours ---------------------------------------------------------------------------------------


def _ours_lightning_matches(raw: Any) -> bool:
    return (
        isinstance(raw, Mapping)
        and isinstance(raw.get("state_dict"), Mapping)
        and isinstance(raw.get("hyper_parameters"), Mapping)
        and "arch" in raw["hyper_parameters"]
    )


register(
    ReleaseLayout(
        name="inpaintbench_lightning",
        description="inpaintbench training checkpoint (Lightning .ckpt; hyper_parameters name the arch): "
        "'generator.*' kept, in our layout",
        models=(),
        matches=_ours_lightning_matches,
        extract=lambda raw: {
            k.removeprefix("generator."): v
            for k, v in flat_tensors(raw["state_dict"]).items()
            if k.startswith("generator.")
        },
        describe=lambda raw: {"models": (str(raw["hyper_parameters"]["arch"]),), "epoch": raw.get("epoch")},
    )
)

register(
    ReleaseLayout(
        name="state_dict",
        description="a flat {name: tensor} state dict (.safetensors or torch file; ours or official names)",
        models=(),
        matches=is_flat_state_dict,
        extract=flat_tensors,
        fallback=True,
    )
)


def detect_layout(raw: Any) -> ReleaseLayout | None:
    """The one layout matching `raw` (specific layouts beat fallbacks); None when nothing matches."""
    matching = [LAYOUTS.get(name) for name in LAYOUTS.names() if LAYOUTS.get(name).matches(raw)]
    specific = [layout for layout in matching if not layout.fallback]
    if len(specific) > 1:
        raise ValueError("several release layouts match: " + ", ".join(layout.name for layout in specific))
    return (specific or matching or [None])[0]


def known_layouts_text() -> str:
    return "; ".join(f"{name} ({LAYOUTS.get(name).description.split(':')[0]})" for name in LAYOUTS.names())
