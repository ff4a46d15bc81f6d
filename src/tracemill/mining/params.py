"""Every knob of a mining run, saved with the run (``mining_runs.params``) so it can be reproduced."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Matches answers that decline to help. Kept deliberately narrow: an apology is not a refusal.
DEFAULT_REFUSAL_PATTERN = (
    r"\b(i can(no|')t|i am unable to|i'm unable to|i won't be able to|i will not)\s+"
    r"(help|assist|comply|do that|provide|answer)"
)


class MiningParams(BaseModel):
    """Thresholds for signals, the clustering, representatives and cross-run matching."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Signals
    loop_min_repeats: int = Field(3, ge=2, description="same tool + same arguments this many times = loop")
    outlier_z: float = Field(5.0, gt=0, description="robust z (median/MAD of log values) for latency/cost outliers")
    outlier_min_ratio: float = Field(4.0, ge=1, description="and at least this many times the group median")
    outlier_min_group: int = Field(20, ge=3, description="groups (route/model) smaller than this are not judged")
    feedback_default_threshold: float = 0.5
    feedback_thresholds: dict[str, float] = Field(
        default_factory=dict, description="per feedback key: scores below this are negative (e.g. {'rating': 3})"
    )
    refusal_pattern: str = DEFAULT_REFUSAL_PATTERN
    rules_dir: str | None = Field(None, description="folder of user rule SQL files (default warehouse/rules)")

    # Features
    max_field_chars: int = Field(2000, ge=50, description="longer texts are truncated (and the run notes it)")
    field_weights: dict[str, float] = Field(
        default_factory=lambda: {
            # What went wrong weighs most; context (tools called, answer, request) least. Rows are
            # normalized after weighting, so a trace without error text leans on its signal kinds.
            "signals": 2.0, "errors": 2.0, "failing_tools": 1.5, "tools": 0.5,
            "output": 0.6, "user": 0.4, "feedback": 0.4,
        }
    )
    svd_components: int = Field(64, ge=2)
    backend: str = Field("tfidf", description="tfidf (default) or embeddings (needs the 'embeddings' extra)")

    # Clustering
    min_cluster_size: int = Field(5, ge=1)
    distance_threshold: float = Field(0.45, gt=0, lt=2, description="average-linkage cosine distance to stop merging")
    sample_size: int = Field(3000, ge=100, description="points clustered directly; the rest are assigned")
    seed: int = 0

    # Representatives and labels
    n_representatives: int = Field(5, ge=1)
    near_duplicate_distance: float = Field(0.02, ge=0, description="members closer than this are duplicates")
    n_label_terms: int = Field(4, ge=1)
    llm_name_top: int = Field(10, ge=0, description="clusters named by the LLM (largest first) when one is set")

    # Stability
    match_threshold: float = Field(0.5, gt=0, le=1)
    trend_ratio: float = Field(1.3, gt=1, description="daily rate change that counts as growing/shrinking")
    trend_min_delta: float = Field(2.0, ge=0, description="and at least this many traces per day of change")
