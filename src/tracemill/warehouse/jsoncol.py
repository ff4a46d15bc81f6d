"""Decode JSON columns: DuckDB returns a JSON value to Python as its text."""

from __future__ import annotations

from typing import Any

import orjson


def decode(value: Any) -> Any:
    """The parsed JSON of a JSON column's text; text that is not JSON, and non-strings, unchanged."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value
