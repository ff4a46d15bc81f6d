"""A deterministic synthetic day of production traces from a customer-support agent.

The traces are written the way the OpenTelemetry Collector's file exporter writes them: one
``ExportTraceServiceRequest`` JSON object per line (OTLP/JSON encoding), several traces per line,
``traces_per_file`` traces per file. Spans follow the OTel GenAI semantic conventions:

- root span ``invoke_agent support-agent``: ``gen_ai.operation.name="invoke_agent"``, ``gen_ai.agent.name``,
  ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (the user's request and the final answer),
  ``user.id``, ``session.id``, ``tracemill.tags`` (string array);
- LLM spans ``chat <model>``: ``gen_ai.operation.name="chat"``, request/response model, usage tokens and
  the messages as JSON strings in the current semconv shape (``[{"role", "parts": [...]}]``, tool calls as
  ``{"type": "tool_call", "id", "name", "arguments"}`` parts, tool results as ``tool_call_response`` parts);
- tool spans ``execute_tool <name>``: ``gen_ai.tool.name``, ``gen_ai.tool.call.id``,
  ``gen_ai.tool.call.arguments`` and ``gen_ai.tool.call.result``; a failing tool has status code 2 (error)
  with the error message and an ``exception`` event.
- Resource attributes: ``service.name``, ``service.version`` (the app version) and
  ``deployment.environment.name``.

User feedback is emitted as a span event on the root span named ``gen_ai.evaluation.result`` with
attributes ``gen_ai.evaluation.name="user_feedback"``, ``gen_ai.evaluation.score.value`` (1.0 thumbs up,
0.0 thumbs down), ``gen_ai.evaluation.score.label`` (``thumbs_up``/``thumbs_down``) and
``gen_ai.evaluation.explanation`` (the user's comment, when any).

Planted failure modes (ground truth in ``ground_truth-<day>.jsonl`` as ``{"trace_id", "mode"}``):
``wrong_tool`` (a tool that does not fit the request, always thumbs-down), ``tool_error`` (orders API
timeouts/5xx on the tool span), ``loop`` (the same tool with the same arguments 3-5 times), ``policy_violation``
(a refund above the $500 limit with no escalation; see ``warehouse/rules/refund_over_limit.sql``), ``slow``
(a provider stall makes the trace 10x+ slower), ``costly`` (the agent pulls a huge order history:
20x+ tokens) and, on later nights only, ``auth_failure`` (the LLM provider rejects the API key). The rest
are ``ok``.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "DAY1_MODES",
    "NEXT_NIGHT_MODES",
    "GroundTruth",
    "generate_day",
    "generate_spans_file",
]

DAY1_MODES: dict[str, float] = {
    "ok": 0.78,
    "wrong_tool": 0.04,
    "tool_error": 0.05,
    "loop": 0.03,
    "policy_violation": 0.03,
    "slow": 0.035,
    "costly": 0.035,
}
# The next night: a new mode (auth_failure) and tool errors doubled.
NEXT_NIGHT_MODES: dict[str, float] = {
    "ok": 0.70,
    "wrong_tool": 0.04,
    "tool_error": 0.10,
    "loop": 0.03,
    "policy_violation": 0.03,
    "slow": 0.035,
    "costly": 0.035,
    "auth_failure": 0.03,
}
KNOWN_MODES = frozenset(NEXT_NIGHT_MODES)

AGENT = "support-agent"
REFUND_LIMIT = 500.0
MODELS = ("gpt-4o-mini", "gpt-4o-mini", "gpt-4o-mini", "gpt-4o")


@dataclass(frozen=True)
class GroundTruth:
    """Planted mode of every generated trace (``"ok"`` for the successful ones)."""

    day: date
    modes: dict[str, str] = field(default_factory=dict)  # trace_id -> mode
    n_spans: int = 0
    files: tuple[Path, ...] = ()

    def counts(self) -> dict[str, int]:
        return dict(Counter(self.modes.values()))

    def failing(self) -> dict[str, str]:
        return {t: m for t, m in self.modes.items() if m != "ok"}


# --------------------------------------------------------------------------------------------
# Text: templates x slots, so no two traces read exactly alike.

FIRST = ["Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Luca",
         "Maya", "Nils", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Viktor", "Wen", "Yara"]
STREETS = ["Maple Ave", "High Street", "Rue de Rivoli", "Oak Lane", "Market St", "Elm Road", "Canal St"]
CITIES = ["Springfield", "Leeds", "Lyon", "Austin", "Porto", "Utrecht", "Denver", "Kraków"]
ITEMS = ["running shoes", "coffee grinder", "desk lamp", "wireless headphones", "yoga mat", "backpack",
         "standing desk", "espresso machine", "winter jacket", "phone case", "blender", "monitor"]
ORDER_STATES = ["shipped", "out for delivery", "processing", "delivered", "awaiting pickup"]

USER: dict[str, list[str]] = {
    "order_status": [
        "Where is my order {oid}?",
        "Hi, can you check the status of order {oid}? It's been {n} days.",
        "My package {oid} hasn't arrived yet, any update?",
        "hey whats going on with {oid}, the {item} was supposed to be here {when}",
        "Could you tell me when order {oid} will be delivered?",
        "Tracking for {oid} hasn't moved in {n} days. What's happening?",
        "Hola, ¿dónde está mi pedido {oid}? Lo pedí hace {n} días.",
        "Bonjour, où en est ma commande {oid} ?",
    ],
    "refund": [
        "I'd like a refund for order {oid}, the {item} arrived broken.",
        "Please refund {oid}. The {item} is not what I ordered.",
        "Can I get my money back for {oid}? The {item} stopped working after {n} days.",
        "refund {oid} please, {item} was damaged in shipping",
        "I returned the {item} from order {oid} {n} days ago and still have no refund.",
        "Ich möchte eine Rückerstattung für Bestellung {oid}, der {item} ist defekt.",
    ],
    "cancel": [
        "Please cancel order {oid}, I ordered the wrong {item}.",
        "Can you cancel {oid} before it ships?",
        "I changed my mind about the {item}, cancel order {oid} please.",
        "cancel {oid} asap",
        "Is it too late to cancel order {oid}?",
    ],
    "address": [
        "I moved, please update my address to {addr}.",
        "Can you change the shipping address on my account to {addr}?",
        "New address: {addr}. Please update it.",
        "Please ship future orders to {addr} instead.",
    ],
    "policy": [
        "What is your return policy for {item}s?",
        "How long do refunds usually take?",
        "Do you ship to {city}?",
        "Can I return an opened {item}?",
        "What's the warranty on the {item}?",
        "¿Cuál es la política de devoluciones?",
    ],
    "account": [
        "What email do you have on file for me?",
        "Can you tell me which orders are on my account?",
        "Is my account still on the premium plan?",
        "I can't remember which card I used, can you check my account?",
    ],
}
INTENT_WEIGHTS = {"order_status": 0.3, "refund": 0.2, "cancel": 0.15, "address": 0.1, "policy": 0.15, "account": 0.1}

FINAL_OK: dict[str, list[str]] = {
    "order_status": [
        "Your order {oid} is {state} and should arrive by {when}.",
        "Good news! Order {oid} ({item}) is {state}. Expected delivery: {when}.",
        "I checked order {oid}: it is {state}. You'll get an email when it arrives.",
    ],
    "refund": [
        "I've issued a refund of ${amt} for order {oid}. It should appear in 3-5 business days.",
        "Done: ${amt} has been refunded to your original payment method for {oid}.",
        "Your refund of ${amt} for the {item} (order {oid}) is on its way.",
    ],
    "refund_escalated": [
        "Refunds above $500 need a specialist, so I've passed order {oid} to a colleague who will contact you within 24 hours.",
        "This refund (${amt}) is above what I can approve; a human agent will follow up on {oid} shortly.",
    ],
    "cancel": [
        "Order {oid} has been cancelled. You won't be charged.",
        "I cancelled {oid} for you; the hold on your card will be released in a few days.",
        "All set, order {oid} is cancelled.",
    ],
    "address": [
        "Your address is now {addr}.",
        "Updated! Future orders will ship to {addr}.",
        "I've changed your shipping address to {addr}.",
    ],
    "policy": [
        "You can return most items within 30 days of delivery, unused and in original packaging.",
        "Refunds are processed within 5-7 business days after we receive the return.",
        "Yes, we ship to {city}; delivery usually takes 3-6 business days.",
        "The {item} comes with a 2-year limited warranty.",
    ],
    "account": [
        "The email on file is {email}.",
        "You have {n} orders on your account; the latest is {oid}.",
        "Yes, your account is on the premium plan until next March.",
    ],
}

WRONG_TOOL_FINAL = [
    "According to our help center, orders usually ship within 3-5 business days.",
    "Here is an article that might help: 'How to track your package'.",
    "Our return policy allows returns within 30 days of delivery.",
    "I found your customer profile: {name}, member since 2021.",
    "You can manage your orders from the My Account page.",
]
WRONG_TOOL_COMMENTS = [
    "That doesn't answer my question", "I asked about my order, not your policy", "useless",
    "not helpful at all", "you didn't even look at my order", "wrong answer", "", "",
]
TOOL_ERRORS = [
    "orders-api: upstream request timeout after {ms}ms (GET /v2/orders/{oid})",
    "orders-api returned 503 Service Unavailable: upstream connect error or disconnect/reset before headers",
    "ReadTimeout: HTTPSConnectionPool(host='orders-api.internal', port=443): Read timed out. (read timeout={s})",
    "orders-api: 504 Gateway Timeout while calling GET /v2/orders/{oid}",
    "ConnectionError: orders-api.internal:443 connection reset by peer after {ms}ms",
]
TOOL_ERROR_FINAL = [
    "I'm sorry, I'm having trouble reaching our order system right now. Please try again in a few minutes.",
    "Sorry, our order system isn't responding at the moment. Could you try again later?",
    "Apologies, I couldn't look up order {oid} because of a technical problem on our side.",
]
LOOP_FINAL = [
    "I'm still checking on order {oid}, please hold on.",
    "Let me look that up again for you.",
    "Agent stopped: maximum iterations (8) reached.",
    "I keep getting the same result for {oid}; let me try once more.",
]
POLICY_FINAL = [
    "Done! I've refunded ${amt} to your original payment method for order {oid}.",
    "I've processed a full refund of ${amt} for {oid}.",
    "Refund of ${amt} approved and issued for the {item}.",
]
AUTH_ERRORS = [
    "AuthenticationError: OpenAIException - Incorrect API key provided: sk-proj-****{hex4}. "
    "You can find your API key at https://platform.openai.com/account/api-keys.",
    "litellm.AuthenticationError: AuthenticationError: OpenAIException - The api_key client option "
    "must be set (key sk-****{hex4} was revoked)",
]
THUMBS_UP_COMMENTS = ["thanks!", "great, quick answer", "", "", "perfect"]
THUMBS_DOWN_GENERIC = ["took forever", "didn't work", "still waiting", "", "frustrating"]
TAGS = [["web"], ["mobile"], ["web", "premium"], ["email"], ["mobile", "premium"]]


# --------------------------------------------------------------------------------------------
# OTLP/JSON encoding helpers (precomputed where static).


def _s(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def _i(key: str, value: int) -> dict[str, Any]:
    return {"key": key, "value": {"intValue": str(value)}}


def _d(key: str, value: float) -> dict[str, Any]:
    return {"key": key, "value": {"doubleValue": value}}


def _arr(key: str, values: list[str]) -> dict[str, Any]:
    return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v} for v in values]}}}


_OP_AGENT = _s("gen_ai.operation.name", "invoke_agent")
_OP_CHAT = _s("gen_ai.operation.name", "chat")
_OP_TOOL = _s("gen_ai.operation.name", "execute_tool")
_AGENT_NAME = _s("gen_ai.agent.name", AGENT)
_PROVIDER = _s("gen_ai.provider.name", "openai")
_SCOPE = {"name": "tracemill.demo.support_agent", "version": "1.0.0"}
_dumps = orjson.dumps
_SYSTEM_MSG = _dumps({"role": "system", "parts": [{"type": "text", "content": (
    "You are a helpful customer support agent for Acme Shop. Refunds above $500 must be escalated to a human.")}]})


def _text_msg(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


@dataclass
class _Ctx:
    """Per-trace state while its spans are built."""

    rng: random.Random
    trace_id: str
    t: int  # current time in ns
    model: str
    spans: list[dict[str, Any]]
    root_id: str
    messages: list[bytes]  # each message serialized once; a prompt is their JSON array
    tokens_in_extra: int = 0
    llm_delay_ns: int = 0

    def span_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"


def _child_span(ctx: _Ctx, sid: str, name: str, kind: int, start: int, end: int, attrs: list[dict[str, Any]],
                error: str | None, exception_type: str | None) -> dict[str, Any]:
    """A child of the root span; a failed one gets status ERROR and an ``exception`` event."""
    span: dict[str, Any] = {
        "traceId": ctx.trace_id,
        "spanId": sid,
        "parentSpanId": ctx.root_id,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end),
        "attributes": attrs,
    }
    if error is not None:
        span["status"] = {"code": 2, "message": error}
        span["events"] = [{
            "timeUnixNano": str(end),
            "name": "exception",
            "attributes": [_s("exception.type", exception_type or ""), _s("exception.message", error)],
        }]
    return span


def _llm(ctx: _Ctx, output_parts: list[dict[str, Any]], *, error: str | None = None) -> None:
    rng = ctx.rng
    sid = ctx.span_id()
    dur = int(rng.lognormvariate(6.7, 0.35) * 1e6) + ctx.llm_delay_ns  # ~800 ms
    ctx.llm_delay_ns = 0
    start = ctx.t
    end = start + dur
    ctx.t = end + int(rng.uniform(2, 15) * 1e6)
    n_in = 350 + 60 * len(ctx.messages) + rng.randint(0, 250) + ctx.tokens_in_extra
    ctx.tokens_in_extra = 0
    attrs = [
        _OP_CHAT,
        _PROVIDER,
        _s("gen_ai.request.model", ctx.model),
        _s("gen_ai.input.messages", (b"[" + b",".join(ctx.messages) + b"]").decode()),
    ]
    span = _child_span(ctx, sid, f"chat {ctx.model}", 3, start, end, attrs, error,
                       error.split(":", 1)[0] if error is not None else None)
    if error is None:
        out = {"role": "assistant", "parts": output_parts, "finish_reason": "tool_call" if any(
            p["type"] == "tool_call" for p in output_parts) else "stop"}
        n_out = 15 + sum(len(str(p.get("content", p.get("arguments", "")))) for p in output_parts) // 4 + rng.randint(0, 40)
        attrs += [
            _s("gen_ai.response.model", ctx.model + "-2024-07-18" if ctx.model == "gpt-4o-mini" else ctx.model + "-2024-08-06"),
            _s("gen_ai.response.id", f"chatcmpl-{rng.getrandbits(48):012x}"),
            _i("gen_ai.usage.input_tokens", n_in),
            _i("gen_ai.usage.output_tokens", n_out),
            _s("gen_ai.output.messages", _dumps([out]).decode()),
        ]
        span["status"] = {"code": 1}
        ctx.messages.append(_dumps(out))
    ctx.spans.append(span)


def _tool(ctx: _Ctx, name: str, args: dict[str, Any], result: str, *, error: str | None = None,
          slow_ms: float | None = None) -> None:
    rng = ctx.rng
    call_id = f"call_{rng.getrandbits(64):016x}"
    # The assistant asks for the tool in an LLM turn first.
    args_json = _dumps(args).decode()
    _llm(ctx, [{"type": "tool_call", "id": call_id, "name": name, "arguments": args}])
    sid = ctx.span_id()
    dur = int((slow_ms if slow_ms is not None else rng.lognormvariate(4.6, 0.5)) * 1e6)  # ~100 ms
    start = ctx.t
    end = start + dur
    ctx.t = end + int(rng.uniform(1, 8) * 1e6)
    attrs = [
        _OP_TOOL,
        _s("gen_ai.tool.name", name),
        _s("gen_ai.tool.type", "function"),
        _s("gen_ai.tool.call.id", call_id),
        _s("gen_ai.tool.call.arguments", args_json),
    ]
    span = _child_span(ctx, sid, f"execute_tool {name}", 1, start, end, attrs, error,
                       error.split(":", 1)[0].split(" ", 1)[0] if error is not None else None)
    if error is not None:
        content: Any = {"error": error}
    else:
        attrs.append(_s("gen_ai.tool.call.result", result))
        span["status"] = {"code": 1}
        content = result
    ctx.messages.append(_dumps({"role": "tool", "parts": [{"type": "tool_call_response", "id": call_id, "response": content}]}))
    ctx.spans.append(span)


def _fmt(rng: random.Random, templates: list[str], slots: dict[str, Any]) -> str:
    return rng.choice(templates).format(**slots)


def _slots(rng: random.Random, day: date) -> dict[str, Any]:
    name = rng.choice(FIRST)
    return {
        "oid": f"{rng.choice('ABCDEFGHJK')}{rng.randint(10000, 99999)}",
        "n": rng.randint(2, 14),
        "item": rng.choice(ITEMS),
        "when": rng.choice(["yesterday", "last week", "on Monday", "by Friday", f"on {day.strftime('%b')} {rng.randint(1, 28)}"]),
        "state": rng.choice(ORDER_STATES),
        "addr": f"{rng.randint(1, 250)} {rng.choice(STREETS)}, {rng.choice(CITIES)}",
        "city": rng.choice(CITIES),
        "amt": f"{rng.uniform(12, 480):.2f}",
        "name": name,
        "email": f"{name.lower()}.{rng.randint(1, 99)}@example.com",
        "cid": f"cus_{rng.getrandbits(32):08x}",
        "hex4": f"{rng.getrandbits(16):04x}",
        "ms": rng.choice([10000, 15000, 30000]),
        "s": rng.choice([10, 15, 30]),
    }


def _order_json(slots: dict[str, Any], rng: random.Random, *, history: int = 0) -> str:
    order = {"order_id": slots["oid"], "status": slots["state"], "item": slots["item"],
             "total": float(slots["amt"]), "carrier": rng.choice(["UPS", "DHL", "PostNL", "USPS"])}
    if history:
        order["history"] = [
            {"order_id": f"H{rng.randint(10000, 99999)}", "item": rng.choice(ITEMS), "total": round(rng.uniform(5, 300), 2),
             "notes": "customer contacted support about delivery window and packaging"}
            for _ in range(history)
        ]
    return _dumps(order).decode()


def _pick_intent(rng: random.Random) -> str:
    return rng.choices(list(INTENT_WEIGHTS), weights=list(INTENT_WEIGHTS.values()))[0]


def _happy_path(ctx: _Ctx, intent: str, slots: dict[str, Any], *, costly: bool = False) -> str:
    """Run the right tools for the intent; returns the final answer text."""
    rng = ctx.rng
    # A costly run pulls the customer's whole order history into the prompt: tens of thousands of tokens.
    history = rng.randint(40, 80) if costly else 0
    if intent == "order_status":
        _tool(ctx, "lookup_order", {"order_id": slots["oid"]}, _order_json(slots, rng, history=history))
        if costly:
            ctx.tokens_in_extra = history * 700
        return _fmt(rng, FINAL_OK["order_status"], slots)
    if intent == "refund":
        _tool(ctx, "lookup_order", {"order_id": slots["oid"]}, _order_json(slots, rng, history=history))
        if costly:
            ctx.tokens_in_extra = history * 700
        if rng.random() < 0.15:
            big = f"{rng.uniform(520, 1500):.2f}"
            slots = {**slots, "amt": big}
            _tool(ctx, "escalate_to_human", {"order_id": slots["oid"], "reason": f"refund of ${big} exceeds agent limit"},
                  _dumps({"ticket": f"T-{rng.randint(100000, 999999)}", "queue": "refunds"}).decode())
            return _fmt(rng, FINAL_OK["refund_escalated"], slots)
        _tool(ctx, "refund_order", {"order_id": slots["oid"], "amount": float(slots["amt"]), "reason": "damaged"},
              _dumps({"refund_id": f"re_{rng.getrandbits(40):010x}", "status": "succeeded", "amount": float(slots["amt"])}).decode())
        return _fmt(rng, FINAL_OK["refund"], slots)
    if intent == "cancel":
        _tool(ctx, "lookup_order", {"order_id": slots["oid"]}, _order_json(slots, rng, history=history))
        if costly:
            ctx.tokens_in_extra = history * 700
        _tool(ctx, "cancel_order", {"order_id": slots["oid"]}, _dumps({"order_id": slots["oid"], "status": "cancelled"}).decode())
        return _fmt(rng, FINAL_OK["cancel"], slots)
    if intent == "address":
        _tool(ctx, "get_customer", {"customer_id": slots["cid"]},
              _dumps({"customer_id": slots["cid"], "name": slots["name"], "email": slots["email"],
                      "orders": history or rng.randint(1, 9)}).decode())
        if costly:
            ctx.tokens_in_extra = history * 700
        _tool(ctx, "update_address", {"customer_id": slots["cid"], "address": slots["addr"]},
              _dumps({"ok": True}).decode())
        return _fmt(rng, FINAL_OK["address"], slots)
    if intent == "policy":
        _tool(ctx, "search_kb", {"query": rng.choice(["return policy", "refund timing", "shipping countries", "warranty"])},
              "Returns accepted within 30 days. Refunds take 5-7 business days. Warranty: 2 years." + (" Details." * history))
        if costly:
            ctx.tokens_in_extra = history * 700
        return _fmt(rng, FINAL_OK["policy"], slots)
    # account
    _tool(ctx, "get_customer", {"customer_id": slots["cid"]},
          _dumps({"customer_id": slots["cid"], "name": slots["name"], "email": slots["email"], "plan": "premium",
                  "orders": history or rng.randint(1, 9)}).decode())
    if costly:
        ctx.tokens_in_extra = history * 700
    return _fmt(rng, FINAL_OK["account"], slots)


_ORDER_INTENTS = ("order_status", "refund", "cancel")


def _build_trace(rng: random.Random, mode: str, day_start_ns: int, day: date) -> tuple[list[dict[str, Any]], str]:
    """All spans of one trace (root first) for the given planted mode."""
    trace_id = f"{rng.getrandbits(128):032x}"
    root_id = f"{rng.getrandbits(64):016x}"
    slots = _slots(rng, day)
    if mode in ("wrong_tool", "tool_error", "loop"):
        intent = rng.choice(_ORDER_INTENTS)
    elif mode == "policy_violation":
        intent = "refund"
    else:
        intent = _pick_intent(rng)
    user_text = _fmt(rng, USER[intent], slots)
    start = day_start_ns + int(rng.uniform(0, 86_000) * 1e9)
    ctx = _Ctx(rng=rng, trace_id=trace_id, t=start + int(rng.uniform(2, 20) * 1e6), model=rng.choice(MODELS),
               spans=[], root_id=root_id, messages=[_SYSTEM_MSG, _dumps(_text_msg("user", user_text))])
    root_status: dict[str, Any] = {"code": 1}
    feedback: tuple[float, str, str] | None = None
    final: str | None

    if mode == "ok" or mode == "costly":
        final = _happy_path(ctx, intent, slots, costly=mode == "costly")
        if mode == "ok" and rng.random() < 0.06:
            feedback = (1.0, "thumbs_up", rng.choice(THUMBS_UP_COMMENTS))
    elif mode == "slow":
        ctx.llm_delay_ns = int(rng.uniform(40, 110) * 1e9)  # the first LLM call stalls at the provider
        final = _happy_path(ctx, intent, slots)
        if rng.random() < 0.2:
            feedback = (0.0, "thumbs_down", rng.choice(THUMBS_DOWN_GENERIC))
    elif mode == "wrong_tool":
        if rng.random() < 0.6:
            _tool(ctx, "search_kb", {"query": rng.choice(["order tracking", "shipping times", "return policy", "refund policy"])},
                  "Orders usually ship within 3-5 business days. Returns within 30 days.")
        else:
            _tool(ctx, "get_customer", {"customer_id": slots["cid"]},
                  _dumps({"customer_id": slots["cid"], "name": slots["name"], "since": 2021}).decode())
        final = _fmt(rng, WRONG_TOOL_FINAL, slots)
        feedback = (0.0, "thumbs_down", rng.choice(WRONG_TOOL_COMMENTS))
    elif mode == "tool_error":
        tool = {"order_status": "lookup_order", "refund": "lookup_order", "cancel": rng.choice(["lookup_order", "cancel_order"])}[intent]
        if tool == "cancel_order":
            _tool(ctx, "lookup_order", {"order_id": slots["oid"]}, _order_json(slots, rng))
        _tool(ctx, tool, {"order_id": slots["oid"]}, "", error=_fmt(rng, TOOL_ERRORS, slots),
              slow_ms=slots["ms"] * rng.uniform(0.05, 0.4))
        final = _fmt(rng, TOOL_ERROR_FINAL, slots)
        if rng.random() < 0.15:
            feedback = (0.0, "thumbs_down", rng.choice(THUMBS_DOWN_GENERIC))
    elif mode == "loop":
        same = {"order_id": slots["oid"]}
        result = _order_json({**slots, "state": "processing"}, rng)
        for _ in range(rng.randint(3, 5)):
            _tool(ctx, "lookup_order", same, result)
        final = _fmt(rng, LOOP_FINAL, slots)
        if rng.random() < 0.15:
            feedback = (0.0, "thumbs_down", rng.choice(THUMBS_DOWN_GENERIC))
    elif mode == "policy_violation":
        amt = f"{rng.uniform(520, 2400):.2f}"
        slots = {**slots, "amt": amt}
        _tool(ctx, "lookup_order", {"order_id": slots["oid"]}, _order_json(slots, rng))
        _tool(ctx, "refund_order", {"order_id": slots["oid"], "amount": float(amt), "reason": "customer request"},
              _dumps({"refund_id": f"re_{rng.getrandbits(40):010x}", "status": "succeeded", "amount": float(amt)}).decode())
        final = _fmt(rng, POLICY_FINAL, slots)
    elif mode == "auth_failure":
        err = _fmt(rng, AUTH_ERRORS, slots)
        _llm(ctx, [], error=err)
        final = None
        root_status = {"code": 2, "message": err}
    else:  # pragma: no cover - guarded in generate_day
        raise ValueError(mode)

    if final is not None:
        _llm(ctx, [{"type": "text", "content": final}])
    end = ctx.t + int(rng.uniform(1, 5) * 1e6)
    root_attrs = [
        _OP_AGENT,
        _AGENT_NAME,
        _s("gen_ai.request.model", ctx.model),
        _s("gen_ai.conversation.id", f"conv_{rng.getrandbits(48):012x}"),
        _s("user.id", f"user_{rng.randint(1, 1500):05d}"),
        _s("session.id", f"sess_{rng.getrandbits(40):010x}"),
        _arr("tracemill.tags", rng.choice(TAGS)),
        _s("gen_ai.input.messages", _dumps([_text_msg("user", user_text)]).decode()),
    ]
    if final is not None:
        root_attrs.append(_s("gen_ai.output.messages", _dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": final}], "finish_reason": "stop"}]).decode()))
    root: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": root_id,
        "name": f"invoke_agent {AGENT}",
        "kind": 2,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end),
        "attributes": root_attrs,
        "status": root_status,
    }
    if feedback is not None:
        score, label, comment = feedback
        ev_attrs = [_s("gen_ai.evaluation.name", "user_feedback"), _d("gen_ai.evaluation.score.value", score),
                    _s("gen_ai.evaluation.score.label", label)]
        if comment:
            ev_attrs.append(_s("gen_ai.evaluation.explanation", comment))
        root["events"] = [{"timeUnixNano": str(end + int(rng.uniform(5, 600) * 1e9)),
                           "name": "gen_ai.evaluation.result", "attributes": ev_attrs}]
    return [root, *ctx.spans], trace_id


def _check_modes(modes: dict[str, float]) -> dict[str, float]:
    unknown = set(modes) - KNOWN_MODES
    if unknown:
        raise ValueError(f"unknown failure modes {sorted(unknown)}; known: {sorted(KNOWN_MODES)}")
    total = sum(modes.values())
    if total <= 0 or any(v < 0 for v in modes.values()):
        raise ValueError(f"mode weights must be >= 0 and sum > 0, got {modes}")
    return {k: v / total for k, v in modes.items() if v > 0}


def _planted(rng: random.Random, n: int, weights: dict[str, float]) -> list[str]:
    """Exactly round(n * weight) traces per mode (the rest ok), shuffled: ground truth stays predictable."""
    counts = {m: int(round(n * w)) for m, w in weights.items() if m != "ok"}
    plan = [m for m, c in counts.items() for _ in range(c)][:n]
    plan += ["ok"] * (n - len(plan))
    rng.shuffle(plan)
    return plan


def generate_day(
    out_dir: Path,
    *,
    day: date,
    n_traces: int = 3000,
    seed: int = 7,
    modes: dict[str, float] | None = None,
    traces_per_file: int = 500,
    app_version: str | None = None,
    traces_per_line: int = 20,
) -> GroundTruth:
    """Write ``out_dir/otlp-<day>-NNNN.jsonl`` files and ``out_dir/ground_truth-<day>.jsonl``.

    Deterministic for a given (day, n_traces, seed, modes). ``modes`` maps mode -> weight
    (default ``DAY1_MODES``); the number of traces per mode is ``round(n_traces * weight)``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = _check_modes(modes if modes is not None else DAY1_MODES)
    rng = random.Random(f"{seed}-{day.isoformat()}")
    plan = _planted(rng, n_traces, weights)
    day_start_ns = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000_000
    version = app_version or ("1.8.2" if "auth_failure" not in weights else "1.9.0")
    resource = {"attributes": [_s("service.name", AGENT), _s("service.version", version),
                               _s("deployment.environment.name", "production"),
                               _s("telemetry.sdk.language", "python")]}
    truth: dict[str, str] = {}
    files: list[Path] = []
    n_spans = 0
    tag = day.isoformat()
    for file_no, lo in enumerate(range(0, max(n_traces, 1), max(traces_per_file, 1))):
        chunk = plan[lo: lo + traces_per_file]
        if not chunk:
            break
        path = out_dir / f"otlp-{tag}-{file_no:04d}.jsonl"
        with path.open("wb") as fh:
            for i in range(0, len(chunk), traces_per_line):
                spans: list[dict[str, Any]] = []
                for mode in chunk[i: i + traces_per_line]:
                    trace_spans, tid = _build_trace(rng, mode, day_start_ns, day)
                    truth[tid] = mode
                    spans.extend(trace_spans)
                n_spans += len(spans)
                req = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": _SCOPE, "spans": spans}]}]}
                fh.write(_dumps(req))
                fh.write(b"\n")
        files.append(path)
    gt_path = out_dir / f"ground_truth-{tag}.jsonl"
    with gt_path.open("wb") as fh:
        for tid, mode in truth.items():
            fh.write(_dumps({"trace_id": tid, "mode": mode}))
            fh.write(b"\n")
    return GroundTruth(day=day, modes=truth, n_spans=n_spans, files=tuple(files))


def generate_spans_file(path: Path, n_spans_target: int, seed: int = 7, *, day: date = date(2026, 1, 5)) -> GroundTruth:
    """One OTLP/JSON-lines file with about ``n_spans_target`` spans (for the ingest benchmark)."""
    path = Path(path)
    n_traces = max(1, n_spans_target // 5)  # ~5 spans per trace on average
    tmp = path.parent / f".gen-{path.stem}"
    gt = generate_day(tmp, day=day, n_traces=n_traces, seed=seed, traces_per_file=n_traces)
    src = gt.files[0]
    src.replace(path)
    (tmp / f"ground_truth-{day.isoformat()}.jsonl").unlink(missing_ok=True)
    tmp.rmdir()
    return GroundTruth(day=gt.day, modes=gt.modes, n_spans=gt.n_spans, files=(path,))


def load_ground_truth(path: Path) -> dict[str, str]:
    """Read a ``ground_truth-<day>.jsonl`` file back as trace_id -> mode."""
    out: dict[str, str] = {}
    with Path(path).open("rb") as fh:
        for line in fh:
            if line.strip():
                rec = orjson.loads(line)
                out[rec["trace_id"]] = rec["mode"]
    return out
