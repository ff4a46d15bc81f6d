"""The one settings object. Environment variables use the ``TRACEMILL_`` prefix.

Per-run choices (paths to ingest, dataset refs, thresholds) are flow parameters, not settings.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Where the warehouse lives and how tracemill talks to the outside world."""

    model_config = SettingsConfigDict(env_prefix="TRACEMILL_", extra="ignore")

    # A directory (embedded default: SQLite catalog + Parquet data dir inside it), or a full
    # DuckLake catalog URI such as ``ducklake:postgres:dbname=lake host=...`` together with
    # ``TRACEMILL_DATA_PATH=s3://bucket/prefix/``.
    warehouse: str = Field(default=str(PROJECT_ROOT / "warehouse" / "local"))
    data_path: str | None = None
    # Extra per-model prices for models litellm's offline cost map does not know:
    # a JSON/YAML file mapping model -> {input_cost_per_token, output_cost_per_token}.
    prices_file: str | None = None
    # Largest raw record accepted at ingest; larger ones are quarantined.
    max_record_bytes: int = 8 * 1024 * 1024
    ingest_batch_spans: int = 25_000
    # The C fast path for OTLP spans (ingest/native.py), when it was compiled; false = Python only.
    native: bool = True
    # Parse workers write the span data files themselves and the loader registers them (when the lake's
    # data path is a local folder); false = the loader writes every chunk.
    worker_data_files: bool = True
    # DuckDB's buffer pool per connection; it spills to disk beyond this.
    duckdb_memory_limit: str = "1GB"
    # Incoming webhook (Slack-compatible JSON {"text": ...}) told when a nightly stage fails.
    notify_webhook: str | None = None
    # Optional LLM for cluster naming and judges (a litellm model string) and its api_base.
    llm_model: str | None = None
    llm_api_base: str | None = None

    @property
    def is_embedded(self) -> bool:
        return not self.warehouse.startswith("ducklake:")

    @property
    def root(self) -> Path:
        """Local folder for the embedded catalog and data, and for reports (also for remote catalogs)."""
        if self.is_embedded:
            return Path(self.warehouse).expanduser().resolve()
        return PROJECT_ROOT / "warehouse" / "local"

    @property
    def catalog_uri(self) -> str:
        if self.is_embedded:
            return f"ducklake:sqlite:{self.root / 'catalog.sqlite'}"
        return self.warehouse

    @property
    def resolved_data_path(self) -> str:
        if self.data_path:
            return self.data_path
        if self.is_embedded:
            return str(self.root / "data") + "/"
        from tracemill.errors import ConfigError

        raise ConfigError(
            "a remote catalog needs a data path", value=self.warehouse,
            fix="set TRACEMILL_DATA_PATH, e.g. s3://bucket/lake/",
        )

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment, with optional explicit overrides (used by flows/tests)."""
    if overrides:
        return Settings(**overrides)  # type: ignore[arg-type]
    return Settings()
