"""Great Expectations suite every ingest batch must pass before it is written.

We validate the batch as a pandas DataFrame (GX's SQL datasource on DuckDB fails silently) and
check ``success`` ourselves. A failing batch is quarantined whole by the loader.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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


# The columns the suite checks, in the order they are handed to GX.
_COLUMNS = (
    "trace_id", "span_id", "source", "load_id", "end_ns", "start_ns", "input_tokens",
    "output_tokens", "total_tokens", "cost_usd", "kind", "status_code", "parent_ok",
)


def validate_spans(batch: pa.Table) -> ValidationOutcome:
    """Run the suite on the batch's checked columns (``parent_ok`` must be precomputed).

    The suite runs first on a cheap stand-in frame (:func:`_fast_frame`: ids as dictionary codes,
    labels as categoricals, ...) that passes exactly when the real values would, and with GX's
    ``BOOLEAN_ONLY`` result format. Only a batch that fails there is validated again on its real
    values, whose result (the default ``SUMMARY`` format, with real unexpected values) decides and
    is reported.
    """
    batch_def, suite = _suite()
    batch = batch.select(list(_COLUMNS))
    try:
        fast = _fast_frame(batch)
    except (pa.ArrowException, ValueError, TypeError):  # an unforeseen column type: use the real frame
        fast = None
    if fast is not None:
        with _fast_pass():
            res = batch_def.get_batch(batch_parameters={"dataframe": fast}).validate(
                suite, result_format="BOOLEAN_ONLY"
            )
        if res.success:
            return ValidationOutcome(True, (), {"success": True})
    res = batch_def.get_batch(batch_parameters={"dataframe": _frame(batch)}).validate(suite)
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


_fast_lock = threading.Lock()


@contextmanager
def _fast_pass() -> Iterator[None]:
    """GX settings for the stand-in pass only (the real-valued re-run of a failing batch runs plain GX):

    - no batch fingerprint: GX takes an md5 of ``hash_pandas_object`` over every row (~0.3 us a row)
      for any pandas batch under ``HASH_THRESHOLD`` bytes, kept only in the result's batch markers;
      the stand-in frame's fingerprint means nothing.
    - each expectation's ``configuration`` built once: GX 1.x rebuilds it (a pydantic ``dict()`` and a
      regex) on every read, about 100 reads per expectation and validation, which is half of a
      validation's fixed cost (~0.13 s a batch). The suite does not change during a validation, and
      GX only reads the object. The cache holds each expectation, so an id is never reused.
      Both are process-wide while the pass runs (GX has no per-call switch): other GX use in this
      process in those moments also gets no fingerprint, and configurations equal to rebuilt ones.
    """
    from great_expectations.execution_engine import pandas_execution_engine as engine
    from great_expectations.expectations.expectation import Expectation

    with _fast_lock:
        saved_threshold = getattr(engine, "HASH_THRESHOLD", None)
        prop = Expectation.__dict__.get("configuration")
        cache: dict[int, tuple[Any, Any]] = {}

        def cached(self: Any) -> Any:
            hit = cache.get(id(self))
            if hit is None:
                hit = cache[id(self)] = (self, prop.fget(self))  # type: ignore[union-attr]
            return hit[1]

        if saved_threshold is not None:
            engine.HASH_THRESHOLD = 0
        if isinstance(prop, property):
            Expectation.configuration = property(cached)  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            if isinstance(prop, property):
                Expectation.configuration = prop  # type: ignore[method-assign]
            if saved_threshold is not None:
                engine.HASH_THRESHOLD = saved_threshold


def prepare() -> None:
    """Import GX and build the suite now (seconds), e.g. while worker processes start parsing."""
    _suite()


# Columns GX checks with a range: as plain float64 (NaN = null) GX compares them vectorised; as
# pandas' nullable Int64 it calls a Python function per value (~4 us each).
_RANGE_COLUMNS = frozenset({"input_tokens", "output_tokens", "total_tokens", "cost_usd"})
# Checked only for nulls and set membership: exact as categoricals (their values are the real ones).
_LABEL_COLUMNS = frozenset({"source", "load_id", "kind", "status_code"})
# Checked only for nulls and (trace_id, span_id) uniqueness: exact as dictionary codes.
_ID_COLUMNS = frozenset({"trace_id", "span_id"})
_TIME_COLUMNS = ("end_ns", "start_ns")


def _range_array(col: pa.ChunkedArray) -> Any:
    # Only the sign is checked; an unsafe cast keeps it (int64 beyond 2**53 rounds, never flips).
    return col.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)


def _frame(batch: pa.Table) -> Any:
    """The batch as pandas with the least conversion that keeps every value shown in a report real.

    Token counts become float64 (exact below 2**53; only their sign is checked). Epoch-ns times
    stay nullable Int64, since float64 would round them to 256 ns and could hide end < start.
    """
    import pandas as pd

    cols = {}
    for name in batch.column_names:
        col = batch.column(name)
        if name in _RANGE_COLUMNS:
            cols[name] = _range_array(col)
        elif pa.types.is_integer(col.type):
            cols[name] = col.to_pandas(types_mapper=lambda t: pd.Int64Dtype())
        else:
            cols[name] = col.to_pandas()
    return pd.DataFrame(cols)


def _is_text(t: pa.DataType) -> bool:
    return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
            or pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t))


def _dictionary(col: pa.ChunkedArray) -> pa.DictionaryArray | None:
    """One dictionary for the whole column (a bijection of its values; nulls stay null), or None."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if not _is_text(col.type):
        return None
    return col.combine_chunks().dictionary_encode()


def _fast_frame(batch: pa.Table) -> Any:
    """A frame on which every expectation of the suite gives the same verdict as on :func:`_frame`,
    but cheap to build and to check (no Python strings, no nullable-integer columns where avoidable).

    - trace_id, span_id: int32 dictionary codes (float64 with NaN when there are nulls). Codes are
      a bijection of the values, so null counts and (trace_id, span_id) duplicates are unchanged.
    - source, load_id, kind, status_code: pandas Categorical with the real values as categories,
      so not-null and in-set checks see exactly the real values.
    - end_ns, start_ns: plain int64 when neither has nulls; otherwise float64 offsets from the
      pair's minimum when its range is below 2**53 (exact; NaN = null), else nullable Int64.
    - tokens, cost, parent_ok: as in :func:`_frame`.
    Any other column type is converted as in :func:`_frame`.
    """
    import pandas as pd

    cols: dict[str, Any] = {}
    for name in batch.column_names:
        col = batch.column(name)
        if name in _ID_COLUMNS and (enc := _dictionary(col)) is not None:
            idx = enc.indices
            cols[name] = (idx.to_numpy() if idx.null_count == 0
                          else idx.cast(pa.float64()).to_numpy(zero_copy_only=False))
        elif name in _LABEL_COLUMNS and (enc := _dictionary(col)) is not None:
            cols[name] = pd.Categorical.from_codes(
                enc.indices.fill_null(-1).to_numpy(), categories=enc.dictionary.to_pandas().astype(object)
            )
        elif name in _RANGE_COLUMNS:
            cols[name] = _range_array(col)
        elif name not in _TIME_COLUMNS:
            cols[name] = _frame(batch.select([name]))[name]
    cols.update(_time_columns(batch))
    return pd.DataFrame({name: cols[name] for name in batch.column_names}, copy=False)


def _time_columns(batch: pa.Table) -> dict[str, Any]:
    import pyarrow.compute as pc

    end, start = (batch.column(n) for n in _TIME_COLUMNS)
    if not (pa.types.is_integer(end.type) and end.type == start.type):
        return {n: _frame(batch.select([n]))[n] for n in _TIME_COLUMNS}
    if end.null_count == 0 and start.null_count == 0:
        return {"end_ns": end.to_numpy(), "start_ns": start.to_numpy()}
    bounds = [pc.min_max(c) for c in (end, start)]
    lows = [b["min"].as_py() for b in bounds if b["min"].is_valid]
    highs = [b["max"].as_py() for b in bounds if b["max"].is_valid]
    if lows and max(highs) - min(lows) < 2**53 and pa.types.is_signed_integer(end.type):
        low = pa.scalar(min(lows), end.type)
        return {n: pc.subtract_checked(batch.column(n), low).cast(pa.float64()).to_numpy(zero_copy_only=False)
                for n in _TIME_COLUMNS}
    return {n: _frame(batch.select([n]))[n] for n in _TIME_COLUMNS}
