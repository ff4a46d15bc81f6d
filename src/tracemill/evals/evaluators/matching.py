"""String matching evaluators: exact, normalised, numeric answer (GSM8K style), contains, regex."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from tracemill.evals.evaluators.result import EvalResult


def _as_text(value: Any) -> str:
    """The text an evaluator compares: strings as is, chat messages by content, the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for k in ("answer", "output", "content", "text", "response"):
            if k in value and isinstance(value[k], str):
                return value[k]
        if isinstance(value.get("messages"), list):
            return _as_text(value["messages"])
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m for m in value):
        for m in reversed(value):
            if m.get("role") in ("assistant", "ai") and m.get("content"):
                return _as_text(m["content"])
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def exact_match(*, inputs: Any = None, outputs: Any, reference_outputs: Any = None, **kw: Any) -> EvalResult:
    """True when outputs equal reference_outputs (any JSON value), as openevals' ``exact_match``."""
    return EvalResult(key="exact_match", score=outputs == reference_outputs)


def normalize_text(text: str, *, case: bool = False, punctuation: bool = False, articles: bool = True) -> str:
    """SQuAD-style normalisation: NFKC, lower case, drop punctuation and articles, squeeze spaces."""
    text = unicodedata.normalize("NFKC", text)
    if not case:
        text = text.lower()
    if not punctuation:
        text = text.translate(str.maketrans("", "", string.punctuation))
    if articles:
        text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def create_exact_match(
    *, normalize: bool = True, case_sensitive: bool = False, key: str | None = None
) -> Callable[..., EvalResult]:
    """Exact match on the output text, normalised (case, punctuation, articles, spaces) by default."""
    name = key or ("normalized_match" if normalize else "exact_match")

    def evaluator(*, inputs: Any = None, outputs: Any, reference_outputs: Any = None, **kw: Any) -> EvalResult:
        got, want = _as_text(outputs), _as_text(reference_outputs)
        if normalize:
            got = normalize_text(got, case=case_sensitive)
            want = normalize_text(want, case=case_sensitive)
        return EvalResult(key=name, score=got == want, metadata={"output": got[:200], "reference": want[:200]})

    return evaluator


_NUMBER = r"-?\$?\s?\d[\d,]*(?:\.\d+)?|-?\.\d+"
_MARKED = [
    re.compile(r"####\s*(" + _NUMBER + ")"),
    re.compile(r"(?:^|\n)\s*A:\s*(" + _NUMBER + ")"),
    re.compile(r"answer is[:\s]*(" + _NUMBER + ")", re.I),
    re.compile(r"\\boxed\{(" + _NUMBER + r")\}"),
]
_ANY_NUMBER = re.compile(_NUMBER)


def _to_decimal(token: str) -> Decimal | None:
    cleaned = token.replace(",", "").replace("$", "").replace(" ", "").rstrip(".")
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


def extract_number(text: Any) -> Decimal | None:
    """The final numeric answer: after ``####``, ``A:``, "answer is" or ``\\boxed{}``; else the last number."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return Decimal(str(text))
    s = _as_text(text)
    # GSM8K solutions contain calculator annotations <<a*b=c>>; the visible number follows them.
    s = re.sub(r"<<[^>]*>>", "", s)
    for pattern in _MARKED:
        found = pattern.findall(s)
        if found:
            return _to_decimal(found[-1])
    numbers = _ANY_NUMBER.findall(s)
    return _to_decimal(numbers[-1]) if numbers else None


def create_numeric_match(*, tolerance: float = 1e-6, key: str = "numeric_match") -> Callable[..., EvalResult]:
    """Compare the final numbers of output and reference (GSM8K ``#### 42`` style, or the last number)."""

    def evaluator(*, inputs: Any = None, outputs: Any, reference_outputs: Any = None, **kw: Any) -> EvalResult:
        got, want = extract_number(outputs), extract_number(reference_outputs)
        if want is None:
            return EvalResult(key=key, score=None, comment="reference has no number")
        ok = got is not None and abs(got - want) <= Decimal(str(tolerance))
        return EvalResult(
            key=key,
            score=ok,
            comment=None if got is not None else "no number in output",
            metadata={"output_number": None if got is None else str(got), "reference_number": str(want)},
        )

    return evaluator


numeric_match = create_numeric_match()


def create_contains(
    *, substrings: list[str] | None = None, case_sensitive: bool = False, mode: str = "all", key: str = "contains"
) -> Callable[..., EvalResult]:
    """Output contains the given substrings (``mode`` all|any); with none given, the reference text."""
    if mode not in ("all", "any"):
        raise ValueError(f"contains mode must be 'all' or 'any', got {mode!r}")

    def evaluator(*, inputs: Any = None, outputs: Any, reference_outputs: Any = None, **kw: Any) -> EvalResult:
        text = _as_text(outputs)
        needles = list(substrings) if substrings else [_as_text(reference_outputs)]
        if not case_sensitive:
            text, needles = text.lower(), [n.lower() for n in needles]
        hits = [n for n in needles if n in text]
        ok = len(hits) == len(needles) if mode == "all" else bool(hits)
        missing = [n for n in needles if n not in hits]
        return EvalResult(key=key, score=ok, comment=None if ok else f"missing: {missing[:5]}")

    return evaluator


def create_regex(*, pattern: str, flags: str = "", key: str = "regex", full: bool = False) -> Callable[..., EvalResult]:
    """Output matches a regular expression (``flags`` letters from 'imsx')."""
    flag_value = 0
    for letter in flags:
        flag_value |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}[letter]
    compiled = re.compile(pattern, flag_value)

    def evaluator(*, inputs: Any = None, outputs: Any, reference_outputs: Any = None, **kw: Any) -> EvalResult:
        text = _as_text(outputs)
        m = compiled.fullmatch(text) if full else compiled.search(text)
        return EvalResult(key=key, score=m is not None, metadata={"match": m.group(0)[:200]} if m else None)

    return evaluator
