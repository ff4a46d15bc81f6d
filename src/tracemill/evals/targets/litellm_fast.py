"""The one place tracemill calls litellm for targets: a lean ``acompletion`` and error mapping.

litellm does a lot per call besides the HTTP request (logging objects, callbacks, cost
bookkeeping, debug info). ``configure()`` turns off what an offline eval does not need; the
returned response is reduced to plain dicts. Retries are ours (``max_retries=0`` here), so that
only transient errors are retried and Retry-After is honoured.
"""

from __future__ import annotations

import contextvars
import json
import os
from functools import lru_cache
from typing import Any

from tracemill.errors import TransientError

_configured = False
# Set only while one of our calls runs (per asyncio task), so other litellm users in the same
# process keep litellm's full bookkeeping.
_LEAN: contextvars.ContextVar[bool] = contextvars.ContextVar("tracemill_lean_litellm", default=False)


def _install_lean_hooks() -> None:
    """Skip litellm's response-metadata (cost recomputation) and success-logging dispatch for our calls.

    We price calls ourselves (``cost_of``) and register no callbacks, so both are pure overhead
    here: together about half of litellm's CPU per call in a profile of this runner.
    """
    import litellm.utils as lu

    if getattr(lu, "_tracemill_lean", False):
        return
    original_update = lu.update_response_metadata
    original_dispatch = lu.dispatch_success_logging

    def update_response_metadata(*args: Any, **kwargs: Any) -> None:
        if _LEAN.get():
            return None
        return original_update(*args, **kwargs)

    def dispatch_success_logging(*args: Any, **kwargs: Any) -> None:
        if _LEAN.get():
            return None
        return original_dispatch(*args, **kwargs)

    lu.update_response_metadata = update_response_metadata
    lu.dispatch_success_logging = dispatch_success_logging
    lu._tracemill_lean = True


def configure() -> Any:
    """Import litellm once with its per-call extras switched off; returns the module."""
    global _configured
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import litellm

    if not _configured:
        litellm.telemetry = False
        litellm.suppress_debug_info = True
        litellm.set_verbose = False
        litellm.drop_params = True
        litellm.success_callback = []
        litellm.failure_callback = []
        litellm.callbacks = []
        litellm._async_success_callback = []
        litellm._async_failure_callback = []
        _install_lean_hooks()
        _configured = True
    return litellm


def _plain_message(message: Any) -> dict[str, Any]:
    calls = []
    for c in getattr(message, "tool_calls", None) or []:
        fn = c.function
        calls.append({"id": c.id or "", "type": "function", "function": {"name": fn.name, "arguments": fn.arguments or "{}"}})
    out: dict[str, Any] = {"role": "assistant", "content": message.content}
    if calls:
        out["tool_calls"] = calls
    return out


async def acompletion(**kwargs: Any) -> dict[str, Any]:
    """``litellm.acompletion`` without litellm's own retries; returns {choices: [{message, finish_reason}], usage}."""
    litellm = configure()
    kwargs.setdefault("max_retries", 0)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    token = _LEAN.set(True)
    try:
        response = await litellm.acompletion(**kwargs)
    finally:
        _LEAN.reset(token)
    usage = getattr(response, "usage", None)
    choice = response.choices[0]
    return {
        "choices": [{"message": _plain_message(choice.message), "finish_reason": choice.finish_reason}],
        "usage": {
            "prompt_tokens": getattr(usage, "prompt_tokens", None),
            "completion_tokens": getattr(usage, "completion_tokens", None),
        },
    }


def _header(exc: Exception, name: str) -> str | None:
    for attr in ("litellm_response_headers", "headers"):
        headers = getattr(exc, attr, None)
        if headers is not None:
            try:
                value = headers.get(name)
            except AttributeError:
                value = None
            if value is not None:
                return str(value)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return headers.get(name) if headers is not None else None


def retry_after_seconds(exc: Exception) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``Retry-After``), if any."""
    ms = _header(exc, "retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = _header(exc, "retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            return None  # an HTTP date: fall back to our own backoff
    return None


def _caused_by_bad_json(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, json.JSONDecodeError):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


def classify_error(exc: Exception) -> Exception:
    """TransientError for timeouts, 429, 5xx and connection errors; the original error otherwise."""
    import litellm

    if isinstance(exc, TransientError):
        return exc
    if isinstance(exc, (litellm.Timeout, TimeoutError)):
        return TransientError(f"timeout: {exc}")
    if isinstance(exc, litellm.RateLimitError):
        return TransientError(f"rate limited (429): {str(exc)[:200]}", retry_after=retry_after_seconds(exc))
    status = getattr(exc, "status_code", None)
    # litellm reports an unparseable 200 body as a 500; that is a broken response, not a server error.
    if _caused_by_bad_json(exc) or "Received response - <APIResponse [200" in str(exc):
        return exc
    if isinstance(exc, (litellm.APIConnectionError, litellm.ServiceUnavailableError, litellm.InternalServerError)) or (
        isinstance(status, int) and 500 <= status < 600
    ):
        return TransientError(f"server error ({status}): {str(exc)[:200]}", retry_after=retry_after_seconds(exc))
    return exc


@lru_cache(maxsize=256)
def _known_price(model: str) -> tuple[float, float] | None:
    litellm = configure()
    try:
        info = litellm.get_model_info(model)
    except Exception:
        return None
    return float(info.get("input_cost_per_token") or 0.0), float(info.get("output_cost_per_token") or 0.0)


def cost_of(model: str, input_tokens: int, output_tokens: int, prices: dict[str, float] | None = None) -> float | None:
    """USD for one call: explicit prices first, else litellm's offline cost map; None when unknown."""
    if prices:
        return input_tokens * prices.get("input_cost_per_token", 0.0) + output_tokens * prices.get("output_cost_per_token", 0.0)
    known = _known_price(model)
    if known is None:
        return None
    return input_tokens * known[0] + output_tokens * known[1]
