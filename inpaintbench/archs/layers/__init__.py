"""Blocks shared by families: partial convolution, contextual attention, FFC, CPU micro-batches."""
