"""Errors raised while loading datasets."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset file or row is malformed; the message names the file, the row and the field."""

    def __init__(self, source: str, row: int | None, field: str | None, problem: str) -> None:
        where = source if row is None else f"{source}, row {row}"
        if field:
            where += f", field {field!r}"
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.row = row
        self.field = field
