"""Errors raised on malformed puzzle data.

Example:
    >>> from keras_trm.data.errors import DataFormatError
    >>> e = DataFormatError("expected 81 characters, got 80", file="train.csv", row=3, field="question")
    >>> str(e)
    "train.csv: row 3: field 'question': expected 81 characters, got 80"
"""

from __future__ import annotations

import os

__all__ = ["DataFormatError"]


class DataFormatError(ValueError):
    """Malformed input data; the message names the file, the row or task, the field and the problem.

    Attributes `file`, `row`, `task`, `field` and `problem` keep the parts (None when unknown).
    """

    def __init__(self, problem, *, file=None, row=None, task=None, field=None):
        self.problem = str(problem)
        self.file = os.fspath(file) if file is not None else None
        self.row = row
        self.task = task
        self.field = field
        parts = []
        if self.file is not None:
            parts.append(self.file)
        if row is not None:
            parts.append(f"row {row}")
        if task is not None:
            parts.append(f"task {task!r}")
        if field is not None:
            parts.append(f"field {field!r}")
        parts.append(self.problem)
        super().__init__(": ".join(parts))

    def __reduce__(self):  # picklable across processes
        return (_rebuild, (self.problem, self.file, self.row, self.task, self.field))


def _rebuild(problem, file, row, task, field):
    return DataFormatError(problem, file=file, row=row, task=task, field=field)
