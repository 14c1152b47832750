"""LightningModules: the training recipes of each paper, built from an architecture name."""

from inpaintbench.systems import reconstruction  # noqa: F401  (registers the "pconv" reconstruction system)
