"""Compare two dataset versions: added, removed and changed examples, with field-level changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from tracemill.datasets.example import Example
from tracemill.datasets.store import canonical_row, load_examples
from tracemill.datasets.versions import DatasetVersion


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class DatasetDiff:
    """``old`` -> ``new``: ids added and removed, and per changed id the fields that differ."""

    old: DatasetVersion
    new: DatasetVersion
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: dict[str, tuple[FieldChange, ...]] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_markdown(self, *, max_items: int = 20) -> str:
        """A short markdown summary (for flow artifacts and the CLI)."""
        lines = [
            f"### Diff {self.old.ref} ({self.old.short_hash}) -> {self.new.ref} ({self.new.short_hash})",
            "",
            f"- added: {len(self.added)}, removed: {len(self.removed)}, changed: {len(self.changed)}",
            f"- examples: {self.old.n_examples} -> {self.new.n_examples}",
        ]
        for label, ids in (("added", self.added), ("removed", self.removed)):
            if ids:
                shown = ", ".join(f"`{i}`" for i in ids[:max_items])
                lines.append(f"- {label}: {shown}{' …' if len(ids) > max_items else ''}")
        for eid, changes in list(self.changed.items())[:max_items]:
            lines.append(f"- changed `{eid}`: " + ", ".join(c.field for c in changes))
        return "\n".join(lines) + "\n"


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    # metadata keys compare one by one so a diff says which metadata entry changed
    out = {k: v for k, v in row.items() if k not in ("metadata", "example_id")}
    for k, v in (row.get("metadata") or {}).items():
        out[f"metadata.{k}"] = v
    return out


def diff_examples(old: list[Example], new: list[Example]) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, tuple[FieldChange, ...]]]:
    """(added ids, removed ids, changed id -> field changes) between two example lists."""
    a = {e.example_id: _flatten(canonical_row(e)) for e in old}
    b = {e.example_id: _flatten(canonical_row(e)) for e in new}
    added = tuple(sorted(set(b) - set(a)))
    removed = tuple(sorted(set(a) - set(b)))
    changed: dict[str, tuple[FieldChange, ...]] = {}
    for eid in sorted(set(a) & set(b)):
        fields = sorted(set(a[eid]) | set(b[eid]))
        ch = tuple(FieldChange(f, a[eid].get(f), b[eid].get(f)) for f in fields if a[eid].get(f) != b[eid].get(f))
        if ch:
            changed[eid] = ch
    return added, removed, changed


def diff_versions(con: duckdb.DuckDBPyConnection, old_ref: str, new_ref: str) -> DatasetDiff:
    """Diff any two versions (both hash-checked on read); they may belong to different datasets."""
    va, ea = load_examples(con, old_ref)
    vb, eb = load_examples(con, new_ref)
    added, removed, changed = diff_examples(ea, eb)
    return DatasetDiff(old=va, new=vb, added=added, removed=removed, changed=changed)
