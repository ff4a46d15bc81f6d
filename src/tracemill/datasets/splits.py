"""Stable hash-based splits: an example's split depends only on its id, so it never moves when the set grows."""

from __future__ import annotations

import hashlib

DEFAULT_TEST_FRACTION = 0.2


def assign_split(example_id: str, *, test_fraction: float = DEFAULT_TEST_FRACTION) -> str:
    """``"test"`` for a fixed ``test_fraction`` of ids (by sha256 bucket), else ``"train"``."""
    bucket = int.from_bytes(hashlib.sha256(example_id.encode()).digest()[:8], "big") / 2**64
    return "test" if bucket < test_fraction else "train"
