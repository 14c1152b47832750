"""Where the registered families live; imported lazily so `inpaintbench --help` stays fast.

Architectures (and baselines) register in `inpainter.MODELS`; training recipes register in
`systems.base.SYSTEMS` and are only imported when something trains (they pull in Lightning).
"""

from __future__ import annotations

import importlib

#: Modules whose import registers models in `inpainter.MODELS`. A new family adds one line.
FAMILY_MODULES: tuple[str, ...] = (
    "inpaintbench.baselines.opencv",
    "inpaintbench.archs.pconv",
    "inpaintbench.archs.deepfill_v1",
    "inpaintbench.archs.lama",
    "inpaintbench.archs.rfr",
)

#: Modules whose import registers training systems in `systems.base.SYSTEMS`.
SYSTEM_MODULES: tuple[str, ...] = (
    "inpaintbench.training.systems.reconstruction",
    "inpaintbench.training.systems.deepfill_v1",
    "inpaintbench.training.systems.lama",
    "inpaintbench.training.systems.rfr",
)


def _import_all(modules: tuple[str, ...]) -> None:
    for module in modules:
        importlib.import_module(module)


def load_families() -> None:
    """Import every family module (registration happens at import; Python caches the modules)."""
    _import_all(FAMILY_MODULES)


def load_systems() -> None:
    """Import every training-recipe module."""
    _import_all(SYSTEM_MODULES)
