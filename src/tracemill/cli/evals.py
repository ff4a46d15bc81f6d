"""``tracemill eval …``: run offline evals (this module); compare and gate live in ``cli/gate.py``."""

from __future__ import annotations

import typer

from tracemill.cli import app

eval_app = typer.Typer(help="Offline evals: run a candidate over a dataset version, compare, gate.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
