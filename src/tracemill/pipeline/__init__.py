"""Bookkeeping for the nightly loop: runs, stages and their outputs, in the warehouse.

Plain functions (no Prefect): ``flows/nightly.py`` calls them around each stage so a failed run can
be retried without redoing the stages that finished.
"""

from tracemill.pipeline.nightly import compare_with_previous_night, post_comparison
from tracemill.pipeline.runs import (
    STAGES,
    completed_stage,
    finish_run,
    finish_stage,
    previous_eval,
    start_run,
    start_stage,
)

__all__ = [
    "STAGES",
    "compare_with_previous_night",
    "completed_stage",
    "finish_run",
    "finish_stage",
    "post_comparison",
    "previous_eval",
    "start_run",
    "start_stage",
]
