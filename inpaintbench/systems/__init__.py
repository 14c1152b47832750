"""LightningModules: the training recipes of each paper, built from an architecture name."""

from inpaintbench.systems import lama as _lama  # noqa: F401  (registers SYSTEMS "lama")
