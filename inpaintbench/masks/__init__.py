"""Seeded mask generators, evaluation protocols, fixed mask sets with manifests, ratio bins."""
