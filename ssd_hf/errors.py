"""The one exception type users see: a single line that says what is wrong and how to fix it."""


class SSDError(Exception):
    """An error caused by user input or environment, shown by the CLI as one line without a traceback."""


def first_line(error: BaseException) -> str:
    """An exception as one line for a user message: its first line, or its type when it says nothing."""
    return str(error).splitlines()[0] if str(error).strip() else type(error).__name__
