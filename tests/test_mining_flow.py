"""The mine-failures flow runs on a real (temporary) Prefect server and publishes its report artifact."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tracemill.lineage import SCHEMA_VERSION
from tracemill.warehouse import transaction


def test_mine_failures_flow_publishes_markdown(settings, con, prefect_server):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.mine_failures import mine_failures

    start = datetime(2026, 1, 5, 10, tzinfo=UTC)
    with transaction(con):
        for i in range(6):
            tid = f"flow{i}"
            con.execute(
                "INSERT INTO traces (trace_id, name, start_time, latency_ms, status, output, source, load_id, "
                "schema_version) VALUES (?, 'agent', ?, 900, 'ok', 'Sorry, try later', 'test', 'l1', ?)",
                [tid, start, SCHEMA_VERSION])
            con.execute(
                "INSERT INTO tool_calls (trace_id, call_id, seq, tool_name, arguments, status, error_message, source, "
                "load_id, schema_version) VALUES (?, 'c1', 0, 'lookup_order', ?, 'error', "
                "'orders-api: upstream request timeout', 'test', 'l1', ?)",
                [tid, json.dumps({"order_id": f"A{i}"}), SCHEMA_VERSION])
    con.close()
    out = mine_failures(since="2026-01-05", until="2026-01-06", min_cluster_size=3)
    assert out["n_failing_traces"] == 6 and out["n_clusters"] == 1
    assert out["clusters"][0]["status"] == "new" and out["clusters"][0]["cluster_id"] == "fm_0001"
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["failure-modes"])))
    assert arts and "fm_0001" in arts[0].data and out["run_id"] in arts[0].data
