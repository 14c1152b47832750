"""Mask problems a user can fix (bad file, bad parameter); still ValueErrors for callers that expect them."""

from inpaintbench.errors import InpaintbenchError


class MaskError(InpaintbenchError, ValueError):
    """A bad mask file, protocol parameter or mask set; the message names it."""
