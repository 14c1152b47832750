"""Where the registered families live; imported lazily so `inpaintbench --help` stays fast."""

from __future__ import annotations

import importlib

#: Modules whose import registers models in `inpainter.MODELS`. A new family adds one line.
FAMILY_MODULES: tuple[str, ...] = (
    "inpaintbench.baselines.opencv",
    "inpaintbench.archs.pconv",
    "inpaintbench.archs.deepfill_v1",
    "inpaintbench.systems.deepfill_v1",
    "inpaintbench.archs.lama",
    "inpaintbench.archs.rfr", "inpaintbench.systems.rfr",
)

_loaded = False


def load_families() -> None:
    """Import every family module once (registration happens at import)."""
    global _loaded
    if _loaded:
        return
    for module in FAMILY_MODULES:
        importlib.import_module(module)
    _loaded = True
