"""The one exception family the CLI turns into a single readable line instead of a traceback."""


class InpaintbenchError(Exception):
    """A user-facing problem (bad file, bad config, missing weights); the message says what and where."""
