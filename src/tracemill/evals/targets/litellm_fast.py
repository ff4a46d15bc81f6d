"""The one place tracemill calls litellm for targets: a lean ``acompletion`` and error mapping.

litellm does a lot per call besides the HTTP request (logging objects, callbacks, cost
bookkeeping, debug info, a thread hop, the OpenAI SDK over httpx). ``configure()`` turns off what
an offline eval does not need; the returned response is reduced to plain dicts. Retries are ours
(``max_retries=0`` here), so that only transient errors are retried and Retry-After is honoured.

Calls to an OpenAI-compatible server (an ``openai/...`` model with an ``api_base``) go through
litellm's own aiohttp provider (``aiohttp_openai/``) instead of the OpenAI SDK + httpx: about a
third less client CPU per call. ``TRACEMILL_LITELLM_AIOHTTP=0`` turns that off. The records keep
the model string of the spec.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import os
import weakref
from functools import lru_cache
from typing import Any

import orjson

from tracemill.errors import TransientError

_configured = False
# Set only while one of our calls runs (per asyncio task), so other litellm users in the same
# process keep litellm's full bookkeeping.
_LEAN: contextvars.ContextVar[bool] = contextvars.ContextVar("tracemill_lean_litellm", default=False)
# Set only while one of our calls to an OpenAI-compatible provider runs: for those, the
# synchronous part of litellm's acompletion is pure CPU and may run on the event loop.
_INLINE: contextvars.ContextVar[bool] = contextvars.ContextVar("tracemill_inline_litellm", default=False)

_OPENAI_PREFIX = "openai/"
_AIOHTTP_PREFIX = "aiohttp_openai/"
# Arguments we may send through aiohttp_openai besides its supported OpenAI params (set in configure()).
_BASE_KEYS = frozenset({"model", "messages", "api_base", "api_key", "timeout", "max_retries"})
# Supported by aiohttp_openai on paper, but it sends or drops them differently from the openai provider.
_NOT_VIA_AIOHTTP = frozenset({"stream", "stream_options", "extra_headers", "headers", "extra_body", "client"})
_aiohttp_keys: frozenset[str] = frozenset()
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
_inline_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor; runs litellm's synchronous ``completion()`` step inline for our calls.

    ``litellm.acompletion`` builds the request in ``run_in_executor(None, completion)``. For the
    OpenAI-compatible providers that is pure CPU (the HTTP request is a coroutine it returns), and
    the thread hop costs about a millisecond of CPU per call with GIL ping-pong on top. Anything
    submitted outside our calls (``asyncio.to_thread``, other litellm users) still gets a thread.
    """

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        if not _INLINE.get():
            return super().submit(fn, *args, **kwargs)
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - delivered to the awaiting caller, as a thread would
            future.set_exception(exc)
        return future


def _use_inline_executor(loop: asyncio.AbstractEventLoop) -> None:
    if loop in _inline_loops:
        return
    previous = getattr(loop, "_default_executor", None)  # CPython's loop; created lazily, usually still None
    loop.set_default_executor(_InlineExecutor(thread_name_prefix="asyncio"))
    if previous is not None and not isinstance(previous, _InlineExecutor):
        previous.shutdown(wait=False)  # queued work still runs
    _inline_loops.add(loop)


def _install_lean_hooks() -> None:
    """Skip litellm's per-call extras for our calls; repair the gaps of its aiohttp_openai provider.

    - response metadata (cost recomputation) and success-logging dispatch: we price calls
      ourselves (``cost_of``) and register no callbacks, so both are pure overhead here;
    - aiohttp_openai (1.110.2) reports every HTTP error as a 500 without the body, ignores the
      timeout, drops ``usage`` and turns a malformed body into a connection error. Our versions
      keep the status, headers (Retry-After) and body for litellm's usual error mapping.
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
    _install_model_info_cache()
    _install_aiohttp_hooks()
    lu._tracemill_lean = True


def _install_model_info_cache() -> None:
    """Memoize the model-info lookup litellm's Responses-bridge check runs twice per chat call.

    It walks the whole cost map and its fallback patterns for a model name (~0.2 ms per lookup),
    and its answer only changes when models are registered (the cache key has the map's size).
    litellm caches the same lookup for its cost calculator (``cached_get_model_info_helper``).
    """
    import copy
    import importlib

    import litellm

    # importlib: ``litellm.responses`` is also the name of a function on the litellm module.
    bridge = importlib.import_module("litellm.responses.bridge_check")

    original = bridge.get_model_info_helper
    cache: dict[tuple[str, str | None, int], tuple[bool, Any]] = {}

    def get_model_info_helper(model: str, custom_llm_provider: str | None = None, *args: Any, **kwargs: Any) -> Any:
        if not _LEAN.get() or args or kwargs:
            return original(model, custom_llm_provider, *args, **kwargs)
        key = (model, custom_llm_provider, len(litellm.model_cost))
        hit = cache.get(key)
        if hit is None:
            try:
                hit = (True, original(model=model, custom_llm_provider=custom_llm_provider))
            except Exception as exc:  # an unknown model: remembered as well
                hit = (False, exc)
            if len(cache) > 512:
                cache.clear()
            cache[key] = hit
        ok, value = hit
        if not ok:
            raise copy.copy(value).with_traceback(None)
        return dict(value)  # the caller adds keys to it

    bridge.get_model_info_helper = get_model_info_helper


def _timeout_seconds(timeout: Any) -> float | None:
    if isinstance(timeout, int | float):
        return float(timeout)
    total = getattr(timeout, "read", None) or getattr(timeout, "total", None)  # httpx.Timeout / aiohttp.ClientTimeout
    return float(total) if isinstance(total, int | float) else None


def _install_aiohttp_hooks() -> None:
    import aiohttp
    import httpx
    import litellm
    from litellm.llms.aiohttp_openai.chat.transformation import AiohttpOpenAIChatConfig
    from litellm.llms.custom_httpx.aiohttp_handler import BaseLLMAIOHTTPHandler

    original_call = BaseLLMAIOHTTPHandler._make_common_async_call
    original_transform = AiohttpOpenAIChatConfig.transform_response

    async def _make_common_async_call(self: Any, async_client_session: Any, provider_config: Any, api_base: str,
                                      headers: dict, data: dict | None, timeout: Any, litellm_params: dict,
                                      form_data: Any = None, stream: bool = False) -> Any:
        if not _LEAN.get() or form_data is not None or stream:
            return await original_call(self, async_client_session, provider_config, api_base, headers, data, timeout,
                                       litellm_params, form_data=form_data, stream=stream)
        session = self._get_async_client_session(dynamic_client_session=async_client_session)
        seconds = _timeout_seconds(timeout)
        try:
            response = await session.post(url=api_base, headers=headers, json=data,
                                          timeout=aiohttp.ClientTimeout(total=seconds))
            if response.status >= 400:
                body = await response.text(errors="replace")
                # httpx.Headers, as the openai provider passes: case-insensitive for the Retry-After lookup.
                raise provider_config.get_error_class(error_message=body or (response.reason or ""),
                                                      status_code=response.status,
                                                      headers=httpx.Headers(list(response.headers.items())))
        except TimeoutError as exc:  # aiohttp.ServerTimeoutError is one too
            raise litellm.Timeout(message=f"no response within {seconds}s", model=str(litellm_params.get("model", "")),
                                  llm_provider="aiohttp_openai") from exc
        except aiohttp.ClientError as exc:
            raise litellm.APIConnectionError(message=f"{type(exc).__name__}: {exc}", llm_provider="aiohttp_openai",
                                             model=str(litellm_params.get("model", ""))) from exc
        return response

    async def transform_response(self: Any, model: str, raw_response: Any, model_response: Any, *args: Any,
                                 **kwargs: Any) -> Any:
        if not _LEAN.get():
            return await original_transform(self, model, raw_response, model_response, *args, **kwargs)
        try:
            body = orjson.loads(await raw_response.read())
        except TimeoutError as exc:  # the body did not arrive in time
            raise litellm.Timeout(message="response body not received in time", model=model,
                                  llm_provider="aiohttp_openai") from exc
        except orjson.JSONDecodeError as exc:  # a broken response, as the openai provider reports it
            raise self.get_error_class(error_message=f"invalid JSON in the response: {exc}", status_code=500,
                                       headers=httpx.Headers(list(raw_response.headers.items()))) from exc
        # litellm's own transformation, on the body parsed once ...
        out = await original_transform(self, model, _ParsedResponse(raw_response, body), model_response, *args, **kwargs)
        usage = body.get("usage") if isinstance(body, dict) else None
        if isinstance(usage, dict):  # ... plus the usage it leaves out
            out.usage = litellm.Usage(**{k: v for k, v in usage.items() if v is not None})
        return out

    BaseLLMAIOHTTPHandler._make_common_async_call = _make_common_async_call
    AiohttpOpenAIChatConfig.transform_response = transform_response


class _ParsedResponse:
    """An aiohttp response whose JSON body was parsed already (by orjson)."""

    def __init__(self, response: Any, body: Any) -> None:
        self._response = response
        self._body = body

    async def json(self, *args: Any, **kwargs: Any) -> Any:
        return self._body

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)


def configure() -> Any:
    """Import litellm once with its per-call extras switched off; returns the module."""
    global _configured, _aiohttp_keys
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
        supported = litellm.get_supported_openai_params(model="model", custom_llm_provider="aiohttp_openai") or []
        _aiohttp_keys = (_BASE_KEYS | frozenset(supported)) - _NOT_VIA_AIOHTTP
        _configured = True
    return litellm


# What litellm (1.110.2) imports lazily on its first chat call: the tiktoken encoding and its proxy
# types, ~0.5 s of CPU. ``prewarm()`` loads them before worker processes are forked, so that each
# worker of each run does not pay it again.
_LAZY_MODULES = (
    "litellm.proxy.openai_files_endpoints.common_utils",
    "litellm.llms.litellm_proxy.chat.transformation",
    "litellm.llms.github_copilot.per_user_auth",
    "litellm.integrations.generic_api.generic_api_callback",
    "litellm.litellm_core_utils.logging_callback_manager",
    "litellm.llms.openai_like.dynamic_config",
)


def prewarm() -> Any:
    """``configure()``, plus what litellm would otherwise load on the first call; returns litellm."""
    import importlib

    litellm = configure()
    for name in _LAZY_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # another litellm version: it loads what it needs on the first call
            pass
    try:
        importlib.import_module("litellm.main").encoding  # noqa: B018 - a lazy attribute: loads the tokenizer
    except Exception:  # noqa: BLE001 - a warm-up only
        pass
    return litellm


def _aiohttp_enabled() -> bool:
    return os.environ.get("TRACEMILL_LITELLM_AIOHTTP", "1").strip().lower() not in ("0", "false", "no", "off")


@lru_cache(maxsize=256)
def _known_openai_model(name: str) -> bool:
    """A model litellm knows as OpenAI's own: its openai config maps params per model (o-series, gpt-5)."""
    import litellm

    info = litellm.model_cost.get(name)
    return name in litellm.open_ai_chat_completion_models or (isinstance(info, dict) and info.get("litellm_provider") == "openai")


def _via_aiohttp(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The same call through litellm's aiohttp_openai provider, or None when it must stay on the openai one."""
    model = kwargs.get("model")
    if (not isinstance(model, str) or not model.startswith(_OPENAI_PREFIX) or not kwargs.get("api_base")
            or not kwargs.keys() <= _aiohttp_keys or not _aiohttp_enabled()):
        return None
    name = model[len(_OPENAI_PREFIX):]
    if _known_openai_model(name):
        return None
    # Naming the provider spares litellm a second provider detection (with a validation of all kwargs).
    return {**kwargs, "model": _AIOHTTP_PREFIX + name, "custom_llm_provider": "aiohttp_openai", "client": _session()}


def _session() -> Any:
    """One aiohttp session per event loop (litellm's shared one is bound to the first loop that used it)."""
    import aiohttp

    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        # No connection cap here: the runner's concurrency is the cap.
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        _sessions[loop] = session
    return session


async def aclose() -> None:
    """Close this event loop's HTTP session (call when the loop's calls are done)."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None and not session.closed:
        await session.close()


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
    routed = _via_aiohttp(kwargs)
    model = kwargs.get("model")
    inline = routed is not None or (isinstance(model, str) and model.startswith(_OPENAI_PREFIX))
    if inline:
        _use_inline_executor(asyncio.get_running_loop())
    lean, inline_token = _LEAN.set(True), _INLINE.set(inline)
    try:
        response = await litellm.acompletion(**(routed or kwargs))
    finally:
        _INLINE.reset(inline_token)
        _LEAN.reset(lean)
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
