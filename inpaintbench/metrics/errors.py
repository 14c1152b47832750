"""The error a bad metric profile (conf/metrics/*.yaml or a metrics.* override) raises."""

from inpaintbench.errors import InpaintbenchError


class MetricConfigError(InpaintbenchError, ValueError):
    """A metric setting this code does not implement or cannot accept; the message names the key."""
