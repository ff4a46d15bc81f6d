"""The replay target: the outputs recorded in the examples' source traces (no calls).

This is the production baseline: the answer, tool calls, latency, tokens and cost that were
recorded when the trace was ingested.
"""

from __future__ import annotations


import duckdb

from tracemill.datasets.example import Example
from tracemill.evals.targets.base import RecordedTrace, TargetOutput, TraceLookup
from tracemill.warehouse import query
from tracemill.warehouse.jsoncol import decode as decode_json


class WarehouseTraces:
    """Recorded traces and their tool calls, loaded once for a set of trace ids."""

    def __init__(self, con: duckdb.DuckDBPyConnection, trace_ids: list[str]) -> None:
        self._traces: dict[str, RecordedTrace] = {}
        ids = sorted({t for t in trace_ids if t})
        if not ids:
            return
        for row in con.execute(query("evals/recorded_traces"), [ids]).fetchall():
            tid, output, latency, tin, tout, cost, status, err = row
            self._traces[tid] = RecordedTrace(trace_id=tid, output=output, latency_ms=latency, input_tokens=tin,
                                              output_tokens=tout, cost_usd=cost, status=status, error_message=err)
        for tid, name, arguments, result, status in con.execute(query("evals/recorded_tool_calls"), [ids]).fetchall():
            if tid in self._traces:
                self._traces[tid].tool_calls.append(
                    {"name": name, "arguments": decode_json(arguments) or {}, "result": result, "status": status}
                )

    def get(self, trace_id: str) -> RecordedTrace | None:
        return self._traces.get(trace_id)


class DictTraces:
    """An in-memory TraceLookup (tests, or traces from elsewhere)."""

    def __init__(self, traces: dict[str, RecordedTrace]) -> None:
        self._traces = traces

    def get(self, trace_id: str) -> RecordedTrace | None:
        return self._traces.get(trace_id)


class ReplayTarget:
    kind = "replay"
    cacheable = False
    uses_traces = True

    def __init__(self, traces: TraceLookup | None) -> None:
        self.traces = traces

    async def __call__(self, example: Example) -> TargetOutput:
        if not example.source_trace_id:
            raise LookupError(f"example {example.example_id} has no source trace to replay")
        trace = self.traces.get(example.source_trace_id) if self.traces else None
        if trace is None:
            raise LookupError(f"source trace {example.source_trace_id} of example {example.example_id} is not in the warehouse")
        output = decode_json(trace.output)
        trajectory = [{"name": c["name"], "arguments": c["arguments"], "result": c["result"]} for c in trace.tool_calls]
        return TargetOutput(output=output, trajectory=trajectory, input_tokens=trace.input_tokens,
                            output_tokens=trace.output_tokens, cost_usd=trace.cost_usd, latency_ms=trace.latency_ms)

    async def aclose(self) -> None:
        return None
