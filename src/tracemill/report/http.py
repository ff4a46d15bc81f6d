"""Shared HTTP error mapping for posting: what is worth retrying and what is not."""

from __future__ import annotations

import httpx

from tracemill.errors import ConfigError, TransientError


def check(response: httpx.Response, service: str) -> httpx.Response:
    """Return the response if 2xx; raise TransientError (429, 5xx, GitHub rate limit) or ConfigError."""
    if response.is_success:
        return response
    code = response.status_code
    retry_after = response.headers.get("retry-after")
    limited = code == 403 and response.headers.get("x-ratelimit-remaining") == "0"
    if code == 429 or code >= 500 or limited:
        raise TransientError(
            f"{service} answered {code}: {response.text[:200]}",
            retry_after=float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None,
        )
    raise ConfigError(
        f"{service} refused the post ({code})", value=response.text[:300],
        fix="check the token/webhook URL and its permissions, and the repository and PR number",
    )


def send(client: httpx.Client, method: str, url: str, service: str, **kwargs: object) -> httpx.Response:
    """One request; network errors and timeouts become TransientError."""
    try:
        response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except (httpx.TransportError, httpx.TimeoutException) as exc:
        raise TransientError(f"{service} unreachable: {type(exc).__name__}: {exc}") from exc
    return check(response, service)
