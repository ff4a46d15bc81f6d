"""What the demo steps share: a console to print to, settings, a working folder and a state dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from tracemill.settings import Settings


@dataclass
class DemoContext:
    """Passed to each demo step's ``run(ctx)``; steps read earlier outputs from ``state``."""

    console: Console
    settings: Settings
    workdir: Path
    state: dict[str, Any] = field(default_factory=dict)
