"""Ingestion: parse traces from real formats into the warehouse, incrementally and idempotently."""

from tracemill.ingest.loader import LoadSummary, ingest_items, ingest_paths, last_cursor, open_load
from tracemill.ingest.records import Feedback, Rejected, Span, ToolCall

__all__ = [
    "Feedback",
    "LoadSummary",
    "Rejected",
    "Span",
    "ToolCall",
    "ingest_items",
    "ingest_paths",
    "last_cursor",
    "open_load",
]
