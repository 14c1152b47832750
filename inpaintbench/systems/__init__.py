"""LightningModules: the training recipes of each paper, built from an architecture name."""
