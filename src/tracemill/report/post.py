"""The outbox: every post is stored before it is sent, so a failed post is retried, never lost.

``enqueue`` writes a ``post_outbox`` row (status ``pending``). ``deliver`` sends due rows with the
senders it is given, retrying transient failures (network, 429, 5xx) a few times in the call;
a post that still fails stays ``pending`` for the next ``deliver`` (the next gate run, or
``tracemill eval post``) until ``max_attempts``, then becomes ``failed`` -- still stored, listed,
and re-sent with ``include_failed=True``. Permanent refusals (bad token, unknown repo) fail at once.
Secrets are never stored: senders are built from the caller's token / webhook URL at send time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import orjson

from tracemill.errors import TracemillError, TransientError
from tracemill.lineage import SCHEMA_VERSION, new_id, utcnow
from tracemill.warehouse import query, transaction

# A sender posts one payload to one destination and returns a small JSON-able receipt.
Sender = Callable[[str, dict[str, Any]], dict[str, Any]]
TARGETS = ("github", "slack")


@dataclass(frozen=True)
class PostOutcome:
    post_id: str
    target: str
    destination: str
    status: str            # sent | pending | failed | skipped
    attempts: int
    error: str | None = None
    response: dict[str, Any] | None = None


@dataclass
class DeliveryReport:
    outcomes: list[PostOutcome] = field(default_factory=list)

    def by_status(self, status: str) -> list[PostOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def ok(self) -> bool:
        return all(o.status == "sent" for o in self.outcomes)

    def summary(self) -> str:
        if not self.outcomes:
            return "nothing to post"
        parts = [f"{o.target} {o.destination}: {o.status}" + (f" ({o.error})" if o.error else "") for o in self.outcomes]
        return "; ".join(parts)


def enqueue(con: duckdb.DuckDBPyConnection, *, subject_id: str, target: str, destination: str,
            payload: dict[str, Any]) -> str:
    """Store a post to send (before any attempt). Returns its post_id."""
    if target not in TARGETS:
        raise TracemillError("unknown post target", value=target, fix=f"use one of {TARGETS}")
    post_id = new_id("post")
    now = utcnow()
    with transaction(con, what="enqueue post"):
        con.execute(
            "INSERT INTO post_outbox VALUES (?, ?, ?, ?, ?, 'pending', 0, NULL, NULL, ?, ?, NULL, ?)",
            [post_id, subject_id, target, destination, orjson.dumps(payload).decode(), now, now, SCHEMA_VERSION],
        )
    return post_id


def _record(con: duckdb.DuckDBPyConnection, post_id: str, *, status: str, attempts: int, error: str | None,
            response: dict[str, Any] | None) -> None:
    now = utcnow()
    with transaction(con, what="record post attempt"):
        con.execute(
            """UPDATE post_outbox SET status = ?, attempts = ?, last_error = ?, response = ?, updated_at = ?,
                      sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END
               WHERE post_id = ?""",
            [status, attempts, error, orjson.dumps(response).decode() if response is not None else None, now,
             status, now, post_id],
        )


def deliver(
    con: duckdb.DuckDBPyConnection,
    senders: Mapping[str, Sender],
    *,
    subject_id: str | None = None,
    include_failed: bool = False,
    max_attempts: int = 5,
    retries: int = 2,
    backoff_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Send due posts (optionally only one subject's). Targets without a sender are skipped, left pending."""
    rows = con.execute(query("gate/outbox_due"), [include_failed, subject_id, subject_id]).fetchall()
    report = DeliveryReport()
    for post_id, _subject, target, destination, payload, _status, attempts, _created in rows:
        sender = senders.get(target)
        if sender is None:
            report.outcomes.append(PostOutcome(post_id, target, destination, "skipped", attempts,
                                               "no credentials for this target in this run; left pending"))
            continue
        body = orjson.loads(payload) if isinstance(payload, (str, bytes)) else payload
        error: str | None = None
        response: dict[str, Any] | None = None
        permanent = False
        for attempt in range(retries + 1):
            attempts += 1
            try:
                response = sender(destination, body)
                error = None
                break
            except TransientError as exc:
                error = str(exc)
                if attempt < retries:
                    sleep(min(exc.retry_after or backoff_s * 2**attempt, 30.0))
            except TracemillError as exc:
                error, permanent = exc.problem + (f": {exc.value}" if exc.value is not None else ""), True
                break
            except Exception as exc:  # a bug in a sender: keep the post (failed, resendable), carry on with the rest
                error, permanent = f"{type(exc).__name__}: {exc}"[:500], True
                break
        if error is None:
            status = "sent"
        elif permanent or attempts >= max_attempts:
            status = "failed"
        else:
            status = "pending"
        _record(con, post_id, status=status, attempts=attempts, error=error, response=response)
        report.outcomes.append(PostOutcome(post_id, target, destination, status, attempts, error, response))
    return report


def github_sender(token: str | None = None, base_url: str | None = None) -> Sender:
    """A sender that upserts the PR comment (payload["markdown"])."""
    from tracemill.report.github import upsert_pr_comment

    return lambda destination, payload: upsert_pr_comment(destination, payload["markdown"], token=token, base_url=base_url)


def slack_sender(webhook_url: str | None = None) -> Sender:
    """A sender that posts payload["text"] to the Slack webhook."""
    from tracemill.report.slack import post_message

    return lambda _destination, payload: post_message(payload["text"], webhook_url=webhook_url)


def outbox(con: duckdb.DuckDBPyConnection, subject_id: str | None = None) -> list[dict[str, Any]]:
    """Rows of the outbox (for reports and tests), oldest first."""
    rel = con.execute(
        "SELECT post_id, subject_id, target, destination, status, attempts, last_error, sent_at FROM post_outbox "
        "WHERE ? IS NULL OR subject_id = ? ORDER BY created_at, post_id",
        [subject_id, subject_id],
    )
    cols = [d[0] for d in rel.description]
    return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]
