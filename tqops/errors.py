"""The one error tree of tqops.

Every error a user can cause or meet is an :class:`OperationError`; each also subclasses the
builtin it resembles, so callers that only know the builtins still catch it. Messages are one
sentence: what, where (``@ $.config.hostname`` or the URL path without its query), what was
expected and what was got. They never carry a secret.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "ApiError",
    "AuthenticationError",
    "ConfigError",
    "InputError",
    "ManifestError",
    "OperationError",
    "PathSyntaxError",
    "PolicySkip",
    "TransportError",
]


class OperationError(Exception):
    """Base of every error tqops reports to a user (never a bug)."""

    #: the CLI's exit code when this error ends a command
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class _ProblemList(OperationError):
    """An error that lists every problem found (each located), not just the first."""

    exit_code = 2

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        self.problems = tuple(problems) or (message,)
        if problems:
            message = f"{message}: " + "; ".join(problems)
        super().__init__(message)


class ManifestError(_ProblemList, ValueError):
    """A manifest (or an operation's code against it) is broken; ``problems`` lists them all."""


class ConfigError(_ProblemList, ValueError):
    """A configuration value (or a CLI usage) is wrong; nothing was sent."""


class InputError(OperationError, ValueError):
    """A selected indicator or an action option is not acceptable; nothing was sent for it.

    In a run, a bad indicator becomes that indicator's error result; an InputError that ends
    a command (bad options) is a usage error.
    """

    exit_code = 2


class PolicySkip(InputError):
    """Policy keeps this input from the vendor: a type the action does not take, a TLP above
    the operation's maximum, a private address, a value the vendor cannot look up.

    Raised by an operation's code (or the runtime) before anything is sent; a run reports the
    input as ``skipped`` with the message as its one-line ``reason``, not as an ``error``. A
    malformed value (a typo) is an :class:`InputError`, not a skip. It subclasses InputError so
    callers that catch that still catch it.
    """


class PathSyntaxError(ManifestError):
    """A feed path does not parse; the message shows the column with a caret."""

    def __init__(self, message: str, path: str = "", column: int = 0) -> None:
        self.path = path
        self.column = column
        if path:
            message = f"{message} at column {column + 1} of feed path {path!r}"
        super().__init__(message)

    @property
    def caret(self) -> str:
        """The path with a caret under the failing column (two lines, for humans)."""
        return f"{self.path}\n{' ' * self.column}^"


class ApiError(OperationError, RuntimeError):
    """The vendor answered with an error status or an unusable body."""

    def __init__(
        self,
        message: str,
        status: Optional[int] = None,
        retriable: bool = False,
        tries: int = 1,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retriable = retriable
        self.tries = tries


class AuthenticationError(ApiError, PermissionError):
    """The vendor refused the credential (401/403)."""

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message, status=status, retriable=False)


class TransportError(OperationError, ConnectionError):
    """The call never got an HTTP answer: TLS, proxy, timeout or connection failure."""

    def __init__(self, message: str, cause: str = "connection", tries: int = 1) -> None:
        super().__init__(message)
        #: one of tls, proxy, timeout, dns, connection
        self.cause = cause
        self.tries = tries
