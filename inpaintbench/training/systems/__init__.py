"""LightningModules: the training recipes of each paper, built from an architecture name.

The recipes register in `systems.base.SYSTEMS` when `catalog.load_systems()` imports them.
"""
