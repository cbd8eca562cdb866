"""Gymnasium spaces for text that may be any program or message."""

from __future__ import annotations

import string
from typing import Any

from gymnasium import spaces


class UnicodeText(spaces.Text):
    """A `Text` space holding every string within its length bounds, whatever its characters.

    `spaces.Text` only holds strings over its charset (letters and digits by default), so program
    text with spaces, newlines, quotes or non-ASCII characters would fall outside it. Samples are
    drawn from printable ASCII; membership accepts any `str`.
    """

    def __init__(self, max_length: int, *, min_length: int = 0, seed: Any = None) -> None:
        super().__init__(max_length, min_length=min_length, charset=string.printable, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"
