"""The lean litellm call: OpenAI-compatible servers go through litellm's aiohttp provider with the same results."""

from __future__ import annotations

import asyncio

import pytest

from tracemill.evals.targets import litellm_fast
from tracemill.testing import FakeOpenAI


@pytest.fixture()
def fake():
    with FakeOpenAI(latency=0.0, retry_after=0.25) as f:
        yield f


def _call(fake, text: str, **kwargs):
    async def go():
        try:
            return await litellm_fast.acompletion(model="openai/fake-model", messages=[{"role": "user", "content": text}],
                                                  api_base=fake.url, api_key="fake", timeout=5, **kwargs)
        except Exception as exc:  # classified as the llm target does
            return litellm_fast.classify_error(exc)
        finally:
            await litellm_fast.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("aiohttp", ["1", "0"])
def test_both_transports_give_the_same_answer_usage_and_errors(fake, monkeypatch, aiohttp):
    monkeypatch.setenv("TRACEMILL_LITELLM_AIOHTTP", aiohttp)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    out = _call(fake, 'CALL get_weather {"city": "SF"}', tools=tools)
    call = out["choices"][0]["message"]["tool_calls"][0]["function"]
    assert call == {"name": "get_weather", "arguments": '{"city": "SF"}'}
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["usage"]["prompt_tokens"] > 0 and out["usage"]["completion_tokens"] > 0
    out = _call(fake, "REPLY: hi", temperature=0.2, max_tokens=20)
    assert out["choices"][0]["message"]["content"] == "hi"
    assert fake.chat_requests()[-1].body["temperature"] == 0.2
    assert {r.body["model"] for r in fake.chat_requests()} == {"fake-model"}

    fake.inject("429")
    err = _call(fake, "REPLY: x")
    assert "429" in str(err) and err.retry_after == pytest.approx(0.25)
    fake.inject("500")
    assert "server error (500)" in str(_call(fake, "REPLY: x"))
    fake.inject("malformed")
    assert type(_call(fake, "REPLY: x")).__name__ == "InternalServerError"  # not transient


def test_params_it_does_not_send_alike_stay_on_the_openai_provider():
    litellm_fast.configure()
    base = {"model": "openai/fake-model", "messages": [], "api_base": "http://127.0.0.1:1/v1"}
    assert litellm_fast._via_aiohttp({**base, "extra_headers": {"x": "1"}}) is None
    assert litellm_fast._via_aiohttp({**base, "reasoning_effort": "low"}) is None
    assert litellm_fast._via_aiohttp({**base, "model": "openai/gpt-4o-mini"}) is None  # OpenAI's own model
    assert litellm_fast._via_aiohttp({k: v for k, v in base.items() if k != "api_base"}) is None
