"""Find the program in a model response: the first ```python fence, else the first fence of any kind."""

from __future__ import annotations

import re

_PYTHON_FENCE = re.compile(r"```(?:python3|python|py)\b[ \t]*\n?(.*?)```", re.DOTALL | re.IGNORECASE)
_ANY_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)


def extract_code(response: str) -> str | None:
    """The code of the first Python-fenced block, else of the first fenced block; None if there is none.

    A fence must be closed, and a block holding only whitespace counts as no code.
    """
    for pattern in (_PYTHON_FENCE, _ANY_FENCE):
        match = pattern.search(response)
        if match and match.group(1).strip():
            return match.group(1)
    return None


def program_end(response: str) -> int | None:
    """Where the first complete Python-fenced block with code ends (just after its closing fence), or None.

    Once a response holds such a block, :func:`extract_code` returns that block whatever follows it, so
    generation may stop there without changing the program. A first block of another kind (e.g. ```text)
    does not end the program: a later ```python block would take precedence.
    """
    match = _PYTHON_FENCE.search(response)
    return match.end() if match and match.group(1).strip() else None
