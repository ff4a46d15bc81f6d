"""The ``tracemill`` command line. Each command group lives in its own module here."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from tracemill.errors import TracemillError

app = typer.Typer(
    name="tracemill",
    help="Traces -> failure clusters -> datasets -> evals -> release gates, on a DuckLake warehouse.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)

# Command modules register themselves on `app` when imported.
from tracemill.cli import sql as _sql  # noqa: E402,F401
from tracemill.cli import ingest as _ingest  # noqa: E402,F401
from tracemill.cli import mine as _mine  # noqa: E402,F401
from tracemill.cli import datasets as _datasets  # noqa: E402,F401
from tracemill.cli import evals as _evals  # noqa: E402,F401
from tracemill.cli import gate as _gate  # noqa: E402,F401
from tracemill.cli import demo as _demo  # noqa: E402,F401


def main() -> None:
    """Console-script entry point: user errors print without a traceback and exit 2."""
    try:
        app(standalone_mode=False)
    except TracemillError as exc:
        err_console.print(f"[bold red]error:[/] {exc.render()}", highlight=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
