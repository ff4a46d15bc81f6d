"""Failure signals: why a trace counts as failing, each with its kind and evidence.

Built-in signals are SQL files in ``warehouse/queries/mining/signal_*.sql``; user rules are SQL files in
``warehouse/rules/*.sql`` (a SELECT returning ``trace_id`` and ``evidence``). Everything lands in the temp
table ``mine_signals(trace_id, kind, evidence)`` of the connection; the run writes it to ``failure_signals``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from tracemill.errors import ConfigError
from tracemill.mining.params import MiningParams
from tracemill.warehouse import query, sql_root

BUILTIN = (
    "signal_span_error",
    "signal_tool_error",
    "signal_negative_feedback",
    "signal_failed_outcome",
    "signal_latency_outlier",
    "signal_cost_outlier",
    "signal_loop",
    "signal_empty_output",
)


def rule_files(params: MiningParams) -> list[Path]:
    """The user rule files, in name order."""
    folder = Path(params.rules_dir) if params.rules_dir else sql_root() / "rules"
    return sorted(folder.glob("*.sql")) if folder.is_dir() else []


def _bind(sql: str, params: dict[str, object]) -> dict[str, object]:
    """Only the named parameters a statement uses (DuckDB refuses unused ones)."""
    return {k: v for k, v in params.items() if f"${k}" in sql}


def select_window(con: duckdb.DuckDBPyConnection, since: datetime | None, until: datetime | None) -> int:
    """Create the temp table ``mine_traces`` of traces in the window; returns how many."""
    sql = query("mining/window")
    con.execute(sql, {"since": since, "until": until})
    return int(con.execute("SELECT count(*) FROM mine_traces").fetchone()[0])


def detect(con: duckdb.DuckDBPyConnection, params: MiningParams) -> dict[str, int]:
    """Fill the temp table ``mine_signals`` from the built-in signals and the user rules.

    Needs ``mine_traces`` (see :func:`select_window`). Returns the number of signals per kind.
    """
    con.execute("CREATE OR REPLACE TEMP TABLE mine_feedback_thresholds (key VARCHAR, threshold DOUBLE)")
    if params.feedback_thresholds:
        con.executemany(
            "INSERT INTO mine_feedback_thresholds VALUES (?, ?)", list(params.feedback_thresholds.items())
        )
    con.execute("CREATE OR REPLACE TEMP TABLE mine_signals (trace_id VARCHAR, kind VARCHAR, evidence JSON)")
    values: dict[str, object] = {
        "default_threshold": params.feedback_default_threshold,
        "z": params.outlier_z,
        "min_ratio": params.outlier_min_ratio,
        "min_group": params.outlier_min_group,
        "loop_min": params.loop_min_repeats,
        "refusal_pattern": params.refusal_pattern,
    }
    for name in BUILTIN:
        sql = query(f"mining/{name}").strip().rstrip(";")
        con.execute(f"INSERT INTO mine_signals {sql}", _bind(sql, values))
    for path in rule_files(params):
        _run_rule(con, path)
    rows = con.execute("SELECT kind, count(*) FROM mine_signals GROUP BY kind ORDER BY kind").fetchall()
    return {k: int(n) for k, n in rows}


def _run_rule(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    sql = path.read_text().strip().rstrip(";").strip()
    kind = f"rule:{path.stem}"
    try:
        # The rule is a file in the repo's rules folder, wrapped as a subquery; only traces in the window count.
        con.execute(
            f"""INSERT INTO mine_signals
                SELECT DISTINCT ON (r.trace_id) CAST(r.trace_id AS VARCHAR), ?, CAST(to_json(r.evidence) AS JSON)
                FROM ({sql}) r
                SEMI JOIN mine_traces w ON w.trace_id = CAST(r.trace_id AS VARCHAR)""",
            [kind],
        )
    except duckdb.Error as exc:
        raise ConfigError(
            f"the failure rule {path.name} did not run",
            value=str(path),
            fix="a rule is one SELECT returning trace_id and evidence columns; DuckDB said: "
            + str(exc).splitlines()[0],
        ) from exc
