"""The error a weight file raises: one line naming the file and the problem."""

from __future__ import annotations

from inpaintbench.errors import InpaintbenchError


class WeightsError(InpaintbenchError):
    """A weight file that cannot be used; the message names the file and the problem in one line."""
