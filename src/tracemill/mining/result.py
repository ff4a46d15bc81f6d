"""What a mining run returns: its counts and the clusters, largest first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ClusterSummary:
    """One failure mode as this run sees it."""

    cluster_id: str
    size: int
    status: str
    label: str
    name: str
    description: str | None
    representative_trace_ids: tuple[str, ...]
    signal_kinds: tuple[str, ...]
    daily_rate: float
    previous_daily_rate: float | None
    previous_size: int | None
    first_seen: datetime | None
    last_seen: datetime | None


@dataclass(frozen=True)
class MiningResult:
    """Outcome of one ``mine()`` call."""

    run_id: str
    since: datetime | None
    until: datetime | None
    n_traces_scanned: int
    n_failing_traces: int
    n_signals: int
    signals_by_kind: dict[str, int]
    clusters: tuple[ClusterSummary, ...]  # unclustered last among the live ones, gone ones at the end
    previous_run_id: str | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def live_clusters(self) -> tuple[ClusterSummary, ...]:
        return tuple(c for c in self.clusters if c.status != "gone" and c.cluster_id != "unclustered")

    def by_id(self, cluster_id: str) -> ClusterSummary:
        for c in self.clusters:
            if c.cluster_id == cluster_id:
                return c
        raise KeyError(cluster_id)
