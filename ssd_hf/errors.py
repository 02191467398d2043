"""The one exception type users see: a single line that says what is wrong and how to fix it."""


class SSDError(Exception):
    """An error caused by user input or environment, shown by the CLI as one line without a traceback."""
