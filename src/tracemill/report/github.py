"""A pull-request comment that updates itself: found again by a hidden marker, then edited in place.

The token comes from the caller (a flow resolves a Prefect Secret block and passes it) or from the
``GITHUB_TOKEN`` environment variable. ``GITHUB_API_URL`` (set by GitHub Actions, and by tests to a
loopback fake) overrides the API address.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import httpx

from tracemill.errors import ConfigError
from tracemill.report import http

MARKER = "<!-- tracemill-report -->"
_DEST = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)#(?P<pr>\d+)$")


@dataclass(frozen=True)
class PullRequest:
    repo: str   # owner/name
    number: int

    @classmethod
    def parse(cls, destination: str) -> PullRequest:
        m = _DEST.match(destination.strip())
        if not m:
            raise ConfigError("a GitHub destination looks like OWNER/REPO#PR", value=destination, fix="e.g. acme/agent#42")
        return cls(m["repo"], int(m["pr"]))

    def __str__(self) -> str:
        return f"{self.repo}#{self.number}"


def resolve_token(token: str | None = None) -> str:
    """The given token, else ``GITHUB_TOKEN`` from the environment."""
    tok = token or os.environ.get("GITHUB_TOKEN")
    if not tok:
        raise ConfigError(
            "no GitHub token", fix="set GITHUB_TOKEN, or give the flow a Prefect Secret block name holding one"
        )
    return tok


def api_url(url: str | None = None) -> str:
    return (url or os.environ.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")


def _find_own_comment(client: httpx.Client, base: str, pr: PullRequest) -> dict[str, Any] | None:
    url: str | None = f"{base}/repos/{pr.repo}/issues/{pr.number}/comments"
    params: dict[str, Any] | None = {"per_page": 100}
    while url:
        resp = http.send(client, "GET", url, "GitHub", params=params)
        for comment in resp.json():
            if MARKER in (comment.get("body") or ""):
                return comment
        url = resp.links.get("next", {}).get("url")
        params = None  # the next link carries its own query
    return None


def upsert_pr_comment(
    destination: str | PullRequest, markdown: str, *, token: str | None = None, base_url: str | None = None,
    timeout: float = 15.0,
) -> dict[str, Any]:
    """Create the tracemill comment on the PR, or edit the earlier one that carries the marker."""
    pr = destination if isinstance(destination, PullRequest) else PullRequest.parse(destination)
    base = api_url(base_url)
    body = f"{MARKER}\n{markdown}"
    headers = {
        "Authorization": f"Bearer {resolve_token(token)}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "tracemill",
    }
    with httpx.Client(headers=headers, timeout=timeout) as client:
        existing = _find_own_comment(client, base, pr)
        if existing is not None:
            resp = http.send(client, "PATCH", f"{base}/repos/{pr.repo}/issues/comments/{existing['id']}", "GitHub",
                             json={"body": body})
            action = "updated"
        else:
            resp = http.send(client, "POST", f"{base}/repos/{pr.repo}/issues/{pr.number}/comments", "GitHub",
                             json={"body": body})
            action = "created"
    data = resp.json()
    return {"action": action, "comment_id": data.get("id"), "url": data.get("html_url")}
