"""Incremental pulls from tracing platforms' APIs, each page committed with its cursor."""

from tracemill.ingest.pull.langfuse import LangfuseAPI, pull_langfuse

__all__ = ["LangfuseAPI", "pull_langfuse"]
