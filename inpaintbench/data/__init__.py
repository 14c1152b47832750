"""Datasets over image folders and list files, transforms, the training datamodule, sample set."""
