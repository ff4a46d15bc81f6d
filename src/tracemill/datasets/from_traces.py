"""Build dataset examples from production traces.

Choices (documented because evals replay them):
- ``inputs`` = ``{"messages": [...]}`` from the first LLM span's input messages (the conversation the agent
  started from); without one, the trace's root input as a single user message.
- ``reference_trajectory`` = the trace's tool calls in order, *only when the trace succeeded* (outcome
  'success', or no outcome, status ok and no failure signal): a failing trace's calls are not a reference.
- ``reference_output`` = the root output of a succeeded trace; None for a failure (unknown until a human
  corrects it, see the feedback policy).
- ``example_id`` = ``ex_`` + 16 hex of sha256(trace id): the same trace always maps to the same example.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import duckdb

from tracemill.datasets.example import Example, ToolCallRef
from tracemill.warehouse import query
from tracemill.warehouse.jsoncol import decode as decode_json


def example_id_for_trace(trace_id: str) -> str:
    return "ex_" + hashlib.sha256(trace_id.encode()).hexdigest()[:16]


def _inputs(messages_json: str | None, root_input: str | None) -> dict[str, Any] | None:
    if messages_json:
        msgs = decode_json(messages_json)
        if isinstance(msgs, list) and msgs:
            return {"messages": msgs}
    if root_input:
        parsed = decode_json(root_input)
        if isinstance(parsed, dict) and isinstance(parsed.get("messages"), list):
            return {"messages": parsed["messages"]}
        return {"messages": [{"role": "user", "content": root_input}]}
    return None


def build_examples(
    con: duckdb.DuckDBPyConnection,
    trace_ids: list[str],
    *,
    failing: set[str] | frozenset[str] = frozenset(),
    clusters: dict[str, tuple[str, str]] | None = None,
    failure_kinds: dict[str, list[str]] | None = None,
    mining_run_id: str | None = None,
    promoted_by: str,
    promoted_at: datetime,
) -> dict[str, Example]:
    """trace id -> Example for each trace that exists and has an input (others are left out).

    ``clusters`` maps trace id -> (cluster_id, cluster name); ``failing`` holds traces with a failure signal.
    """
    if not trace_ids:
        return {}
    clusters = clusters or {}
    failure_kinds = failure_kinds or {}
    ids = list(dict.fromkeys(trace_ids))
    rows = con.execute(query("datasets/trace_examples"), [ids, ids, ids]).fetchall()
    out: dict[str, Example] = {}
    for trace_id, name, root_in, root_out, status, outcome, tags, error, messages, calls in rows:
        inputs = _inputs(messages, root_in)
        if inputs is None:
            continue
        succeeded = outcome == "success" or (outcome is None and status == "ok" and trace_id not in failing)
        if trace_id in failing or trace_id in clusters:
            succeeded = outcome == "success" and trace_id not in failing
        trajectory = None
        if succeeded:
            trajectory = [ToolCallRef(name=c["name"], arguments=c.get("arguments") or {}) for c in decode_json(calls) or []]
        cluster = clusters.get(trace_id)
        metadata: dict[str, Any] = {
            "outcome": "success" if succeeded else "failure",
            "trace_name": name,
            "tags": list(tags or []),
        }
        if cluster:
            metadata["cluster_name"] = cluster[1]
        if failure_kinds.get(trace_id):
            metadata["failure_kinds"] = failure_kinds[trace_id]
        if error and not succeeded:
            metadata["error_message"] = error[:500]
        out[trace_id] = Example(
            example_id=example_id_for_trace(trace_id),
            inputs=inputs,
            reference_output=root_out if succeeded else None,
            reference_trajectory=trajectory,
            metadata=metadata,
            source_trace_id=trace_id,
            cluster_id=cluster[0] if cluster else None,
            mining_run_id=mining_run_id,
            promoted_by=promoted_by,
            promoted_at=promoted_at,
        )
    return out
