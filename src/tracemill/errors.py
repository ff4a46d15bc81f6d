"""The few exception types tracemill raises. Each carries the bad value and a fix.

``TracemillError`` and its subclasses are user-facing: the CLI prints them without a traceback.
Only ``TransientError`` is ever retried.
"""

from __future__ import annotations

from typing import Any


class TracemillError(Exception):
    """A problem the user can fix. ``problem`` says what is wrong, ``fix`` what to do."""

    exit_code = 2

    def __init__(self, problem: str, *, value: Any = None, fix: str | None = None) -> None:
        self.problem = problem
        self.value = value
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        parts = [self.problem]
        if self.value is not None:
            shown = repr(self.value)
            parts.append(f"  got: {shown[:300]}{'…' if len(shown) > 300 else ''}")
        if self.fix:
            parts.append(f"  fix: {self.fix}")
        return "\n".join(parts)


class ConfigError(TracemillError):
    """Bad settings, spec or parameter."""


class DataError(TracemillError):
    """Bad input data. Never retried: the data was quarantined, rolled back or refused."""


class NotFoundError(TracemillError):
    """A named thing (dataset, version, tag, experiment) does not exist."""


class ConflictError(TracemillError):
    """A concurrent writer got there first; nothing was written by this call."""


class BudgetExceeded(TracemillError):
    """A run stopped cleanly because it reached its cost budget."""


class TransientError(Exception):
    """Network trouble, rate limits, timeouts: safe to retry."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)
