"""The one error type segmint raises for bad input, and its wording.

Every message names the thing that is wrong (usually a file), the problem, and the fix, on one
line, so the CLI can print ``error: <message>`` and exit with code 2.
"""

from __future__ import annotations

__all__ = ["SegmintError"]


class SegmintError(Exception):
    """Bad input or a bad option: the message says what is wrong and how to fix it.

    Parameters
    ----------
    message : str
        One line naming the problem and, where there is one, the fix.
    """

    exit_code: int = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
