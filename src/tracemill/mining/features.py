"""Features of failing traces: what went wrong, as field-weighted TF-IDF reduced by SVD.

Fields: the signal kinds, error messages, failing tools with their argument keys, the tools called,
the final output, the last user turn and feedback comments. Each field gets its own TF-IDF vocabulary
(terms prefixed by the field, e.g. ``err:timeout``) and a weight, so "what went wrong" dominates "what
the user asked". Identical feature texts are clustered once (with a weight = how many traces share it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
import numpy as np
import orjson
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import normalize

from tracemill.errors import ConfigError
from tracemill.mining.params import MiningParams
from tracemill.warehouse import query

FIELDS = ("signals", "errors", "failing_tools", "tools", "output", "user", "feedback")

# Signals that say *that* a trace failed, not *what* went wrong. When a trace also has a cause signal
# (an error, a loop, a rule, an outlier...), these only count as weak feedback-field terms, so a tool
# error that also got a thumbs-down stays with the tool errors.
OUTCOME_KINDS = frozenset({"negative_feedback", "failed_outcome"})

# Ids, hashes, amounts and timestamps carry no failure meaning; 3-digit numbers (HTTP codes) do.
_IDS = re.compile(r"\b(?!\d{3}\b)\w*\d\w*\b")
_SPACE = re.compile(r"\s+")


@dataclass
class FailingTraces:
    """The failing traces of a run, in trace_id order, with their per-field texts."""

    trace_ids: list[str]
    start_times: list[object]
    kinds: list[list[str]]
    fields: dict[str, list[str]]
    n_truncated: int = 0

    def __len__(self) -> int:
        return len(self.trace_ids)

    def feature_text(self, i: int, limit: int = 600) -> str:
        parts = [f"{f}: {self.fields[f][i]}" for f in FIELDS if self.fields[f][i]]
        text = " | ".join(parts)
        return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class FeatureSpace:
    """Unique feature texts as vectors: ``X`` (TF-IDF, rows L2-normalized) and ``Z`` (reduced, normalized)."""

    inverse: np.ndarray  # trace index -> unique index
    weights: np.ndarray  # unique index -> number of traces
    X: sp.csr_matrix
    Z: np.ndarray
    terms: np.ndarray  # column names of X
    label_docs: list[str]  # unique index -> text used for c-TF-IDF labels

    @property
    def n_unique(self) -> int:
        return int(self.weights.shape[0])


def _last_user_turn(text: str | None) -> str:
    """The last user message when the input is a JSON list of chat messages, else the text itself."""
    if not text:
        return ""
    t = text.lstrip()
    if t[:1] not in "[{":
        return text
    try:
        data = orjson.loads(t)
    except orjson.JSONDecodeError:
        return text
    msgs = data if isinstance(data, list) else data.get("messages", [data]) if isinstance(data, dict) else []
    for m in reversed(msgs):
        if isinstance(m, dict) and m.get("role") in ("user", "human"):
            c = m.get("content", m.get("parts"))
            if isinstance(c, str):
                return c
            if isinstance(c, list):
                return " ".join(str(p.get("content", p.get("text", ""))) if isinstance(p, dict) else str(p) for p in c)
    return text


def load_failing(con: duckdb.DuckDBPyConnection, params: MiningParams) -> FailingTraces:
    """Read what went wrong for every trace in ``mine_signals`` (one row per failing trace)."""
    rel = con.execute(query("mining/features"))
    cols = [d[0] for d in rel.description]
    rows = rel.fetchall()
    data = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    limit = params.max_field_chars
    n_truncated = 0

    def clip(values: list[str | None]) -> list[str]:
        nonlocal n_truncated
        out = []
        for v in values:
            s = v or ""
            if len(s) > limit:
                n_truncated += 1
                s = s[:limit]
            out.append(s)
        return out

    errors = [
        " | ".join(dict.fromkeys(p.strip() for x in (a, b, c) if x for p in x.split(" | ") if p.strip()))
        for a, b, c in zip(data["error_message"], data["span_errors"], data["tool_errors"], strict=True)
    ]
    causes = [[k for k in ks if k not in OUTCOME_KINDS] for ks in data["kinds"]]
    signal_text = [" ".join(k.replace(":", "_") for k in (c or ks)) for c, ks in zip(causes, data["kinds"], strict=True)]
    feedback = [
        " ".join([*(k for k in ks if c and k in OUTCOME_KINDS), fb or ""]).strip()
        for c, ks, fb in zip(causes, data["kinds"], data["comments"], strict=True)
    ]
    fields = {
        "signals": signal_text,
        "errors": clip(errors),
        "failing_tools": clip(data["failing_tools"]),
        "tools": clip(data["tools"]),
        "output": clip(data["output"]),
        "user": clip([_last_user_turn(x[-20 * limit:] if x else x) for x in data["input"]]),
        "feedback": clip(feedback),
    }
    return FailingTraces(
        trace_ids=data["trace_id"], start_times=data["start_time"], kinds=data["kinds"], fields=fields,
        n_truncated=n_truncated,
    )


def _normalize(text: str) -> str:
    return _SPACE.sub(" ", _IDS.sub(" ", text.lower())).strip()


def _normalize_all(texts: list[str]) -> list[str]:
    """Normalize each distinct text once (tool lists, outputs and messages repeat a lot)."""
    cache: dict[str, str] = {}
    out = []
    for t in texts:
        v = cache.get(t)
        if v is None:
            v = cache[t] = _normalize(t) if t else ""
        out.append(v)
    return out


def build(traces: FailingTraces, params: MiningParams) -> FeatureSpace:
    """Deduplicate feature texts, vectorize each field, weight, stack and reduce."""
    n = len(traces)
    norm = {f: _normalize_all(traces.fields[f]) for f in FIELDS}
    keys = ["\x1f".join(norm[f][i] for f in FIELDS) for i in range(n)]
    uniq, first, inverse = np.unique(np.array(keys, dtype=object), return_index=True, return_inverse=True)
    weights = np.bincount(inverse, minlength=len(uniq)).astype(np.float64)
    blocks: list[sp.csr_matrix] = []
    names: list[np.ndarray] = []
    for f in FIELDS:
        docs = [norm[f][i] for i in first]
        w = params.field_weights.get(f, 0.0)
        if w <= 0 or not any(docs):
            continue
        # Count each distinct field text once (tool lists, outputs, signals repeat a lot), then weight
        # document frequencies by how often each distinct text occurs, which gives the same smooth,
        # sublinear TF-IDF as fitting on every row.
        distinct, inv = np.unique(np.array(docs, dtype=object), return_inverse=True)
        vec = CountVectorizer(
            token_pattern=r"(?u)\b\w\w+\b",
            ngram_range=(1, 2) if f in ("errors", "output") else (1, 1),
            max_features=20_000,
            dtype=np.float32,
        )
        try:
            counts = vec.fit_transform(distinct.tolist()).tocsr()
        except ValueError:  # only empty texts in this field
            continue
        mult = np.bincount(inv, minlength=len(distinct)).astype(np.float64)
        df = np.asarray((counts > 0).T @ mult).ravel()
        idf = np.log((1.0 + len(docs)) / (1.0 + df)) + 1.0
        counts.data = 1.0 + np.log(counts.data)
        m = normalize(counts @ sp.diags(idf.astype(np.float32)))
        blocks.append(m[inv] * w)
        names.append(np.array([f"{f}:{t}" for t in vec.get_feature_names_out()], dtype=object))
    if blocks:
        X = normalize(sp.hstack(blocks, format="csr"))
        terms = np.concatenate(names)
    else:  # traces with no text at all: one constant feature, so they still cluster together
        X = sp.csr_matrix(np.ones((len(uniq), 1), dtype=np.float32))
        terms = np.array(["signals:none"], dtype=object)
    label_docs = [
        " ".join(norm[f][i] for f in ("signals", "errors", "failing_tools", "output", "feedback") if norm[f][i])
        for i in first
    ]
    if params.backend == "embeddings":
        Z = embed_texts([d or "empty" for d in label_docs])
    elif params.backend == "tfidf":
        Z = _reduce(X, params)
    else:
        raise ConfigError("unknown feature backend", value=params.backend, fix="use tfidf or embeddings")
    return FeatureSpace(inverse=inverse, weights=weights, X=X.tocsr(), Z=Z, terms=terms, label_docs=label_docs)


def _reduce(X: sp.csr_matrix, params: MiningParams) -> np.ndarray:
    n, d = X.shape
    k = min(params.svd_components, n - 1, d - 1)
    if k < 2:
        Z = X.toarray().astype(np.float32)
    else:
        svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=5, random_state=params.seed)
        Z = svd.fit_transform(X).astype(np.float32)
    return normalize(Z)


def embed_texts(texts: list[str], model_name: str = "all-MiniLM-L6-v2") -> np.ndarray:
    """Optional sentence-embedding backend (install the ``embeddings`` extra); L2-normalized vectors."""
    try:
        from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]
    except ImportError:
        raise ConfigError(
            "the embeddings backend needs sentence-transformers",
            value="backend=embeddings",
            fix="pip install 'tracemill[embeddings]', or use the default backend=tfidf",
        ) from None
    model = SentenceTransformer(model_name)
    return normalize(np.asarray(model.encode(texts, batch_size=64, show_progress_bar=False), dtype=np.float32))
