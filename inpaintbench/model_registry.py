"""The model registry: every inpainter's name, its factory, and the facts the code reads about it.

A family file (`archs/<family>.py`, `baselines/<name>.py`) registers its variants with
`@register_model(name, family=..., paper=..., learned=..., size_multiple=...)`; the metadata is a
typed `ModelInfo`, so a misspelt field fails at import. Code that needs to know whether a model is
learned, or which multiple its wrapper pads to, asks here (`is_learned`, `model_info`) instead of
looking at the object. Families are found by listing the two packages (`load_families`): adding a
family is adding its file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from inpaintbench.registry import Registry, import_submodules

F = TypeVar("F", bound=Callable[..., Any])

#: packages whose modules register models when imported
FAMILY_PACKAGES: tuple[str, ...] = ("inpaintbench.baselines", "inpaintbench.archs")

#: model name -> factory(**args) returning an Inpainter (learned models return an nn.Module).
MODELS: Registry[Callable[..., Any]] = Registry("model", populate="inpaintbench.model_registry:load_families")


@dataclass(frozen=True)
class ModelInfo:
    """What a registered variant declares; the contract test checks each field against the model."""

    family: str  # the family file's name: archs/<family>.py (baselines: "baseline")
    paper: str
    learned: bool = True  # an nn.Module with weights (efficiency, weight loading, weights sha256 in rows)
    size_multiple: int = 1  # H and W are padded up to a multiple of this inside the wrapper
    params: int | None = None  # parameter count of this configuration, when pinned to a published number
    size: int | None = None  # native training resolution, when the variant names one


def register_model(name: str, **info: Any) -> Callable[[F], F]:
    """Decorator: register a factory under `name` with its `ModelInfo` fields."""
    return MODELS.register(name, **asdict(ModelInfo(**info)))


def load_families() -> None:
    """Import every family module (registration happens at import; Python caches the modules)."""
    for package in FAMILY_PACKAGES:
        import_submodules(package)


def model_info(name: str) -> ModelInfo:
    """The registered facts about `name` (raises with did-you-mean suggestions when unknown)."""
    return ModelInfo(**MODELS.entry(name).meta)


def is_learned(model: Any) -> bool:
    """Whether a model (or a model name) has learned weights, from its registration.

    An inpainter built by `create_model` carries its registry name (`model_name`); one built some
    other way (a user's own object, a test stand-in) is learned when it is an nn.Module.
    """
    name = model if isinstance(model, str) else getattr(model, "model_name", None)
    if isinstance(name, str) and name in MODELS:
        return model_info(name).learned
    if isinstance(model, str):
        MODELS.entry(model)  # raises: unknown model name
    from torch import nn

    return isinstance(model, nn.Module)
