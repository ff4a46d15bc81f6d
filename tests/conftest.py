"""Shared fixtures: an offline environment, a fresh warehouse per test, the external data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = ROOT.parent / "shared" / "data" / "external"

# Offline for every test, whatever the caller's environment says.
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["LITELLM_OFFLINE_MODE"] = "true"
os.environ["GX_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"


@pytest.fixture(scope="session", autouse=True)
def _prefect_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A per-run PREFECT_HOME (unless the Makefile already set one)."""
    if not os.environ.get("PREFECT_HOME"):
        os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect_home"))


@pytest.fixture()
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings pointing at a fresh embedded warehouse in a temp folder (also set in the env)."""
    from tracemill.settings import Settings

    wh = tmp_path / "wh"
    monkeypatch.setenv("TRACEMILL_WAREHOUSE", str(wh))
    return Settings(warehouse=str(wh))


@pytest.fixture()
def con(settings):
    """A migrated connection to the fresh warehouse."""
    from tracemill.warehouse import connect

    c = connect(settings)
    yield c
    c.close()


@pytest.fixture(scope="session")
def external() -> Path:
    """The real third-party data in ../shared/data/external (never copied into the repo)."""
    if not EXTERNAL.is_dir():
        pytest.fail(f"external data folder missing: {EXTERNAL}")
    return EXTERNAL


@pytest.fixture(scope="session")
def prefect_server():
    """A real, temporary Prefect server for tests where flows are the point (one per session)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield
