"""The data config error, shared by the dataset and the transforms (the CLI prints it as one line)."""

from inpaintbench.errors import InpaintbenchError


class DatasetConfigError(InpaintbenchError, ValueError):
    """A data config that points nowhere usable (missing root, empty folder, bad list file, unknown policy)."""
