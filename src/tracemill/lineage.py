"""Lineage helpers: ids for loads and runs, canonical hashing of configs and rows."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

# Version of the record shapes tracemill writes. Bump with a migration when a stored shape changes.
SCHEMA_VERSION = 1


def new_id(prefix: str) -> str:
    """A sortable unique id such as ``load_20261129T095700_3f2a9c1b``."""
    now = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{prefix}_{now}_{uuid.uuid4().hex[:8]}"


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTC datetimes, non-str keys allowed."""
    return orjson.dumps(
        value,
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY,
        default=_default,
    )


def _default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    return str(obj)


def content_hash(value: Any) -> str:
    """sha256 hex over the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def config_hash(config: Any) -> str:
    """Short stable hash of a configuration (first 16 hex chars of its content hash)."""
    return content_hash(config)[:16]


def utcnow() -> datetime:
    return datetime.now(UTC)
