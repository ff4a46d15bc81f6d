"""Secrets for flows come from Prefect Secret blocks (by name) or, when no block is named, from the
worker's environment, read by the stage code itself."""

from __future__ import annotations


def secret(name: str | None) -> str | None:
    """The value of the Prefect Secret block ``name`` (None when no name is given)."""
    if not name:
        return None
    from prefect.blocks.system import Secret

    value = Secret.load(name).get()
    return value if isinstance(value, str) else None
