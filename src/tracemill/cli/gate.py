"""``tracemill eval compare`` and ``tracemill eval gate`` (registered on the ``eval`` group)."""

from tracemill.cli.evals import eval_app  # noqa: F401
