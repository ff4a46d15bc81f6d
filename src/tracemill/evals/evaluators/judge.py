"""LLM-as-judge through litellm: a rubric prompt, a categorical or numeric scale, reasoning kept.

The judge is asked to answer with a JSON object ``{"reasoning": ..., "score": ...}``. The result
records the judge model and the prompt-template hash; identical judge calls are answered from the
cache (the runner's response cache when given as ``cache=``, else an in-process one).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

import jinja2
import orjson

from tracemill.evals.evaluators.result import EvalResult
from tracemill.lineage import config_hash, content_hash

DEFAULT_PROMPT = """You are an impartial judge grading an AI assistant's answer.

Rubric:
{{ rubric }}

<input>
{{ inputs }}
</input>
<answer>
{{ outputs }}
</answer>
{% if reference_outputs is not none %}<reference>
{{ reference_outputs }}
</reference>
{% endif %}
{{ scale_instructions }}
Reply with only a JSON object: {"reasoning": "<one short paragraph>", "score": <your score>}."""

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
_MEMORY_CACHE: dict[tuple[str, str], dict[str, Any]] = {}
_JSON_OBJECT = re.compile(r"\{.*\}", re.S)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def parse_judgement(text: str) -> dict[str, Any]:
    """The ``{"reasoning", "score"}`` object in a judge reply (tolerates code fences and prose)."""
    match = _JSON_OBJECT.search(text or "")
    if not match:
        raise ValueError(f"judge reply has no JSON object: {text[:200]!r}")
    return orjson.loads(match.group(0))


def create_llm_judge(
    *,
    model: str,
    rubric: str,
    scale: Literal["categorical", "numeric"] = "categorical",
    choices: dict[str, float] | list[str] | None = None,
    min_score: float = 1,
    max_score: float = 10,
    prompt: str | None = None,
    key: str = "judge",
    api_base: str | None = None,
    api_key: str | None = None,
    params: dict[str, Any] | None = None,
) -> Callable[..., EvalResult]:
    """A judge evaluator. Categorical: ``choices`` maps label -> score (default pass=1, fail=0).
    Numeric: an integer from ``min_score`` to ``max_score``, stored normalised to 0..1."""
    if scale == "categorical":
        choice_scores = (
            {c: (1.0 if i == 0 else 0.0) for i, c in enumerate(choices)} if isinstance(choices, list)
            else dict(choices or {"pass": 1.0, "fail": 0.0})
        )
        instructions = f"Grade with exactly one of these labels as the score: {', '.join(choice_scores)}."
    elif scale == "numeric":
        choice_scores = {}
        instructions = f"Grade with an integer score from {min_score:g} (worst) to {max_score:g} (best)."
    else:
        raise ValueError(f"judge scale must be 'categorical' or 'numeric', got {scale!r}")
    template_text = prompt or DEFAULT_PROMPT
    template = _ENV.from_string(template_text)
    prompt_hash = content_hash(template_text)[:16]
    call_params = {"temperature": 0, **(params or {})}
    judge_config_hash = config_hash({"model": model, "prompt_hash": prompt_hash, "rubric": rubric, "scale": scale,
                                     "choices": choice_scores, "range": [min_score, max_score], "params": call_params})

    def evaluator(*, inputs: Any = None, outputs: Any, reference_outputs: Any = None, **kw: Any) -> EvalResult:
        import litellm  # imported lazily: litellm is slow to import

        text = template.render(
            rubric=rubric, inputs=_show(inputs), outputs=_show(outputs),
            reference_outputs=None if reference_outputs is None else _show(reference_outputs),
            scale_instructions=instructions,
        )
        messages = [{"role": "user", "content": text}]
        input_hash = content_hash(messages)
        cache = kw.get("cache")
        cached = cache.get(judge_config_hash, input_hash) if cache is not None else _MEMORY_CACHE.get((judge_config_hash, input_hash))
        meta: dict[str, Any] = {"judge_model": model, "prompt_hash": prompt_hash, "judge_config_hash": judge_config_hash}
        if cached is not None:
            reply = cached["content"]
            meta["cached"] = True
        else:
            response = litellm.completion(model=model, messages=messages, api_base=api_base, api_key=api_key, **call_params)
            reply = response.choices[0].message.content or ""
            entry = {"content": reply}
            if cache is not None:
                cache.put(judge_config_hash, input_hash, entry, kind="judge")
            else:
                _MEMORY_CACHE[(judge_config_hash, input_hash)] = entry
            meta["cached"] = False
        try:
            verdict = parse_judgement(reply)
        except ValueError as exc:
            return EvalResult(key=key, score=None, comment=str(exc), metadata=meta)
        reasoning = verdict.get("reasoning")
        raw = verdict.get("score")
        meta["raw_score"] = raw
        if scale == "categorical":
            label = str(raw).strip().lower() if raw is not None else None
            lookup = {k.lower(): v for k, v in choice_scores.items()}
            if label not in lookup:
                return EvalResult(key=key, score=None, label=label, comment=f"label not in {list(choice_scores)}: {reasoning}", metadata=meta)
            return EvalResult(key=key, score=lookup[label], label=label, comment=reasoning, metadata=meta)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            return EvalResult(key=key, score=None, comment=f"non-numeric score {raw!r}: {reasoning}", metadata=meta)
        value = min(max(value, min_score), max_score)
        return EvalResult(key=key, score=(value - min_score) / (max_score - min_score), label=f"{value:g}",
                          comment=reasoning, metadata=meta)

    evaluator.cache_config_hash = judge_config_hash  # type: ignore[attr-defined]  # the runner preloads these
    return evaluator
