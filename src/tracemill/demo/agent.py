"""The demo support agent: a small deterministic stand-in (no LLM, fully offline) used as a python
target by the evals runner, with the two evaluators the demo scores it with.

``v1`` (production) understands English keywords only; ``v2`` (the candidate) also understands
Spanish, French and German, but "optimises" refunds by skipping the order lookup when the message
does not say "order" -- a regression the release gate should catch. ``right_tools`` (binary:
exactly the tools the intent needs) and ``brevity`` (numeric) score them.
"""

from __future__ import annotations

import re
from typing import Any

_ORDER_ID = re.compile(r"\b[A-Z]{2,4}-?\d{4,}\b")
# intent -> keywords, per language; checked in this order ("how long do refunds" is policy, not refund)
_KEYWORDS: list[tuple[str, dict[str, tuple[str, ...]]]] = [
    ("policy", {"en": ("return policy", "how long do refunds", "warranty", "do you ship", "ship to")}),
    ("refund", {"en": ("refund", "money back"), "de": ("rückerstattung",), "es": ("reembolso",), "fr": ("rembourse",)}),
    ("cancel", {"en": ("cancel",), "de": ("stornier",), "es": ("cancelar",), "fr": ("annuler",)}),
    ("address", {"en": ("address", "moved", "ship future orders"), "es": ("dirección",), "fr": ("adresse",)}),
    ("account", {"en": ("account", "email", "plan", "how many orders")}),
    ("order_status", {"en": ("where is", "status", "arrived", "delivered", "tracking", "supposed to be"),
                      "es": ("dónde", "pedido"), "fr": ("où en est", "commande")}),
]
TOOLS: dict[str, tuple[str, ...]] = {
    "order_status": ("lookup_order",), "refund": ("lookup_order", "refund_order"),
    "cancel": ("lookup_order", "cancel_order"), "address": ("get_customer", "update_address"),
    "policy": ("search_kb",), "account": ("get_customer",), "unknown": ("search_kb",),
}


def _user_text(inputs: dict[str, Any]) -> str:
    msgs = inputs.get("messages") or []
    for m in reversed(msgs):
        if isinstance(m, dict) and m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, list):  # semconv parts
                return " ".join(str(p.get("content") or p.get("text") or "") for p in content if isinstance(p, dict))
            return str(content or "")
    return str(inputs.get("input") or inputs.get("question") or "")


def intent(text: str, languages: tuple[str, ...] = ("en", "es", "fr", "de")) -> str:
    low = text.lower()
    for name, by_lang in _KEYWORDS:
        if any(k in low for lang in languages for k in by_lang.get(lang, ())):
            return name
    return "order_status" if _ORDER_ID.search(text) else "unknown"


def support_agent(inputs: dict[str, Any], *, version: str = "v1") -> tuple[str, list[dict[str, Any]]]:
    """The demo agent: pick tools for the request's intent and answer (a python target for the evals runner)."""
    text = _user_text(inputs)
    found = intent(text, ("en",) if version == "v1" else ("en", "es", "fr", "de"))
    tools = list(TOOLS[found])
    if version == "v2" and found == "refund" and not any(w in text.lower() for w in ("order", "bestellung")):
        tools.remove("lookup_order")  # the candidate's "optimisation": the regression to catch
    oid = m.group(0) if (m := _ORDER_ID.search(text)) else None
    trajectory = [{"name": t, "arguments": {"order_id": oid} if oid else {}} for t in tools]
    verbose = "Thank you for reaching out! I have looked into this for you. " if version == "v1" else ""
    return f"{verbose}Handled your {found.replace('_', ' ')} request" + (f" for {oid}." if oid else "."), trajectory


def right_tools(*, inputs: dict[str, Any], trajectory: list[dict[str, Any]] | None = None, **_: Any):
    """1 when the agent called exactly the tools the request's intent needs (any order)."""
    from tracemill.evals import EvalResult

    want = set(TOOLS[intent(_user_text(inputs))])
    got = {t.get("name") for t in trajectory or []}
    return EvalResult(key="right_tools", score=float(got == want), comment=f"want {sorted(want)}, got {sorted(got)}")


def brevity(*, outputs: Any, **_: Any):
    """Shorter answers score higher: 1 - len/200, clipped to [0, 1]."""
    from tracemill.evals import EvalResult

    n = len(str(outputs or ""))
    return EvalResult(key="brevity", score=max(0.0, min(1.0, 1 - n / 200)))
