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


class RemoteEnvError(CodeFeedbackError, RuntimeError):
    """The environment server refused a request (see the message for why and what to do)."""


class ServerBusyError(RemoteEnvError):
    """The environment server holds its maximum of sessions; `retry_after` is the seconds it suggests waiting."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SessionExpiredError(RemoteEnvError):
    """The environment server closed this environment's session mid-episode (idle too long, or closed)."""
