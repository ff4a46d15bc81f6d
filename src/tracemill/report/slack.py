"""Post a message to a Slack incoming webhook (URL from the caller or ``SLACK_WEBHOOK_URL``)."""

from __future__ import annotations

import os
from typing import Any

import httpx

from tracemill.errors import ConfigError
from tracemill.report import http


def resolve_webhook(url: str | None = None) -> str:
    """The given webhook URL, else ``SLACK_WEBHOOK_URL`` from the environment."""
    hook = url or os.environ.get("SLACK_WEBHOOK_URL")
    if not hook:
        raise ConfigError("no Slack webhook URL", fix="set SLACK_WEBHOOK_URL, or give the flow a Secret block name holding it")
    return hook


def post_message(text: str, *, webhook_url: str | None = None, timeout: float = 15.0) -> dict[str, Any]:
    """Send ``text`` (Slack mrkdwn) to the webhook; Slack answers 200 ``ok`` on success."""
    with httpx.Client(timeout=timeout) as client:
        resp = http.send(client, "POST", resolve_webhook(webhook_url), "Slack",
                         json={"text": text, "mrkdwn": True, "unfurl_links": False})
    return {"status": resp.status_code, "body": resp.text[:100]}
