"""CLI commands: evals (filled in by its stage)."""

from tracemill.cli import app  # noqa: F401
