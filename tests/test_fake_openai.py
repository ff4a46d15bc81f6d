"""The loopback OpenAI fake: answers through litellm, streams to a finish_reason, injects errors, logs requests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import litellm
import pytest

from tracemill.testing import FakeOpenAI

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI(latency=0.0, retry_after=0.25) as f:
        yield f


def _kw(fake):
    return {"model": "openai/fake-model", "api_base": fake.url, "api_key": "fake", "max_retries": 0}


def test_chat_and_tool_calls(fake):
    r = litellm.completion(messages=[{"role": "user", "content": "REPLY: forty-two"}], **_kw(fake))
    assert r.choices[0].message.content == "forty-two"
    assert r.usage.prompt_tokens > 0
    r = litellm.completion(messages=[{"role": "user", "content": 'CALL get_weather {"city": "SF"}'}], tools=TOOLS, **_kw(fake))
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and call.function.arguments == '{"city": "SF"}'


def test_stream_ends_with_finish_reason(fake):
    with httpx.stream("POST", fake.url + "/chat/completions",
                      json={"model": "m", "stream": True, "stream_options": {"include_usage": True},
                            "messages": [{"role": "user", "content": "REPLY: a streamed answer"}]}) as resp:
        lines = [line for line in resp.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    import json

    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    finishing = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finishing) == 1 and finishing[0]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["total_tokens"] > 0
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "a streamed answer"
    # and through litellm
    s = litellm.completion(messages=[{"role": "user", "content": "REPLY: hello stream"}], stream=True, **_kw(fake))
    assert "".join(c.choices[0].delta.content or "" for c in s) == "hello stream"


def test_injected_errors_and_log(fake):
    fake.reset()
    fake.inject("429")
    with pytest.raises(litellm.RateLimitError) as info:
        litellm.completion(messages=[{"role": "user", "content": "x"}], **_kw(fake))
    assert info.value.litellm_response_headers.get("retry-after") == "0.25"
    fake.inject("500")
    with pytest.raises(litellm.InternalServerError):
        litellm.completion(messages=[{"role": "user", "content": "x"}], **_kw(fake))
    fake.inject("malformed")
    with pytest.raises(Exception):
        litellm.completion(messages=[{"role": "user", "content": "x"}], **_kw(fake))
    fake.inject("timeout")
    with pytest.raises(litellm.Timeout):
        litellm.completion(messages=[{"role": "user", "content": "x"}], timeout=0.5, **_kw(fake))
    fake.script("only-this", "500")
    with pytest.raises(litellm.InternalServerError):
        litellm.completion(messages=[{"role": "user", "content": "only-this"}], **_kw(fake))
    litellm.completion(messages=[{"role": "user", "content": "only-this"}], **_kw(fake))
    assert [r.outcome for r in fake.chat_requests()] == ["429", "500", "malformed", "timeout", "500", "ok"]
    assert fake.chat_requests()[-1].last_user == "only-this"


def test_runs_as_a_process():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tracemill.testing.fake_openai", "--port", str(port), "--latency-ms", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(base + "/v1/models", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        r = httpx.post(base + "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        assert r.json()["choices"][0]["message"]["content"] == "echo: hi"
        assert [row["outcome"] for row in httpx.get(base + "/_fake/log").json()] == ["ok"]
    finally:
        proc.terminate()
        proc.wait(10)
