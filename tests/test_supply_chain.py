"""The lock file pins what the README promises: exact litellm (never the compromised 1.82.7/1.82.8),
duckdb 1.5.5 with its four signed extension packages at the same version, every package hash-locked."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPROMISED = {"1.82.7", "1.82.8"}


def _locked() -> dict[str, dict]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {p["name"]: p for p in lock["package"]}


def test_litellm_is_pinned_exactly_and_never_compromised():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = [d for d in project["project"]["dependencies"] if d.startswith("litellm")]
    assert pins == ["litellm==1.110.2"]
    constraints = project["tool"]["uv"]["constraint-dependencies"]
    assert all(f"!={v}" in "".join(constraints) for v in COMPROMISED)
    assert _locked()["litellm"]["version"] not in COMPROMISED


def test_duckdb_and_extensions_locked_together_with_hashes():
    locked = _locked()
    for name in ["duckdb", "duckdb-extension-ducklake", "duckdb-extension-sqlite-scanner",
                 "duckdb-extension-postgres-scanner", "duckdb-extension-httpfs"]:
        assert locked[name]["version"] == "1.5.5", name
    for name, pkg in locked.items():
        if pkg.get("source", {}).get("registry"):
            files = pkg.get("wheels", []) + ([pkg["sdist"]] if "sdist" in pkg else [])
            assert files and all(f.get("hash", "").startswith("sha256:") for f in files), name
