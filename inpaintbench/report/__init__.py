"""Leaderboards: tidy CSV and Markdown tables with a provenance header."""
