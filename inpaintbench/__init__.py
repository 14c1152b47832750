"""inpaintbench: a reproducible benchmark suite for image inpainting.

Public API (DESIGN.md): `create_model`, `list_models`, `load_weights`, `evaluate`.
"""

from __future__ import annotations

from typing import Any

from inpaintbench.inpainter import Inpainter, create_model, list_models
from inpaintbench.weights import load_weights

__all__ = ["Inpainter", "create_model", "evaluate", "list_models", "load_weights"]
__version__ = "0.1.0"


def evaluate(cfg: Any) -> Any:
    """Run the metric runner on a composed config; see `inpaintbench.evaluation.evaluate.evaluate`."""
    from inpaintbench.evaluation.evaluate import evaluate as _evaluate

    return _evaluate(cfg)
