"""The http target: a JSON POST built from a template over the example inputs.

String leaves of ``body`` are jinja2 templates over the inputs; a leaf that is exactly
``{{ expression }}`` keeps the expression's native type (so ``"{{ inputs.messages }}"`` sends a list).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import jinja2

from tracemill.datasets.example import Example
from tracemill.errors import TransientError
from tracemill.evals.spec import HttpTarget
from tracemill.evals.targets.base import TargetOutput

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
_WHOLE = re.compile(r"^\{\{\s*(.+?)\s*\}\}$", re.S)


def render_body(template: Any, inputs: dict[str, Any]) -> Any:
    """The request body for one example."""
    context = {"inputs": inputs, **inputs}
    if isinstance(template, str):
        whole = _WHOLE.match(template)
        if whole:
            return _ENV.compile_expression(whole.group(1), undefined_to_none=False)(**context)
        return _ENV.from_string(template).render(**context)
    if isinstance(template, dict):
        return {k: render_body(v, inputs) for k, v in template.items()}
    if isinstance(template, list):
        return [render_body(v, inputs) for v in template]
    return template


def dig(value: Any, path: str | None) -> Any:
    """``a.b.0.c`` into nested dicts/lists."""
    if not path:
        return value
    for part in path.split("."):
        if isinstance(value, list):
            value = value[int(part)]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


class HttpPostTarget:
    kind = "http"
    cacheable = True
    uses_traces = False

    def __init__(self, spec: HttpTarget, *, timeout_s: float = 60.0) -> None:
        self.spec = spec
        self.client = httpx.AsyncClient(timeout=timeout_s, headers=spec.headers,
                                        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200))

    async def __call__(self, example: Example) -> TargetOutput:
        body = render_body(self.spec.body, example.inputs)
        try:
            resp = await self.client.post(self.spec.url, json=body)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code == 429 or resp.status_code >= 500:
            retry = resp.headers.get("retry-after")
            try:
                retry_after = float(retry) if retry else None
            except ValueError:
                retry_after = None
            raise TransientError(f"HTTP {resp.status_code} from {self.spec.url}", retry_after=retry_after)
        resp.raise_for_status()
        data = resp.json()
        trajectory = dig(data, self.spec.trajectory_path) if self.spec.trajectory_path else None
        return TargetOutput(output=dig(data, self.spec.output_path), trajectory=trajectory)

    async def aclose(self) -> None:
        await self.client.aclose()
