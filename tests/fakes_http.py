"""Loopback fake GitHub (issue comments API) and Slack (incoming webhook) servers for posting tests.

Both record every request, check what the real services check (a bearer token, a JSON body) and
can be told to fail the next N requests with a status code (e.g. 500) to test the outbox.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class _State:
    token: str = "test-token"
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    slack_messages: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 500
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    state: _State  # set per server class

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"null")

    def _handle(self, method: str) -> None:
        st = self.state
        with st.lock:
            st.requests.append((method, self.path))
            if st.fail_next > 0:
                st.fail_next -= 1
                self._body() if method in ("POST", "PATCH") else None
                return self._send(st.fail_status, {"message": "injected failure"})
        url = urlparse(self.path)
        if url.path.startswith("/slack/"):
            return self._slack(method)
        if self.headers.get("Authorization") != f"Bearer {st.token}":
            return self._send(401, {"message": "Bad credentials"})
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", url.path):
            key = (m[1], int(m[2]))
            with st.lock:
                comments = st.comments.setdefault(key, [])
                if method == "GET":
                    q = parse_qs(url.query)
                    per_page, page = int(q.get("per_page", ["30"])[0]), int(q.get("page", ["1"])[0])
                    chunk = comments[(page - 1) * per_page: page * per_page]
                    headers = {}
                    if page * per_page < len(comments):
                        nxt = f"http://{self.headers['Host']}{url.path}?per_page={per_page}&page={page + 1}"
                        headers["Link"] = f'<{nxt}>; rel="next"'
                    return self._send(200, chunk, headers)
                if method == "POST":
                    st.next_id += 1
                    c = {"id": st.next_id, "body": self._body()["body"], "html_url": f"https://github.test/{m[1]}/pull/{m[2]}#c{st.next_id}"}
                    comments.append(c)
                    return self._send(201, c)
        if (m := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)", url.path)) and method == "PATCH":
            with st.lock:
                for (repo, _), comments in st.comments.items():
                    for c in comments:
                        if repo == m[1] and c["id"] == int(m[2]):
                            c["body"] = self._body()["body"]
                            return self._send(200, c)
            return self._send(404, {"message": "Not Found"})
        return self._send(404, {"message": "Not Found"})

    def _slack(self, method: str) -> None:
        if method != "POST":
            return self._send(405, "method_not_allowed")
        try:
            body = self._body()
        except json.JSONDecodeError:
            return self._send(400, "invalid_payload")
        if not isinstance(body, dict) or not body.get("text"):
            return self._send(400, "no_text")
        with self.state.lock:
            self.state.slack_messages.append(body)
        return self._send(200, "ok")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")


@dataclass
class FakeServices:
    """A running fake: ``github_url`` for GITHUB_API_URL, ``slack_url`` for the webhook."""

    server: ThreadingHTTPServer
    state: _State

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def github_url(self) -> str:
        return self.base

    @property
    def slack_url(self) -> str:
        return f"{self.base}/slack/T000/B000/XXXX"

    def comments(self, repo: str, pr: int) -> list[dict[str, Any]]:
        return self.state.comments.get((repo, pr), [])

    def fail(self, n: int, status: int = 500) -> None:
        self.state.fail_next, self.state.fail_status = n, status

    def add_comment(self, repo: str, pr: int, body: str) -> None:
        self.state.next_id += 1
        self.state.comments.setdefault((repo, pr), []).append({"id": self.state.next_id, "body": body})


@contextmanager
def fake_services(token: str = "test-token") -> Iterator[FakeServices]:
    """Start the fake GitHub + Slack server on 127.0.0.1 (a free port); stop it on exit."""
    state = _State(token=token)
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeServices(server, state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
