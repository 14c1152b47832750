"""The file-I/O floor: hashing, the one atomic writer, CSV text, weight-container detection.

Imports nothing from inpaintbench but `errors`, so every layer above may use it.
"""
