"""The GX span suite on its cheap stand-in frame decides exactly as on the real values, and a
failing batch is still reported with real values."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tracemill.ingest import validation
from tracemill.ingest.validation import validate_spans

T0 = 1_700_000_000_000_000_000


def _rows(n: int = 6) -> dict[str, list]:
    return {
        "trace_id": [f"{i // 3:032x}" for i in range(n)],
        "span_id": [f"{i:016x}" for i in range(n)],
        "source": ["otlp"] * n,
        "load_id": ["ld_1"] * n,
        "end_ns": [T0 + 1000 * i + 500 for i in range(n)],
        "start_ns": [T0 + 1000 * i for i in range(n)],
        "input_tokens": [10] * n,
        "output_tokens": [None, *[5] * (n - 1)],
        "total_tokens": [15] * n,
        "cost_usd": [0.01, None, *[0.0] * (n - 2)],
        "kind": ["llm", "tool", *["chain"] * (n - 2)],
        "status_code": ["ok", "error", *["unset"] * (n - 2)],
        "parent_ok": [True] * n,
        "other": list(range(n)),  # not checked: dropped before validation
    }


_TYPES = {
    "end_ns": pa.int64(), "start_ns": pa.int64(), "input_tokens": pa.int64(), "output_tokens": pa.int64(),
    "total_tokens": pa.int64(), "cost_usd": pa.float64(), "parent_ok": pa.bool_(), "other": pa.int64(),
}


def _table(rows: dict[str, list], chunks: int = 1) -> pa.Table:
    tbl = pa.table({k: pa.array(v, _TYPES.get(k, pa.string())) for k, v in rows.items()})
    if chunks > 1:
        step = -(-tbl.num_rows // chunks)
        tbl = pa.concat_tables([tbl.slice(i, step) for i in range(0, tbl.num_rows, step)])
    return tbl


def _verdicts(frame) -> list[tuple[str, bool]]:
    batch_def, suite = validation._suite()
    res = batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(suite)
    return [(f"{r.expectation_config.type}{sorted(r.expectation_config.kwargs.items())}", bool(r.success))
            for r in res.results]


def _same_verdicts(tbl: pa.Table) -> list[tuple[str, bool]]:
    """Every expectation's verdict on the fast frame equals its verdict on the real frame."""
    batch = tbl.select(list(validation._COLUMNS))
    real = _verdicts(validation._frame(batch))
    assert _verdicts(validation._fast_frame(batch)) == real
    return real


def test_clean_batch_passes():
    tbl = _table(_rows())
    assert all(ok for _, ok in _same_verdicts(tbl))
    out = validate_spans(tbl)
    assert out.success and out.failed == () and out.result == {"success": True}


def test_clean_batch_with_null_times_and_chunks_passes():
    rows = _rows(9)
    rows["end_ns"][2] = None
    rows["start_ns"][5] = None
    tbl = _table(rows, chunks=3)
    assert all(ok for _, ok in _same_verdicts(tbl))
    assert validate_spans(tbl).success


def _fails(rows: dict[str, list], expectation: str, *values: str, chunks: int = 1) -> None:
    tbl = _table(rows, chunks=chunks)
    verdicts = _same_verdicts(tbl)
    assert sum(not ok for _, ok in verdicts) == 1, verdicts
    out = validate_spans(tbl)
    assert not out.success
    assert len(out.failed) == 1 and out.failed[0].startswith(expectation), out.failed
    for v in values:
        assert v in out.failed[0], out.failed
    assert out.result["success"] is False and len(out.result["results"]) == 13


def test_duplicate_ids_fail_with_the_real_ids():
    rows = _rows(9)
    rows["trace_id"][7] = rows["trace_id"][1]
    rows["span_id"][7] = rows["span_id"][1]  # duplicate across chunks
    _fails(rows, "expect_compound_columns_to_be_unique(['trace_id', 'span_id']): 2 unexpected",
           rows["trace_id"][1], rows["span_id"][1], chunks=3)


def test_same_span_id_in_other_trace_is_fine():
    rows = _rows()
    rows["span_id"][4] = rows["span_id"][0]  # trace 1 vs trace 0
    assert all(ok for _, ok in _same_verdicts(_table(rows)))
    assert validate_spans(_table(rows)).success


def test_end_before_start_fails_with_the_real_times():
    rows = _rows()
    rows["end_ns"][3] = rows["start_ns"][3] - 1  # 1 ns: float64 epoch ns could not see it
    _fails(rows, "expect_column_pair_values_a_to_be_greater_than_b(end_ns,start_ns): 1 unexpected",
           str(rows["start_ns"][3] - 1))


def test_end_before_start_with_null_times_fails():
    rows = _rows()
    rows["end_ns"][1] = None
    rows["start_ns"][2] = None
    rows["end_ns"][3] = rows["start_ns"][3] - 1
    _fails(rows, "expect_column_pair_values_a_to_be_greater_than_b(end_ns,start_ns): 1 unexpected",
           str(rows["start_ns"][3] - 1))


def test_negative_tokens_fail_with_the_value():
    rows = _rows()
    rows["input_tokens"][2] = -5
    _fails(rows, "expect_column_values_to_be_between(input_tokens): 1 unexpected", "-5")


def test_negative_cost_fails():
    rows = _rows()
    rows["cost_usd"][4] = -0.5
    _fails(rows, "expect_column_values_to_be_between(cost_usd): 1 unexpected", "-0.5")


def test_bad_kind_fails_with_the_value():
    rows = _rows()
    rows["kind"][5] = "bogus"
    _fails(rows, "expect_column_values_to_be_in_set(kind): 1 unexpected", "bogus")


def test_bad_status_fails_with_the_value():
    rows = _rows()
    rows["status_code"][0] = "OK"
    _fails(rows, "expect_column_values_to_be_in_set(status_code): 1 unexpected", "'OK'")


def test_parent_not_ok_fails():
    rows = _rows()
    rows["parent_ok"][1] = False
    _fails(rows, "expect_column_values_to_be_in_set(parent_ok): 1 unexpected", "False")


@pytest.mark.parametrize("column", ["trace_id", "span_id", "source", "load_id"])
def test_null_required_column_fails(column):
    rows = _rows()
    rows[column][2] = None
    _fails(rows, f"expect_column_values_to_not_be_null({column}): 1 unexpected")


def test_dictionary_typed_columns_are_decoded():
    rows = _rows()
    rows["kind"][5] = "bogus"
    tbl = _table(rows)
    for name in ("trace_id", "kind"):
        i = tbl.column_names.index(name)
        tbl = tbl.set_column(i, name, tbl.column(name).dictionary_encode())
    batch = tbl.select(list(validation._COLUMNS))
    assert _verdicts(validation._fast_frame(batch)) == _verdicts(validation._frame(batch))
    out = validate_spans(tbl)
    assert not out.success and out.failed[0].startswith("expect_column_values_to_be_in_set(kind)")
    assert "bogus" in out.failed[0]


def test_fast_pass_settings_decide_as_plain_gx_and_are_undone():
    """The fast pass caches each expectation's configuration and skips the batch fingerprint; neither
    may change a verdict, and plain GX is back once the pass ends (also after an error in it)."""
    from great_expectations.execution_engine import pandas_execution_engine as engine
    from great_expectations.expectations.expectation import Expectation

    before = (Expectation.__dict__["configuration"], engine.HASH_THRESHOLD)
    good = _table(_rows())
    rows = _rows()
    rows["span_id"][4] = rows["span_id"][3]
    rows["kind"][1] = "bogus"
    rows["end_ns"][2] = rows["start_ns"][2] - 1
    bad = _table(rows)
    for tbl in (good, bad):
        frame = validation._fast_frame(tbl.select(list(validation._COLUMNS)))
        plain = _verdicts(frame)
        with validation._fast_pass():
            assert engine.HASH_THRESHOLD == 0
            assert _verdicts(frame) == plain
            assert _verdicts(frame) == plain   # second run: configurations come from the cache
    assert [ok for _, ok in _verdicts(validation._fast_frame(bad.select(list(validation._COLUMNS))))].count(False) == 3
    with pytest.raises(RuntimeError), validation._fast_pass():
        raise RuntimeError("boom")
    assert (Expectation.__dict__["configuration"], engine.HASH_THRESHOLD) == before
