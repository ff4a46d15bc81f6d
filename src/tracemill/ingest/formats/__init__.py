"""Input formats: each module registers a ``Format`` that sniffs and parses one kind of input.

A parser gets a ``Source`` (a file's path and a way to open it) and ``FormatOptions`` and yields
records (``tracemill.ingest.records``). It never raises on bad records: it yields ``Rejected`` with
the reason and the raw text, and goes on. It raises ``DataError`` only when a whole file is
unusable (e.g. not the format at all), naming what it saw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from tracemill.errors import DataError
from tracemill.ingest.records import Item


@dataclass(frozen=True)
class Source:
    """One input file or object. ``open()`` returns a binary stream; ``head`` is its first bytes."""

    path: str
    opener: Callable[[], IO[bytes]]
    head: bytes = b""
    size: int | None = None

    def open(self) -> IO[bytes]:
        return self.opener()


@dataclass(frozen=True)
class FormatOptions:
    """Per-run parse options: a field mapping for chat trajectories, size limits, defaults."""

    mapping: dict[str, str] = field(default_factory=dict)   # e.g. {"id": "task_id", "messages": "traj", "outcome": "reward"}
    max_record_bytes: int = 8 * 1024 * 1024
    source_name: str | None = None                          # e.g. "toolbench"; recorded as metadata
    # Spans may come back frozen (JSON fields as text) from the native fast path (ingest/native.py).
    # Only the loader asks for it: it freezes every span anyway, and callers of parse() get parsed values.
    native: bool = False


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    sniff: Callable[[Source], bool]          # cheap check on Source.head / path
    parse: Callable[[Source, FormatOptions], Iterator[Item]]
    priority: int = 100                      # lower sniffs first


REGISTRY: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    REGISTRY[fmt.name] = fmt
    return fmt


def _load_builtin() -> None:
    # Import for the side effect of registering. Each module registers one or more formats.
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


def get(name: str) -> Format:
    _load_builtin()
    try:
        return REGISTRY[name]
    except KeyError:
        raise DataError(
            "unknown input format", value=name, fix=f"use --format auto or one of: {', '.join(sorted(REGISTRY))}"
        ) from None


def detect(source: Source) -> Format:
    """The first registered format whose sniff accepts the source; a clear error if none does."""
    _load_builtin()
    for fmt in sorted(REGISTRY.values(), key=lambda f: f.priority):
        if fmt.sniff(source):
            return fmt
    shown = source.head[:200].decode("utf-8", "replace")
    raise DataError(
        f"cannot tell the format of {source.path}",
        value=shown,
        fix=f"pass --format with one of: {', '.join(sorted(REGISTRY))} (and --map for chat trajectories)",
    )


def all_formats() -> list[Format]:
    _load_builtin()
    return sorted(REGISTRY.values(), key=lambda f: f.priority)
