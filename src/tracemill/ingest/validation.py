"""Great Expectations suite every ingest batch must pass before it is written.

We validate the batch as a pandas DataFrame (GX's SQL datasource on DuckDB fails silently) and
check ``success`` ourselves. A failing batch is quarantined whole by the loader.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pyarrow as pa

from tracemill.ingest.records import SPAN_KINDS, STATUS_CODES


@dataclass(frozen=True)
class ValidationOutcome:
    success: bool
    failed: tuple[str, ...]           # "expectation_type(column): N unexpected, e.g. [...]"
    result: dict[str, Any]            # the GX result, JSON-able, stored with quarantined rows (on failure)


@lru_cache(maxsize=1)
def _suite() -> tuple[Any, Any]:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    import great_expectations.expectations as gxe

    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch_def = (
        ctx.data_sources.add_pandas("tracemill")
        .add_dataframe_asset("span_batch")
        .add_batch_definition_whole_dataframe("batch")
    )
    suite = ctx.suites.add(gx.ExpectationSuite(name="spans_batch"))
    for col in ("trace_id", "span_id", "source", "load_id"):
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=col))
    suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=["trace_id", "span_id"]))
    suite.add_expectation(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="end_ns", column_B="start_ns", or_equal=True, ignore_row_if="either_value_is_missing"
        )
    )
    for col in ("input_tokens", "output_tokens", "total_tokens", "cost_usd"):
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=0))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=sorted(SPAN_KINDS)))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="status_code", value_set=sorted(STATUS_CODES)))
    # A span's parent must be in its trace, or the span must be flagged as an orphan.
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="parent_ok", value_set=[True]))
    return batch_def, suite


def validate_spans(batch: pa.Table) -> ValidationOutcome:
    """Run the suite on the batch's checked columns (``parent_ok`` must be precomputed)."""
    batch_def, suite = _suite()
    cols = [
        "trace_id", "span_id", "source", "load_id", "end_ns", "start_ns", "input_tokens",
        "output_tokens", "total_tokens", "cost_usd", "kind", "status_code", "parent_ok",
    ]
    df = _frame(batch.select(cols))
    res = batch_def.get_batch(batch_parameters={"dataframe": df}).validate(suite)
    failed = []
    for r in res.results:
        if not r.success:
            cfg = r.expectation_config
            column = cfg.kwargs.get("column") or cfg.kwargs.get("column_list") or (
                f"{cfg.kwargs.get('column_A')},{cfg.kwargs.get('column_B')}"
            )
            n = r.result.get("unexpected_count")
            sample = [str(x) for x in (r.result.get("partial_unexpected_list") or [])[:3]]
            failed.append(f"{cfg.type}({column}): {n} unexpected, e.g. {sample}")
    # The full result is only kept with quarantined rows; serialising it costs ~0.1 s a batch.
    result = {"success": True} if res.success else res.to_json_dict()
    return ValidationOutcome(bool(res.success), tuple(failed), result)


def prepare() -> None:
    """Import GX and build the suite now (seconds), e.g. while worker processes start parsing."""
    _suite()


# Columns GX checks with a range: as plain float64 (NaN = null) GX compares them vectorised; as
# pandas' nullable Int64 it calls a Python function per value (~4 us each).
_RANGE_COLUMNS = frozenset({"input_tokens", "output_tokens", "total_tokens", "cost_usd"})


def _frame(batch: pa.Table) -> Any:
    """The batch as pandas with the least conversion that keeps every check exact.

    Token counts become float64 (exact below 2**53; only their sign is checked). Epoch-ns times
    stay nullable Int64, since float64 would round them to 256 ns and could hide end < start.
    """
    import pandas as pd

    cols = {}
    for name in batch.column_names:
        col = batch.column(name)
        if name in _RANGE_COLUMNS:
            cols[name] = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
        elif pa.types.is_integer(col.type):
            cols[name] = col.to_pandas(types_mapper=lambda t: pd.Int64Dtype())
        else:
            cols[name] = col.to_pandas()
    return pd.DataFrame(cols)
