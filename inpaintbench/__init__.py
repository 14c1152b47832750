"""inpaintbench: a reproducible benchmark suite for image inpainting.

Public API (DESIGN.md): `create_model`, `list_models`, `load_weights`, `evaluate`.
"""

from __future__ import annotations

from typing import Any

from inpaintbench.inpainter import MODELS, Inpainter
from inpaintbench.weights import load_weights

__all__ = ["Inpainter", "create_model", "evaluate", "list_models", "load_weights"]
__version__ = "0.1.0"


def create_model(name: str, **args: Any) -> Inpainter:
    """Build a registered inpainter by name (`pconv_unet`, `lama_big`, `opencv_telea`, ...).

    The name is recorded as `model.model_name`: several names share one class (lama_big and
    lama_fourier are both `LamaInpainter`), and the release reader needs to know which one this is.
    """
    model = MODELS.get(name)(**args)
    model.model_name = name
    return model


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a glob pattern, sorted."""
    return MODELS.names(pattern)


def evaluate(cfg: Any) -> Any:
    """Run the metric runner on a composed config; see `inpaintbench.tasks.evaluate`."""
    from inpaintbench.tasks import evaluate as _evaluate

    return _evaluate(cfg)
