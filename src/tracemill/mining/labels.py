"""Cluster labels: distinctive terms by class-based TF-IDF, and optional LLM names via litellm."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

NAMING_PROMPT = """You name failure modes of a production AI agent for an engineering team's morning report.
A clustering of failing traces produced this cluster.

Size: {size} failing traces
Distinctive terms: {terms}
Example traces (what went wrong):
{examples}

Reply with JSON only: {{"name": "<a short name, at most 6 words>", "description": "<one sentence: what goes wrong>"}}"""


# Contraction fragments ("I've" -> "ve") say nothing about a failure.
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | {"ve", "ll", "re", "don", "didn", "doesn", "isn", "won", "couldn", "wasn"})


@dataclass(frozen=True)
class LLMName:
    """A name and description written by an LLM, with the prompt and model that produced them."""

    name: str
    description: str
    prompt: str
    model: str


def ctfidf_terms(docs: list[str], weights: np.ndarray, labels: np.ndarray, n_terms: int) -> dict[int, list[str]]:
    """Top ``n_terms`` distinctive terms per cluster label (including -1 for noise) by c-TF-IDF.

    Each cluster's documents are one class document; a term scores ``tf(t, c) * log(1 + A / f(t))`` with
    ``A`` the average number of words per class and ``f(t)`` the term's frequency over all classes.
    """
    present = sorted(set(int(x) for x in labels))
    if not present:
        return {}
    cv = CountVectorizer(token_pattern=r"(?u)\b\w\w+\b", ngram_range=(1, 2), stop_words=STOP_WORDS,
                         max_features=50_000, dtype=np.float64)
    try:
        counts = cv.fit_transform([d or "" for d in docs])
    except ValueError:  # no words at all
        return {c: [] for c in present}
    vocab = cv.get_feature_names_out()
    rows = np.array([present.index(int(x)) for x in labels])
    member = sp.csr_matrix((weights, (rows, np.arange(len(labels)))), shape=(len(present), len(labels)))
    tf = np.asarray((member @ counts).todense())
    totals = tf.sum(axis=1, keepdims=True)
    tf_norm = tf / np.where(totals == 0, 1, totals)
    avg_words = tf.sum() / len(present)
    freq = tf.sum(axis=0)
    idf = np.log1p(avg_words / np.where(freq == 0, 1, freq))
    scores = tf_norm * idf
    out: dict[int, list[str]] = {}
    for r, c in enumerate(present):
        order = np.argsort(-scores[r], kind="stable")
        chosen: list[str] = []
        for j in order:
            if scores[r, j] <= 0 or len(chosen) >= n_terms:
                break
            term = str(vocab[j])
            # Skip a term already covered by a chosen bigram (or covering a chosen unigram).
            if any(term in c2.split() or c2 in term.split() for c2 in chosen):
                continue
            chosen.append(term)
        out[c] = chosen
    return out


def label_text(terms: list[str]) -> str:
    return " / ".join(terms) if terms else "(no distinctive terms)"


def _parse_name(text: str) -> tuple[str, str] | None:
    match = re.search(r"\{.*\}", text or "", flags=re.S)
    if not match:
        return None
    try:
        data = orjson.loads(match.group(0))
    except orjson.JSONDecodeError:
        return None
    name = str(data.get("name", "")).strip()
    if not name:
        return None
    return name[:80], str(data.get("description", "")).strip()[:400]


def llm_name(
    *,
    size: int,
    terms: list[str],
    examples: list[str],
    model: str,
    api_base: str | None = None,
    completion_kwargs: dict[str, Any] | None = None,
) -> LLMName | None:
    """Ask the configured LLM for a short name and description; None if it fails or answers badly.

    Naming is a nice-to-have: any error (network, bad JSON) leaves the c-TF-IDF label in place.
    """
    import litellm

    prompt = NAMING_PROMPT.format(
        size=size,
        terms=", ".join(terms) or "(none)",
        examples="\n".join(f"{i + 1}. {e[:500]}" for i, e in enumerate(examples[:3])) or "(none)",
    )
    kwargs: dict[str, Any] = {"temperature": 0, "max_tokens": 200, "num_retries": 2}
    if api_base:
        kwargs["api_base"] = api_base
    kwargs.update(completion_kwargs or {})
    try:
        resp = litellm.completion(model=model, messages=[{"role": "user", "content": prompt}], **kwargs)
        content = resp.choices[0].message.content or ""
    except Exception:  # noqa: BLE001 - any provider error keeps the term label
        return None
    parsed = _parse_name(content)
    if parsed is None:
        return None
    return LLMName(name=parsed[0], description=parsed[1], prompt=prompt, model=model)
