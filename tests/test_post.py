"""Posting through the outbox to loopback fake GitHub and Slack servers: right content, the PR comment
updated in place, and nothing lost when a service fails or is down."""

from __future__ import annotations

import socket

import pytest

from fakes_http import fake_services
from test_gate_compare import sample_data
from tracemill.gate import GatePolicy, compare, evaluate
from tracemill.report import deliver, enqueue, outbox, render_markdown, render_slack_text, senders
from tracemill.report.github import MARKER

NO_SLEEP = {"sleep": lambda _s: None}


@pytest.fixture(scope="module")
def payload():
    b, c, infos = sample_data()
    cmp = compare(b, c, infos, n_resamples=300)
    gate = evaluate(cmp, GatePolicy())
    return {"markdown": render_markdown(cmp, gate), "text": render_slack_text(cmp, gate)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pr_comment_and_slack_message_arrive_and_comment_updates_in_place(con, payload, monkeypatch):
    with fake_services() as fake:
        monkeypatch.setenv("GITHUB_API_URL", fake.github_url)
        # 105 comments by others: ours lands on the second page of the comments API
        for i in range(105):
            fake.add_comment("acme/agent", 7, f"review comment {i}")
        send = senders(github_token="test-token", slack_webhook_url=fake.slack_url)
        enqueue(con, subject_id="gate_1", target="github", destination="acme/agent#7", payload=payload)
        enqueue(con, subject_id="gate_1", target="slack", destination="default", payload=payload)
        report = deliver(con, send, **NO_SLEEP)
        assert report.ok, report.summary()
        ours = [c for c in fake.comments("acme/agent", 7) if MARKER in c["body"]]
        assert len(ours) == 1 and len(fake.comments("acme/agent", 7)) == 106
        assert ours[0]["body"].startswith(MARKER) and "Release gate FAILED" in ours[0]["body"]
        assert "| ex000 | correct | 1.000 → 0.000 | fm_0001 |" in ours[0]["body"]
        assert len(fake.state.slack_messages) == 1
        assert "Release gate FAILED" in fake.state.slack_messages[0]["text"]
        assert "• correct: 0.750 → 0.650" in fake.state.slack_messages[0]["text"]
        # a second gate run posts again: the same comment is edited, not a new one added
        second = dict(payload, markdown="## ✅ Release gate passed: second run")
        enqueue(con, subject_id="gate_2", target="github", destination="acme/agent#7", payload=second)
        report = deliver(con, send, **NO_SLEEP)
        assert report.ok and report.outcomes[0].response["action"] == "updated"
        ours2 = [c for c in fake.comments("acme/agent", 7) if MARKER in c["body"]]
        assert len(ours2) == 1 and ours2[0]["id"] == ours[0]["id"] and "second run" in ours2[0]["body"]
        assert len(fake.comments("acme/agent", 7)) == 106
        assert ("PATCH", f"/repos/acme/agent/issues/comments/{ours[0]['id']}") in fake.state.requests
        assert fake.comments("acme/agent", 7)[0]["body"] == "review comment 0"   # others untouched
    rows = outbox(con)
    assert [r["status"] for r in rows] == ["sent", "sent", "sent"]


def test_failing_service_loses_nothing_and_is_retried_later(con, payload, monkeypatch):
    with fake_services() as fake:
        monkeypatch.setenv("GITHUB_API_URL", fake.github_url)
        send = senders(github_token="test-token", slack_webhook_url=fake.slack_url)
        enqueue(con, subject_id="gate_1", target="github", destination="acme/agent#9", payload=payload)
        enqueue(con, subject_id="gate_1", target="slack", destination="default", payload=payload)
        fake.fail(100, status=500)
        report = deliver(con, send, retries=2, **NO_SLEEP)
        assert [o.status for o in report.outcomes] == ["pending", "pending"]
        assert all(o.attempts == 3 and "500" in o.error for o in report.outcomes)
        assert fake.comments("acme/agent", 9) == [] and fake.state.slack_messages == []
        rows = outbox(con, "gate_1")
        assert [r["status"] for r in rows] == ["pending", "pending"] and "500" in rows[0]["last_error"]
        # the service recovers; the next delivery sends what was stored
        fake.fail(0)
        report = deliver(con, send, **NO_SLEEP)
        assert report.ok, report.summary()
        assert len(fake.comments("acme/agent", 9)) == 1 and len(fake.state.slack_messages) == 1
        assert "Release gate FAILED" in fake.state.slack_messages[0]["text"]
        assert deliver(con, send, **NO_SLEEP).outcomes == []   # nothing left, nothing sent twice
        assert len(fake.state.slack_messages) == 1
    # a service that is down altogether: pending, then sent once it is back
    down = f"http://127.0.0.1:{_free_port()}/slack/T/B/X"
    enqueue(con, subject_id="gate_3", target="slack", destination="default", payload=payload)
    report = deliver(con, senders(slack_webhook_url=down), retries=1, **NO_SLEEP)
    assert report.outcomes[0].status == "pending" and "unreachable" in report.outcomes[0].error
    with fake_services() as fake:
        report = deliver(con, senders(slack_webhook_url=fake.slack_url), **NO_SLEEP)
        assert report.ok and len(fake.state.slack_messages) == 1


def test_permanent_refusal_and_giving_up_are_reported_and_kept(con, payload, monkeypatch):
    with fake_services() as fake:
        monkeypatch.setenv("GITHUB_API_URL", fake.github_url)
        enqueue(con, subject_id="gate_4", target="github", destination="acme/agent#1", payload=payload)
        report = deliver(con, senders(github_token="wrong-token"), **NO_SLEEP)
        assert report.outcomes[0].status == "failed" and report.outcomes[0].attempts == 1
        assert "401" in report.outcomes[0].error
        assert deliver(con, senders(github_token="test-token"), **NO_SLEEP).outcomes == []  # failed: not retried by default
        report = deliver(con, senders(github_token="test-token"), include_failed=True, **NO_SLEEP)
        assert report.ok and len(fake.comments("acme/agent", 1)) == 1
        # transient failures that never end: given up after max_attempts, still stored
        enqueue(con, subject_id="gate_5", target="slack", destination="default", payload=payload)
        fake.fail(100, status=503)
        for _ in range(3):
            report = deliver(con, senders(slack_webhook_url=fake.slack_url), retries=1, max_attempts=5, **NO_SLEEP)
        assert report.outcomes[0].status == "failed" and report.outcomes[0].attempts == 6
        assert outbox(con, "gate_5")[0]["status"] == "failed"
    # a target this run has no credentials for is left pending for a run that has them
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    enqueue(con, subject_id="gate_6", target="github", destination="acme/agent#2", payload=payload)
    report = deliver(con, senders(), **NO_SLEEP)
    assert report.outcomes[0].status == "skipped" and outbox(con, "gate_6")[0]["status"] == "pending"
