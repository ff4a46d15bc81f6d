"""Test helpers that ship with tracemill: a loopback OpenAI-compatible fake server."""

from __future__ import annotations

from typing import Any

__all__ = ["FakeOpenAI", "LoggedRequest"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m tracemill.testing.fake_openai` does not import the module twice.
    if name in __all__:
        from tracemill.testing import fake_openai

        return getattr(fake_openai, name)
    raise AttributeError(name)
