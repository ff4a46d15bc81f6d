"""The GenAI / OpenInference attribute mapping and the message normalisers (tracemill.ingest.semconv)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tracemill.ingest.records import Span
from tracemill.ingest.semconv import (
    ToolCallTracker,
    decode_any,
    decode_kvlist,
    map_span,
    normalize_messages,
    normalize_system_instructions,
)

SEMCONV = "otel-semconv-genai"


def _span(attrs: dict, events=None) -> Span:
    sp = Span(trace_id="t" * 32, span_id="s" * 16, source="test")
    map_span(sp, attrs, events)
    return sp


# -- native wins -------------------------------------------------------------------------------------


def test_openinference_native_wins_when_span_kind_is_set():
    both = {
        "llm.model_name": "oi-model", "gen_ai.request.model": "genai-model",
        "llm.token_count.prompt": 5, "gen_ai.usage.input_tokens": 500,
        "llm.provider": "oi-prov", "gen_ai.provider.name": "genai-prov",
        "gen_ai.operation.name": "chat",
    }
    oi = _span({**both, "openinference.span.kind": "LLM"})
    assert (oi.kind, oi.model, oi.input_tokens, oi.provider) == ("llm", "oi-model", 5, "oi-prov")
    genai = _span(both)
    assert (genai.kind, genai.model, genai.input_tokens, genai.provider) == ("llm", "genai-model", 500, "genai-prov")


def test_the_other_convention_fills_fields_the_native_one_left_empty():
    sp = _span({"openinference.span.kind": "LLM", "gen_ai.usage.output_tokens": 7, "llm.model_name": "m"})
    assert (sp.model, sp.output_tokens) == ("m", 7)
    sp = _span({"gen_ai.operation.name": "chat", "llm.model_name": "m2"})
    assert sp.model == "m2"


@pytest.mark.parametrize(
    ("attrs", "kind"),
    [
        ({"gen_ai.operation.name": "chat"}, "llm"),
        ({"gen_ai.operation.name": "text_completion"}, "llm"),
        ({"gen_ai.operation.name": "generate_content"}, "llm"),
        ({"gen_ai.operation.name": "execute_tool"}, "tool"),
        ({"gen_ai.operation.name": "invoke_agent"}, "agent"),
        ({"gen_ai.operation.name": "create_agent"}, "agent"),
        ({"gen_ai.operation.name": "embeddings"}, "embedding"),
        ({"openinference.span.kind": "RETRIEVER"}, "retriever"),
        ({"openinference.span.kind": "RERANKER"}, "reranker"),
        ({"openinference.span.kind": "GUARDRAIL"}, "guardrail"),
        ({"openinference.span.kind": "EVALUATOR"}, "evaluator"),
        ({"openinference.span.kind": "CHAIN", "gen_ai.operation.name": "chat"}, "chain"),
        ({"gen_ai.request.model": "x"}, "llm"),          # no operation name: inferred from the model
        ({"gen_ai.tool.name": "x"}, "tool"),
        ({"http.method": "GET"}, "unknown"),
    ],
)
def test_kind(attrs, kind):
    assert _span(attrs).kind == kind


def test_general_attributes():
    sp = _span({
        "service.name": "svc", "service.version": "1.2", "deployment.environment.name": "prod",
        "enduser.id": "u1", "gen_ai.conversation.id": "c1", "tracemill.tags": ["a", "b"],
        "gen_ai.operation.name": "chat", "tracemill.cost_usd": 0.25,
    })
    assert (sp.service_name, sp.app_version, sp.environment, sp.user_id, sp.session_id, sp.tags, sp.cost_usd) == (
        "svc", "1.2", "prod", "u1", "c1", ["a", "b"], 0.25)
    sp = _span({"deployment.environment": "old-env", "session.id": "s", "gen_ai.conversation.id": "c", "tag.tags": "x, y"})
    assert (sp.environment, sp.session_id, sp.tags) == ("old-env", "s", ["x", "y"])


# -- messages ------------------------------------------------------------------------------------------


def test_deprecated_indexed_genai_messages():
    sp = _span({
        "gen_ai.operation.name": "chat",
        "gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": "sys",
        "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": "hi",
        "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "",
        "gen_ai.completion.0.tool_calls.0.id": "c1", "gen_ai.completion.0.tool_calls.0.name": "f",
        "gen_ai.completion.0.tool_calls.0.arguments": '{"a": 1}',
    })
    assert sp.input_messages == [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]
    assert sp.output_messages[0]["tool_calls"] == [{"id": "c1", "name": "f", "arguments": {"a": 1}}]
    assert sp.input_text == "hi"
    assert sp.output_text == 'f({"a":1})'


def test_event_based_messages():
    events = [
        ("gen_ai.system.message", 1, {"content": "be nice"}),
        ("gen_ai.user.message", 2, {"content": "weather?"}),
        ("gen_ai.assistant.message", 3, {"tool_calls": '[{"id": "x", "type": "function", "function": {"name": "w", "arguments": "{}"}}]'}),
        ("gen_ai.tool.message", 4, {"content": "sunny", "id": "x"}),
        ("gen_ai.choice", 5, {"index": 1, "finish_reason": "stop", "message": '{"content": "second"}'}),
        ("gen_ai.choice", 5, {"gen_ai.event.content": '{"index": 0, "finish_reason": "stop", "message": {"content": "It is sunny"}}'}),
    ]
    sp = _span({"gen_ai.operation.name": "chat"}, events)
    assert [m["role"] for m in sp.input_messages] == ["system", "user", "assistant", "tool"]
    assert sp.input_messages[2]["tool_calls"] == [{"id": "x", "name": "w", "arguments": {}}]
    assert sp.input_messages[3] == {"role": "tool", "content": "sunny", "tool_call_id": "x"}
    assert [m["content"] for m in sp.output_messages] == ["It is sunny", "second"]   # ordered by choice index
    assert (sp.input_text, sp.output_text) == ("weather?", "second")


def test_openinference_flattened_messages_and_values():
    sp = _span({
        "openinference.span.kind": "LLM",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.contents.0.message_content.type": "text",
        "llm.input_messages.0.message.contents.0.message_content.text": "part one",
        "llm.input_messages.0.message.contents.1.message_content.type": "text",
        "llm.input_messages.0.message.contents.1.message_content.text": "part two",
        "llm.input_messages.1.message.role": "tool", "llm.input_messages.1.message.content": "42",
        "llm.input_messages.1.message.tool_call_id": "t1",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "f",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": "not json",
        "input.value": "raw input", "output.value": '{"text": "done"}', "output.mime_type": "application/json",
    })
    assert sp.input_messages == [
        {"role": "user", "content": "part one\npart two"},
        {"role": "tool", "content": "42", "tool_call_id": "t1"},
    ]
    assert sp.output_messages[0]["tool_calls"] == [{"id": None, "name": "f", "arguments": "not json"}]
    # OpenInference native: input.value / output.value are the readable text ({"text": ...} unwrapped).
    assert (sp.input_text, sp.output_text) == ("raw input", "done")


def test_openinference_tool_span():
    sp = _span({"openinference.span.kind": "TOOL", "tool.name": "lookup", "tool.parameters": '{"type": "object"}',
                "input.value": '{"id": 3}', "output.value": "found"})
    assert (sp.tool_name, sp.tool_arguments, sp.tool_result) == ("lookup", {"id": 3}, "found")


def test_genai_tool_span():
    sp = _span({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "w", "gen_ai.tool.call.id": "c",
                "gen_ai.tool.call.arguments": {"city": "Paris"}, "gen_ai.tool.call.result": {"t": 20}})
    assert (sp.tool_name, sp.tool_call_id, sp.tool_arguments, sp.tool_result) == ("w", "c", {"city": "Paris"}, '{"t":20}')
    assert (sp.input_text, sp.output_text) == ('{"city":"Paris"}', '{"t":20}')


def test_message_shapes_from_other_sdks():
    openai = [{"role": "assistant", "content": None,
               "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]},
              {"role": "tool", "tool_call_id": "1", "content": "ok"}]
    assert normalize_messages(openai) == [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "name": "f", "arguments": {"x": 1}}]},
        {"role": "tool", "content": "ok", "tool_call_id": "1"},
    ]
    anthropic = [{"role": "assistant", "content": [{"type": "text", "text": "let me"},
                                                   {"type": "tool_use", "id": "tu", "name": "g", "input": {"y": 2}}]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu", "content": "done"}]}]
    assert normalize_messages(anthropic) == [
        {"role": "assistant", "content": "let me", "tool_calls": [{"id": "tu", "name": "g", "arguments": {"y": 2}}]},
        {"role": "tool", "content": "done", "tool_call_id": "tu"},
    ]
    vercel = [{"role": "assistant", "content": [{"type": "tool-call", "toolCallId": "v", "toolName": "h", "input": {}}]},
              {"role": "tool", "content": [{"type": "tool-result", "toolCallId": "v", "toolName": "h", "output": "r"}]}]
    assert normalize_messages(vercel) == [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "v", "name": "h", "arguments": {}}]},
        {"role": "tool", "content": "r", "tool_call_id": "v"},
    ]
    assert normalize_messages("just text", "user") == [{"role": "user", "content": "just text"}]
    assert normalize_messages({"text": "out", "finish_reason": "stop"}, "assistant") == [
        {"role": "assistant", "content": "out", "finish_reason": "stop"}]


def test_anyvalue_decoding():
    assert decode_any({"intValue": "7"}) == 7
    assert decode_any({"arrayValue": {"values": [{"stringValue": "a"}, {"boolValue": True}]}}) == ["a", True]
    assert decode_any({"kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": 1.5}}]}}) == {"k": 1.5}
    assert decode_kvlist([{"key": "a", "value": {}}]) == {"a": None}
    for bad in ({"intValue": "x"}, "str", {"arrayValue": {"values": "no"}}):
        with pytest.raises((TypeError, ValueError)):
            decode_any(bad)
    with pytest.raises(TypeError):
        decode_kvlist({"a": 1})


def test_evaluation_events_become_feedback():
    sp = Span(trace_id="t" * 32, span_id="s" * 16, source="test")
    fbs = map_span(sp, {"gen_ai.operation.name": "invoke_agent"}, [
        ("gen_ai.evaluation.result", 9, {"gen_ai.evaluation.name": "user_feedback", "gen_ai.evaluation.score.value": 0.0,
                                         "gen_ai.evaluation.score.label": "thumbs_down", "gen_ai.evaluation.explanation": "bad"}),
        ("gen_ai.evaluation.result", 10, {"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.8}),
    ])
    assert [(f.key, f.score, f.label, f.comment, f.source, f.created_ns) for f in fbs] == [
        ("user_feedback", 0.0, "thumbs_down", "bad", "user", 9), ("relevance", 0.8, None, None, "code", 10)]
    assert all((f.trace_id, f.span_id) == (sp.trace_id, sp.span_id) for f in fbs)


# -- tool-call matching --------------------------------------------------------------------------------


def _llm(span_id: str, calls: list[dict]) -> Span:
    sp = Span(trace_id="t" * 32, span_id=span_id, source="test", kind="llm", end_ns=5)
    sp.output_messages = [{"role": "assistant", "content": None, "tool_calls": calls}]
    return sp


def _tool(span_id: str, name: str, call_id: str | None) -> Span:
    return Span(trace_id="t" * 32, span_id=span_id, source="test", kind="tool", tool_name=name, tool_call_id=call_id)


def test_tool_call_tracker_never_double_counts():
    tr = ToolCallTracker()
    out = [tr.observe(_llm("L1", [{"id": "a", "name": "f", "arguments": {}},      # executed, matched by id
                                   {"id": "b", "name": "g", "arguments": {}},      # executed by an id-less span, matched by name
                                   {"id": None, "name": "h", "arguments": {}},     # id-less, executed by an id-less span
                                   {"id": None, "name": "h", "arguments": {}},     # id-less, second h: not executed
                                   {"id": "z", "name": "f", "arguments": {}}]))]   # never executed
    out += [tr.observe(_tool("T1", "f", "a")), tr.observe(_tool("T2", "g", None)), tr.observe(_tool("T3", "h", None))]
    from_spans = [c for c in out if c is not None]
    assert [(c.call_id, c.tool_name) for c in from_spans] == [("a", "f"), ("T2", "g"), ("T3", "h")]
    rest = list(tr.finish())
    assert [(c.call_id, c.tool_name, c.span_id, c.status) for c in rest] == [
        ("L1:0:3", "h", "L1", "unset"), ("z", "f", "L1", "unset")]


# -- the semconv JSON schemas (attribute-value examples, not traces) ----------------------------------


def _schema(external: Path, name: str) -> dict:
    return json.loads((external / SEMCONV / name).read_text())


def _examples(external: Path) -> list[dict]:
    return json.loads((external / SEMCONV / "examples-llm-calls.json").read_text())["records"]


def test_examples_messages_are_valid_and_normalise(external):
    """Every message-valued attribute in the semconv examples validates against the published
    schemas, and normalises without losing a text part, a tool call or a tool result."""
    schemas = {
        "gen_ai.input.messages": _schema(external, "gen-ai-input-messages.json"),
        "gen_ai.output.messages": _schema(external, "gen-ai-output-messages.json"),
        "gen_ai.system_instructions": _schema(external, "gen-ai-system-instructions.json"),
        "gen_ai.tool.definitions": _schema(external, "gen-ai-tool-definitions.json"),
    }
    checked = 0
    for rec in _examples(external):
        for key, schema in schemas.items():
            value = rec["attributes"].get(key)
            if value is None:
                continue
            jsonschema.validate(value, schema)
            checked += 1
            if key in ("gen_ai.input.messages", "gen_ai.output.messages"):
                norm = normalize_messages(value)
                texts = ["\n".join(p["content"] for p in m["parts"] if p["type"] == "text") for m in value]
                calls = [p["id"] for m in value for p in m["parts"] if p["type"] in ("tool_call", "server_tool_call")]
                results = [p["id"] for m in value for p in m["parts"] if p["type"] == "tool_call_response"]
                assert [m["content"] for m in norm if m["role"] != "tool" and m["content"]] == [t for t in texts if t]
                assert [c["id"] for m in norm for c in m.get("tool_calls", [])] == calls
                assert [m["tool_call_id"] for m in norm if m["role"] == "tool"] == results
    # 13 records carry at least one of these; counted by hand from the file: input.messages in records
    # 1,3,7,9,10,11,12,13 (8), output.messages in the same 8, system_instructions in record 10 (1),
    # tool.definitions in records 4 and 7 (2): 8 + 8 + 1 + 2 = 19.
    assert checked == 19


def test_every_part_type_of_the_schema_normalises(external):
    """Build the smallest valid instance of each message part the schema defines; the normaliser
    keeps its text, tool call or tool result, and never crashes on the others."""
    schema = _schema(external, "gen-ai-input-messages.json")
    parts = {
        "TextPart": {"type": "text", "content": "hello"},
        "ToolCallRequestPart": {"type": "tool_call", "id": "c1", "name": "f", "arguments": {"a": 1}},
        "ToolCallResponsePart": {"type": "tool_call_response", "id": "c1", "response": {"ok": True}},
        "ServerToolCallPart": {"type": "server_tool_call", "id": "s1", "name": "web", "server_tool_call": {"type": "web_search"}},
        "ServerToolCallResponsePart": {"type": "server_tool_call_response", "id": "s1", "server_tool_call_response": {"type": "web_search"}},
        "BlobPart": {"type": "blob", "modality": "image", "content": "aGk=", "mime_type": "image/png"},
        "FilePart": {"type": "file", "modality": "image", "file_id": "file-1"},
        "UriPart": {"type": "uri", "modality": "image", "uri": "https://example.com/a.png"},
        "ReasoningPart": {"type": "reasoning", "content": "thinking"},
        "GenericPart": {"type": "custom_thing"},
    }
    defined = {k for k, v in schema["$defs"].items() if k.endswith("Part")}
    assert defined == set(parts)
    msgs = [{"role": "assistant", "parts": [p]} for p in parts.values()]
    jsonschema.validate(msgs, schema)
    norm = normalize_messages(msgs)
    assert norm[0]["content"] == "hello"
    assert norm[1]["tool_calls"] == [{"id": "c1", "name": "f", "arguments": {"a": 1}}]
    assert norm[2] == {"role": "tool", "content": '{"ok":true}', "tool_call_id": "c1"}
    assert norm[3]["tool_calls"][0]["server"] is True
    assert norm[5]["attachments"] == [{"type": "blob", "modality": "image", "mime_type": "image/png"}]   # no inline bytes
    assert norm[6]["attachments"] == [{"type": "file", "modality": "image", "file_id": "file-1"}]
    assert norm[8]["reasoning"] == "thinking"
    assert len(norm) == len(parts)
    assert normalize_system_instructions([{"type": "text", "content": "a"}, {"type": "text", "content": "b"}]) == [
        {"role": "system", "content": "a\nb"}]


def test_mime_type_plain_text_is_never_parsed():
    value = '{"text": "this JSON-looking text is the literal user input"}'
    sp = _span({"openinference.span.kind": "LLM", "input.value": value, "input.mime_type": "text/plain",
                "output.value": value, "output.mime_type": "text/plain"})
    assert (sp.input_text, sp.output_text, sp.input_messages) == (value, value, None)
    sp = _span({"openinference.span.kind": "LLM", "output.value": value, "output.mime_type": "application/json"})
    assert sp.output_text == "this JSON-looking text is the literal user input"


def test_out_of_range_numbers_are_dropped():
    sp = _span({"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": "1" * 30,
                "gen_ai.usage.output_tokens": 1e300, "gen_ai.usage.cost": "nan"})
    assert (sp.input_tokens, sp.output_tokens, sp.cost_usd) == (None, None, None)
    sp = _span({"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": "12", "gen_ai.usage.output_tokens": 3.0})
    assert (sp.input_tokens, sp.output_tokens) == (12, 3)


def test_map_span_survives_odd_value_shapes():
    """Seeded fuzz: every mapped key with values of the wrong shape; mapping never raises."""
    import random

    from tracemill.ingest.semconv import _DISPATCH

    keys = [*_DISPATCH, "openinference.span.kind", "gen_ai.operation.name", "ai.operationId", "ai.prompt",
            "ai.prompt.messages", "ai.response.toolCalls", "ai.values", "gen_ai.evaluation.name",
            "gen_ai.evaluation.score.value", "llm.input_messages.0.message.tool_calls.x.tool_call.id",
            "llm.output_messages.0.message.contents.a.message_content.text", "gen_ai.completion.0.tool_calls.0.name"]
    values = [None, 1, -5, 2.5, float("nan"), True, "", "x", "[1,2]", '{"a":1}', '[{"role":1}]', [1, 2], [[1]],
              {"a": {"b": 1}}, [{"role": None, "parts": "x"}], [{"parts": [1, None, {"type": "tool_call"}]}],
              [{"message": 5}], [{"tool_calls": [5, {"function": 5}]}], {"messages": 5}, "LLM", "chat",
              "execute_tool", "ai.generateText.doGenerate", '"q"']
    events = [None, [("gen_ai.choice", 1, {"message": "5"})], [("gen_ai.user.message", None, {"gen_ai.event.content": "[1]"})],
              [("gen_ai.choice", None, {"index": "x", "message": {"tool_calls": "[1]"}})],
              [("gen_ai.evaluation.result", None, {"gen_ai.evaluation.name": {"a": 1}, "gen_ai.evaluation.score.value": "x"})],
              [("gen_ai.client.inference.operation.details", None, {"gen_ai.input.messages": 5, "gen_ai.system_instructions": [5]})],
              [("exception", None, {"exception.message": 5})]]
    rng = random.Random(7)
    for _ in range(3000):
        attrs = {rng.choice(keys): rng.choice(values) for _ in range(rng.randint(1, 8))}
        sp = Span(trace_id="t" * 32, span_id="s" * 16, source="fuzz", status_code=rng.choice(["error", "ok"]))
        map_span(sp, attrs, rng.choice(events))
        assert sp.kind in {"llm", "tool", "agent", "chain", "retriever", "embedding", "reranker", "guardrail",
                           "evaluator", "unknown"}
