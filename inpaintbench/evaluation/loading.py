"""Build an inpainter once: create it by name, read its weights, switch to eval mode, move it.

Shared by `evaluate`, `inpaint`, `weights convert` and `regress`, so "create, load weights, eval,
move to device" has one home and one set of error messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from inpaintbench.errors import InpaintbenchError
from inpaintbench.inpainter import Inpainter
from inpaintbench.model_registry import is_learned


def load_inpainter(
    name: str,
    args: Mapping[str, Any] | None = None,
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    *,
    check: Callable[[bool], None] | None = None,
) -> tuple[Inpainter, str | None]:
    """`create_model(name, **args)`, then `check(learned)` (the caller's weights policy, before any
    file is read), then the weights (strict; their sha256 is returned, None without weights), then
    eval mode on `device`. A non-learned inpainter given weights is refused in one line."""
    from inpaintbench.inpainter import create_model
    from inpaintbench.weights import load_weights

    model = create_model(name, **dict(args or {}))
    learned = is_learned(model)
    if check is not None:
        check(learned)
    if weights is not None and not learned:
        raise InpaintbenchError(f"model '{name}' is not learned and takes no weights ({weights})")
    weights_sha256 = load_weights(model, weights) if weights is not None else None
    if learned:
        model = model.eval().to(device)
    return model, weights_sha256
