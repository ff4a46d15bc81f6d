"""The candidate spec: a YAML file in the user's repo naming the target, evaluators and run limits.

Example (see examples/candidates/)::

    name: support-bot-v2
    target:
      kind: llm
      model: openai/gpt-4o-mini
      system_prompt: You are a helpful support agent.
      params: {temperature: 0}
    evaluators:
      - name: normalized_match
      - name: llm_judge
        params: {model: openai/gpt-4o, rubric: "Is the answer correct and polite?"}
    repetitions: 1
    concurrency: 16
    rpm: 500
    budget_usd: 5.0
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tracemill.errors import ConfigError
from tracemill.lineage import config_hash


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prices(_Model):
    """USD per token, for models litellm's cost map does not know."""

    input_cost_per_token: float = 0.0
    output_cost_per_token: float = 0.0


class LLMTarget(_Model):
    """A litellm chat call (with an optional tool loop)."""

    kind: Literal["llm"] = "llm"
    model: str
    api_base: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None      # read the key from this environment variable at run time
    system_prompt: str | None = None    # jinja2 template over the example inputs
    prompt_template: str | None = None  # jinja2 template for the user message; default: inputs.messages / input / question
    params: dict[str, Any] = Field(default_factory=dict)
    tool_schemas: list[dict[str, Any]] = Field(default_factory=list)
    # How tool calls are answered: tool name (or "*") -> "module:function" or "recorded"
    # (the result recorded for that call in the example's source trace).
    tools: dict[str, str] = Field(default_factory=dict)
    max_steps: int = Field(default=8, ge=1)
    prices: Prices | None = None

    def hashed(self) -> dict[str, Any]:
        # Keys are secrets and endpoints are deployment details: neither changes the answer.
        return self.model_dump(exclude={"api_key", "api_key_env", "api_base"}, mode="json")


class PythonTarget(_Model):
    """``module:function`` called with the example inputs (sync or async)."""

    kind: Literal["python"] = "python"
    function: str
    params: dict[str, Any] = Field(default_factory=dict)
    version: str | None = None  # bump to invalidate cached answers when the code changes

    def hashed(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class HttpTarget(_Model):
    """A JSON POST built from a template over the example inputs."""

    kind: Literal["http"] = "http"
    url: str
    body: Any = Field(default_factory=lambda: {"inputs": "{{ inputs }}"})
    headers: dict[str, str] = Field(default_factory=dict)
    output_path: str | None = None      # dotted path into the response JSON, e.g. "answer" or "choices.0.message.content"
    trajectory_path: str | None = None
    version: str | None = None

    def hashed(self) -> dict[str, Any]:
        return self.model_dump(exclude={"headers"}, mode="json")


class ReplayTarget(_Model):
    """The outputs recorded in the examples' source traces (the production baseline; no calls)."""

    kind: Literal["replay"] = "replay"

    def hashed(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


TargetSpec = Annotated[LLMTarget | PythonTarget | HttpTarget | ReplayTarget, Field(discriminator="kind")]


class EvaluatorSpec(_Model):
    """A builtin evaluator name or a ``module:function`` reference, with factory params."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class CandidateSpec(_Model):
    """What to run, how to score it, and the limits of the run."""

    name: str
    description: str | None = None
    target: TargetSpec
    evaluators: list[EvaluatorSpec] = Field(default_factory=list)
    repetitions: int = Field(default=1, ge=1, le=100)
    concurrency: int = Field(default=8, ge=1, le=1000)
    rpm: float | None = Field(default=None, gt=0)        # requests per minute
    tpm: float | None = Field(default=None, gt=0)        # tokens per minute (estimated from the prompt)
    timeout_s: float = Field(default=60.0, gt=0)         # per call attempt
    max_retries: int = Field(default=4, ge=0, le=20)
    budget_usd: float | None = Field(default=None, ge=0)
    cache: bool = True
    # Spread target calls over this many worker processes (litellm costs milliseconds of client
    # CPU per call; above ~30 concurrent calls one process is CPU-bound). 1 = in-process.
    processes: int = Field(default=1, ge=1, le=32)

    @property
    def target_config_hash(self) -> str:
        """Hash of what determines the target's answers (not keys, endpoints or run limits)."""
        return config_hash({"kind": self.target.kind, **self.target.hashed()})

    @property
    def config_hash(self) -> str:
        """Hash of the whole spec (target and evaluators, repetitions, budget)."""
        return config_hash(self.model_dump(mode="json"))

    def resolved_api_key(self) -> str | None:
        t = self.target
        if isinstance(t, LLMTarget):
            if t.api_key_env:
                return os.environ.get(t.api_key_env)
            return t.api_key
        return None


def parse_spec(data: dict[str, Any], *, source: str = "<spec>") -> CandidateSpec:
    """Validate a spec dict; errors name the field and say what to fix."""
    try:
        return CandidateSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(
            f"invalid candidate spec {source}: {where}: {first['msg']}",
            value=first.get("input"),
            fix=f"fix the field '{where}' ({exc.error_count()} problem(s) in total); see examples/candidates/",
        ) from exc


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str, *, source: str = "<spec>") -> str:
    """Replace ``${NAME}`` / ``${NAME:-default}`` with environment values (keys and endpoints stay out of the repo)."""
    def sub(m: re.Match[str]) -> str:
        value = os.environ.get(m.group(1), m.group(2))
        if value is None:
            raise ConfigError(f"candidate spec {source} uses ${{{m.group(1)}}} but it is not set", value=m.group(0),
                              fix=f"export {m.group(1)}=… or write ${{{m.group(1)}:-default}}")
        return value

    return _ENV_REF.sub(sub, text)


def load_spec(path: str | Path) -> CandidateSpec:
    """Read and validate a candidate spec YAML file (``${ENV}`` references are expanded)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("candidate spec file not found", value=str(p), fix="pass the path of a YAML spec")
    try:
        data = yaml.safe_load(expand_env(p.read_text(), source=str(p)))
    except yaml.YAMLError as exc:
        raise ConfigError("candidate spec is not valid YAML", value=str(p), fix=str(exc)) from exc
    if not isinstance(data, dict):
        raise ConfigError("candidate spec must be a YAML mapping", value=type(data).__name__)
    return parse_spec(data, source=str(p))
