"""LightningModules: the training recipes of each paper, built from an architecture name.

The recipes register in `systems.base.SYSTEMS` when `load_systems()` imports them: every module of
this package, so a new recipe is one new file.
"""

from __future__ import annotations


def load_systems() -> None:
    """Import every recipe module (they pull in Lightning, so only when something trains)."""
    from inpaintbench.registry import import_submodules

    import_submodules(__name__)
