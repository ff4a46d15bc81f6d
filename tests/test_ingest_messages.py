"""Chat-message trajectories: presets for the real benchmark files, field mappings, rejections.

Counts are derived by hand from the files in ../shared/data/external (derivations in comments).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tracemill.errors import ConfigError
from tracemill.ingest.formats import FormatOptions, Source, detect, get
from tracemill.ingest.records import Feedback, Rejected, Span, ToolCall
from tracemill.ingest.sources import expand

DATA = Path(__file__).parent / "data" / "chat"


def parse(path: Path | str, mapping: dict[str, str] | None = None, fmt: str | None = None) -> list:
    (src,) = expand([str(path)])
    f = get(fmt) if fmt else detect(src)
    assert f.name == "messages"
    return list(f.parse(src, FormatOptions(mapping=mapping or {})))


def counts(items: list) -> Counter:
    c: Counter = Counter()
    for it in items:
        c[type(it).__name__] += 1
        if isinstance(it, Span):
            c[it.kind] += 1
            c["traces"] += it.parent_span_id is None
        if isinstance(it, Feedback):
            c[f"outcome:{it.label}"] += 1
        if isinstance(it, Rejected):
            c[f"rejected:{it.reason}"] += 1
    return c


# ToolBench answers: trajectory = answer_generation.train_messages[-1] (the list holds growing
# prefixes, one per assistant step; the last is the whole chain). Counted with a script over the
# JSON and checked by eye: assistant messages (llm spans), function_call requests (tool spans and
# calls, including the final `Finish` call, which has no function result), `win`.
# Files with valid_data=false (G1/69, G3/8) have no train_messages: root span only, outcome failure.
TOOLBENCH = {
    # file:                        (assistant, function calls, win)
    "G1_answer/10_ChatGPT_DFS_woFilter_w2.json": (3, 3, True),
    "G1_answer/11_ChatGPT_DFS_woFilter_w2.json": (4, 4, True),
    "G1_answer/57_ChatGPT_DFS_woFilter_w2.json": (5, 4, True),   # one assistant turn with text only
    "G1_answer/59_ChatGPT_DFS_woFilter_w2.json": (5, 5, True),
    "G1_answer/69_ChatGPT_DFS_woFilter_w2.json": (0, 0, False),  # valid_data=false
    "G2_answer/102_ChatGPT_DFS_woFilter_w2.json": (4, 4, True),
    "G2_answer/10_ChatGPT_DFS_woFilter_w2.json": (4, 4, False),
    "G2_answer/119_ChatGPT_DFS_woFilter_w2.json": (3, 3, False),
    "G2_answer/127_ChatGPT_DFS_woFilter_w2.json": (3, 3, False),
    "G2_answer/52_ChatGPT_DFS_woFilter_w2.json": (3, 3, True),
    "G3_answer/13_ChatGPT_DFS_woFilter_w2.json": (5, 5, False),
    "G3_answer/15_ChatGPT_DFS_woFilter_w2.json": (5, 4, True),
    "G3_answer/21_ChatGPT_DFS_woFilter_w2.json": (4, 4, True),
    "G3_answer/3_ChatGPT_DFS_woFilter_w2.json": (4, 4, True),
    "G3_answer/8_ChatGPT_DFS_woFilter_w2.json": (0, 0, False),   # valid_data=false
}
# Totals: 15 traces; spans = 15 roots + 52 llm + 50 tool = 117; 50 tool calls; 9 wins, 6 failures.


@pytest.mark.parametrize("name", sorted(TOOLBENCH))
def test_toolbench_each_file(external: Path, name: str) -> None:
    n_asst, n_calls, win = TOOLBENCH[name]
    c = counts(parse(external / "toolbench" / "answer" / name))
    assert c["traces"] == 1
    assert c["llm"] == n_asst
    assert c["tool"] == c["ToolCall"] == n_calls
    assert c["Span"] == 1 + n_asst + n_calls
    assert c["outcome:success" if win else "outcome:failure"] == 1 and c["Feedback"] == 1
    assert c["Rejected"] == 0


def test_toolbench_totals_and_tool_results(external: Path) -> None:
    items = [it for name in sorted(TOOLBENCH) for it in parse(external / "toolbench" / "answer" / name)]
    c = counts(items)
    assert (c["traces"], c["Span"], c["ToolCall"]) == (15, 117, 50)
    assert (c["outcome:success"], c["outcome:failure"]) == (9, 6)
    calls = [it for it in items if isinstance(it, ToolCall)]
    # Every trajectory with messages ends with the Finish call, which gets no function result.
    assert sum(1 for x in calls if x.tool_name == "Finish") == 13
    assert all(x.result is None and x.status == "unset" for x in calls if x.tool_name == "Finish")
    # 37 function messages answer the other 37 calls (matched by name, in order); 5 of them carry a
    # non-empty "error" field in ToolBench's {"error": ..., "response": ...} result.
    answered = [x for x in calls if x.tool_name != "Finish"]
    assert len(answered) == 37 and all(x.result is not None for x in answered)
    assert sum(1 for x in answered if x.status == "error") == 5
    g2_10 = parse(external / "toolbench" / "answer" / "G2_answer/10_ChatGPT_DFS_woFilter_w2.json")
    err = next(x for x in g2_10 if isinstance(x, ToolCall) and x.status == "error")
    assert err.tool_name == "retorna_dados_do_endere_o_atrav_s_do_cep_for_cep_brazil"
    assert err.error_message.startswith("Timeout error")
    root = g2_10[0]
    assert root.kind == "agent" and root.input_text.startswith("I'm organizing a charity event")
    assert root.attributes["metadata"]["finish_type"] == "give_up"


def test_tau_bench_few_shot(external: Path) -> None:
    # 69 lines, each {"messages_display": "role: text\n..."}. Counting lines that start a message:
    # 533 user, 943 assistant, 479 tool. The display drops tool names: every tool line answers one
    # call of the nearest assistant message before it (440 of those show content "None").
    # Spans = 69 roots + 943 llm + 479 tool = 1491; tool calls = 479; no outcome in this file.
    items = parse(external / "tau-bench" / "MockRetailDomainEnv-few_shot.jsonl")
    c = counts(items)
    assert (c["traces"], c["llm"], c["tool"], c["Span"], c["ToolCall"]) == (69, 943, 479, 1491, 479)
    assert c["Feedback"] == 0 and c["Rejected"] == 0
    # 33 tool lines start with "Error: " (e.g. "Error: user not found"), in 26 trajectories.
    errors = [it for it in items if isinstance(it, ToolCall) and it.status == "error"]
    assert len(errors) == 33 and len({e.trace_id for e in errors}) == 26
    first = [it for it in items if it.trace_id == items[0].trace_id]
    root = first[0]
    assert root.input_text.startswith("Hi, I was wondering how I can check the balance on my gift card?")
    tool = next(it for it in first if isinstance(it, Span) and it.kind == "tool")
    assert tool.tool_name == "unknown" and tool.tool_result == "isabella_lopez_6490"


def test_tau2_tasks_as_reference_trajectories(external: Path) -> None:
    # 114 tasks; evaluation_criteria.actions holds 550 expected actions in all (2 tasks have none).
    # Each task: a root, a user request, one assistant turn per action with one tool call.
    # Spans = 114 + 550 llm + 550 tool = 1214; tool calls = 550; no outcome (not a run).
    items = parse(external / "tau2-bench" / "retail" / "tasks.json")
    c = counts(items)
    assert (c["traces"], c["llm"], c["tool"], c["Span"], c["ToolCall"]) == (114, 550, 550, 1214, 550)
    assert c["Feedback"] == 0 and c["Rejected"] == 0
    task0 = [it for it in items if it.trace_id == "tau2-bench:retail:0"]
    names = [it.tool_name for it in task0 if isinstance(it, ToolCall)]
    assert names == ["find_user_id_by_name_zip", "get_order_details", "get_product_details",
                     "get_product_details", "exchange_delivered_order_items"]
    assert task0[0].tags == ["reference", "tau2-bench"] and task0[0].attributes["metadata"]["reference"] is True
    call = next(it for it in task0 if isinstance(it, ToolCall))
    assert call.call_id == "0_0" and call.arguments == {"first_name": "Yusuf", "last_name": "Rossi", "zip": "19122"}


def test_mapping_with_dotted_paths_and_rejections() -> None:
    mapping = {"id": "task_id", "messages": "traj", "outcome": "reward", "metadata": "meta", "user": "meta.user"}
    items = parse(DATA / "mapped_runs.jsonl", mapping, fmt="messages")
    c = counts(items)
    # t-1: 2 assistant turns, 2 parallel calls; t-2: 3 turns, 2 calls; 3: 2 turns, 1 legacy call.
    assert (c["traces"], c["llm"], c["tool"], c["ToolCall"]) == (3, 7, 5, 5)
    assert (c["outcome:success"], c["outcome:failure"]) == (1, 2)   # reward 1; reward 0 and 0.5 (< 1.0)
    rej = {it.line_no: it.reason for it in items if isinstance(it, Rejected)}
    assert rej == {4: "missing_id", 5: "wrong_type", 6: "invalid_value", 7: "invalid_value",
                   8: "malformed_json", 9: "invalid_utf8"}
    by_id = {it.call_id: it for it in items if isinstance(it, ToolCall)}
    # Results came back in the other order; they are matched by tool_call_id.
    assert by_id["call_a"].result == '{"status": "pending"}' and by_id["call_b"].result == '{"status": "delivered"}'
    assert by_id["call_a"].seq == 0 and by_id["call_b"].seq == 1
    assert by_id["call_2"].status == "error" and by_id["call_2"].error_message.startswith("Error: order #C3")
    legacy = next(it for it in items if isinstance(it, ToolCall) and it.trace_id == "3")
    assert legacy.tool_name == "get_weather" and legacy.arguments == {"city": "Paris"} and legacy.result == '{"temp_c": 18}'
    root = next(it for it in items if isinstance(it, Span) and it.trace_id == "t-1" and it.kind == "agent")
    assert root.user_id == "u-1" and root.attributes["metadata"] == {"user": "u-1", "agent": "v2"}
    llm2 = [it for it in items if isinstance(it, Span) and it.trace_id == "t-1" and it.kind == "llm"][1]
    assert [m["role"] for m in llm2.input_messages] == ["system", "user", "assistant", "tool", "tool"]
    assert llm2.output_text == "#A1 is pending and #B2 was delivered."


def test_default_fields_auto_detected_and_bare_list() -> None:
    c = counts(parse(DATA / "default_fields.json"))
    assert (c["traces"], c["Span"], c["ToolCall"], c["outcome:success"], c["outcome:failure"]) == (2, 6, 1, 1, 1)
    items = parse(DATA / "bare_list.json")
    assert counts(items)["Span"] == 4 and items[0].trace_id.startswith("traj:")


def test_ids_are_deterministic(external: Path) -> None:
    path = external / "toolbench" / "answer" / "G1_answer" / "57_ChatGPT_DFS_woFilter_w2.json"
    a, b = parse(path), parse(path)
    key = lambda items: [(type(i).__name__, i.trace_id, getattr(i, "span_id", None), getattr(i, "call_id", None)) for i in items]
    assert key(a) == key(b)
    fa = next(i for i in a if isinstance(i, Feedback))
    fb = next(i for i in b if isinstance(i, Feedback))
    assert fa.resolved_id() == fb.resolved_id()


def test_explicit_preset_and_bad_mapping(tmp_path: Path) -> None:
    rec = {"task_id": 7, "trial": 0, "reward": 0.0, "info": {}, "traj": [
        {"role": "user", "content": "return my order"},
        {"role": "assistant", "content": None, "function_call": None,
         "tool_calls": [{"id": "x1", "type": "function", "function": {"name": "get_order_details", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "x1", "name": "get_order_details", "content": "Error: order not found"}]}
    p = tmp_path / "results.json"
    p.write_text(json.dumps([rec]))
    items = parse(p, {"preset": "tau-bench"}, fmt="messages")
    assert items[0].trace_id.startswith("tau-bench:task-7:trial-0:")
    assert counts(items)["outcome:failure"] == 1
    call = next(i for i in items if isinstance(i, ToolCall))
    assert call.status == "error"
    with pytest.raises(ConfigError):
        parse(p, {"preset": "nope"}, fmt="messages")
    with pytest.raises(ConfigError):
        parse(p, {"idd": "task_id"}, fmt="messages")


def test_sniff_is_unambiguous(tmp_path: Path) -> None:
    otlp = tmp_path / "otlp.jsonl"
    otlp.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [
        {"key": "llm.input_messages.0.message.role", "value": {"stringValue": "user"}}]}]}]}]}) + "\n")
    langsmith = tmp_path / "runs.jsonl"
    langsmith.write_text(json.dumps({"id": "r", "run_type": "llm", "trace_id": "r",
                                     "inputs": {"messages": [{"role": "user", "content": "hi"}]}}) + "\n")
    fmt = get("messages")
    for p in (otlp, langsmith):
        (src,) = expand([str(p)])
        assert not fmt.sniff(src)
    src = Source(path="x.json", opener=lambda: None, head=b'{"section": "x", "outputs": [{"role": "user"}]}')  # type: ignore[arg-type]
    assert not fmt.sniff(src)   # messages deep inside some other document are not a trajectory
