"""Errors raised by the environments."""

from __future__ import annotations


class CodeFeedbackError(Exception):
    """Base class of the errors this package raises on bad use."""


class InvalidActionError(CodeFeedbackError, TypeError):
    """`step` got something other than the response text."""


class InvalidOptionsError(CodeFeedbackError, ValueError):
    """`reset` got options it cannot use: not a dict, an unknown key, or a value of the wrong type."""


class UnknownProblemError(CodeFeedbackError, KeyError):
    """`reset` was asked for a problem the dataset does not hold."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0])
