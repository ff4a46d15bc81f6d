"""The dataset example: what a golden-set row holds, and what evals replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ToolCallRef(BaseModel):
    """One expected tool call of a reference trajectory."""

    model_config = ConfigDict(frozen=True)

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Example(BaseModel):
    """One dataset example, with lineage back to the trace and failure cluster it came from."""

    model_config = ConfigDict(frozen=True)

    example_id: str
    inputs: dict[str, Any]                       # messages or payload to replay, e.g. {"messages": [...]}
    reference_output: Any | None = None
    reference_trajectory: list[ToolCallRef] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)   # free-form; "tags": [...] (e.g. "critical")
    split: str | None = None
    # lineage
    source_trace_id: str | None = None
    cluster_id: str | None = None
    mining_run_id: str | None = None
    promoted_by: str | None = None
    promoted_at: datetime | None = None
