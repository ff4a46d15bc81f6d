"""The demo generator writes deterministic, collector-shaped OTLP/JSON with planted, detectable failures."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from tracemill.demo.generator import DAY1_MODES, NEXT_NIGHT_MODES, generate_day, load_ground_truth

DAY = date(2026, 1, 5)


def _spans(files: list[Path]) -> list[dict]:
    out = []
    for f in files:
        for line in f.read_text().splitlines():
            req = json.loads(line)
            for rs in req["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    out.extend(ss["spans"])
    return out


def _attrs(span: dict) -> dict:
    out = {}
    for a in span.get("attributes", []):
        v = a["value"]
        out[a["key"]] = next(iter(v.values()))
    return out


@pytest.fixture(scope="module")
def day1(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("gen")
    gt = generate_day(out, day=DAY, n_traces=400, traces_per_file=150)
    return out, gt


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, day1):
    out, gt = day1
    again = generate_day(tmp_path / "a", day=DAY, n_traces=400, traces_per_file=150)
    assert [f.read_bytes() for f in again.files] == [f.read_bytes() for f in gt.files]
    other = generate_day(tmp_path / "b", day=DAY, n_traces=400, traces_per_file=150, seed=8)
    assert other.files[0].read_bytes() != gt.files[0].read_bytes()


def test_files_ground_truth_and_mode_counts(day1):
    out, gt = day1
    assert [f.name for f in gt.files] == [f"otlp-{DAY}-{i:04d}.jsonl" for i in range(3)]
    assert load_ground_truth(out / f"ground_truth-{DAY}.jsonl") == gt.modes
    counts = gt.counts()
    assert len(gt.modes) == 400
    for mode, w in DAY1_MODES.items():
        if mode != "ok":
            assert counts[mode] == round(400 * w / sum(DAY1_MODES.values()))
    assert 0.7 <= counts["ok"] / 400 <= 0.85
    assert "auth_failure" not in counts


def test_otlp_json_encoding_and_genai_conventions(day1):
    out, gt = day1
    first = json.loads(gt.files[0].read_text().splitlines()[0])
    res_attrs = {a["key"] for a in first["resourceSpans"][0]["resource"]["attributes"]}
    assert {"service.name", "service.version", "deployment.environment.name"} <= res_attrs
    spans = _spans(list(gt.files))
    assert len(spans) == gt.n_spans
    ops = Counter()
    for s in spans:
        assert re.fullmatch(r"[0-9a-f]{32}", s["traceId"]) and re.fullmatch(r"[0-9a-f]{16}", s["spanId"])
        assert isinstance(s["startTimeUnixNano"], str) and int(s["endTimeUnixNano"]) >= int(s["startTimeUnixNano"])
        a = _attrs(s)
        ops[a["gen_ai.operation.name"]] += 1
        if a["gen_ai.operation.name"] == "chat" and s.get("status", {}).get("code") != 2:
            assert isinstance(a["gen_ai.usage.input_tokens"], str)  # OTLP JSON int64 is a string
            msgs = json.loads(a["gen_ai.input.messages"])
            assert msgs[0]["role"] == "system" and msgs[0]["parts"][0]["type"] == "text"
            assert json.loads(a["gen_ai.output.messages"])[0]["role"] == "assistant"
        if a["gen_ai.operation.name"] == "execute_tool":
            assert {"gen_ai.tool.name", "gen_ai.tool.call.id", "gen_ai.tool.call.arguments"} <= set(a)
        if a["gen_ai.operation.name"] == "invoke_agent":
            assert {"gen_ai.agent.name", "user.id", "session.id", "tracemill.tags"} <= set(a)
            assert "parentSpanId" not in s
    assert ops["invoke_agent"] == 400 and ops["chat"] > 400 and ops["execute_tool"] > 400


def test_planted_modes_leave_their_marks(day1):
    out, gt = day1
    by_trace: dict[str, list[dict]] = {}
    for s in _spans(list(gt.files)):
        by_trace.setdefault(s["traceId"], []).append(s)
    for tid, mode in gt.modes.items():
        spans = by_trace[tid]
        tools = [(_attrs(s)["gen_ai.tool.name"], _attrs(s)["gen_ai.tool.call.arguments"]) for s in spans
                 if _attrs(s)["gen_ai.operation.name"] == "execute_tool"]
        errors = [s for s in spans if s.get("status", {}).get("code") == 2]
        root = spans[0]
        events = [e["name"] for e in root.get("events", [])]
        if mode == "tool_error":
            assert any(_attrs(e)["gen_ai.operation.name"] == "execute_tool" for e in errors)
        elif mode == "loop":
            assert max(Counter(tools).values()) >= 3
        elif mode == "policy_violation":
            refund = [json.loads(a) for t, a in tools if t == "refund_order"]
            assert refund and refund[0]["amount"] > 500 and "escalate_to_human" not in [t for t, _ in tools]
        elif mode == "wrong_tool":
            assert "gen_ai.evaluation.result" in events
        elif mode == "ok":
            assert not errors and max(Counter(tools).values(), default=1) < 3


def test_next_night_has_a_new_mode_and_more_tool_errors(tmp_path: Path):
    gt = generate_day(tmp_path, day=date(2026, 1, 6), n_traces=400, modes=NEXT_NIGHT_MODES)
    counts = gt.counts()
    assert counts["auth_failure"] > 0 and counts["tool_error"] == 40
    with pytest.raises(ValueError):
        generate_day(tmp_path, day=DAY, n_traces=10, modes={"nope": 1.0})
