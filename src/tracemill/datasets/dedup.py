"""Near-duplicate detection: the same normalised input, or near-identical text by MinHash over shingles.

Only the user-authored part of the inputs is compared (user messages when there are messages): a long
shared system prompt would otherwise make every example of an agent look alike.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tracemill.lineage import canonical_json

if TYPE_CHECKING:  # datasketch pulls in scipy (~1.5 s): import it only when deduplicating
    from datasketch import MinHash

NUM_PERM = 128
THRESHOLD = 0.85   # estimated Jaccard similarity of 5-char shingles at or above which inputs are near-duplicates
_SHINGLE = 5


_SKIP_KEYS = frozenset({"role", "type", "id", "tool_call_id", "name"})


def _strings(value: Any, *, skip: frozenset[str] = frozenset()) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k in sorted(value):
            if k not in skip:
                yield from _strings(value[k], skip=skip)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, skip=skip)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def input_text(inputs: dict[str, Any]) -> str:
    """The text that identifies an input: the user messages if there are messages, else all strings.

    Works for both ``{role, content}`` and OTel ``{role, parts: [{type, content}]}`` message shapes.
    """
    messages = inputs.get("messages") if isinstance(inputs, dict) else None
    if isinstance(messages, list) and messages:
        user = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        text = "\n".join(_strings(user, skip=_SKIP_KEYS))
        if text.strip():
            return text
    text = "\n".join(_strings(inputs))
    # an input without any text still needs a distinct identity: fall back to its JSON
    return text if text.strip() else canonical_json(inputs).decode()


def normalise(text: str) -> str:
    """Case-folded, NFKC, punctuation to spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def input_key(inputs: dict[str, Any]) -> str:
    """Hash of the normalised input text: equal keys are exact duplicates."""
    return hashlib.sha256(normalise(input_text(inputs)).encode()).hexdigest()[:32]


def minhash(inputs: dict[str, Any]) -> MinHash:
    from datasketch import MinHash

    text = normalise(input_text(inputs))
    m = MinHash(num_perm=NUM_PERM, seed=7)
    grams = {text[i : i + _SHINGLE] for i in range(max(1, len(text) - _SHINGLE + 1))}
    for g in grams:
        m.update(g.encode())
    return m


@lru_cache(maxsize=8)
def _lsh_params(threshold: float) -> tuple[int, int]:
    from datasketch import MinHashLSH

    # datasketch integrates to find (bands, rows) on every construction; it only depends on the threshold
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    return lsh.b, lsh.r


class DuplicateIndex:
    """Exact (normalised input) and near (MinHash LSH) duplicate lookups over a growing set of inputs."""

    def __init__(self, *, threshold: float = THRESHOLD) -> None:
        from datasketch import MinHashLSH

        self.threshold = threshold
        self._keys: dict[str, str] = {}
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, params=_lsh_params(threshold))
        self._hashes: dict[str, MinHash] = {}

    def add(self, ident: str, inputs: dict[str, Any]) -> None:
        self._keys.setdefault(input_key(inputs), ident)
        if ident not in self._hashes:
            m = minhash(inputs)
            self._hashes[ident] = m
            self._lsh.insert(ident, m)

    def find(self, inputs: dict[str, Any]) -> tuple[str, str] | None:
        """``(existing id, "same_input" | "near_duplicate")`` if ``inputs`` duplicates something indexed."""
        hit = self._keys.get(input_key(inputs))
        if hit is not None:
            return hit, "same_input"
        m = minhash(inputs)
        best = None
        for ident in self._lsh.query(m):
            sim = self._hashes[ident].jaccard(m)
            if sim >= self.threshold and (best is None or sim > best[1]):
                best = (ident, sim)
        return (best[0], "near_duplicate") if best else None
