"""Offline evals: run a candidate (model, prompt, tools, agent) over a dataset version and score it.

Public API: ``load_spec`` reads a candidate spec; ``run_experiment`` runs (or resumes) it over a
dataset version and stores experiments / experiment_results / eval_scores in the warehouse.
Evaluators live in ``tracemill.evals.evaluators``.
"""

from tracemill.evals.cache import ResponseCache
from tracemill.evals.evaluators import EvalResult
from tracemill.evals.runner import ExperimentSummary, RunLimits, run_calls, run_experiment, run_spec
from tracemill.evals.spec import CandidateSpec, load_spec, parse_spec

__all__ = [
    "CandidateSpec",
    "EvalResult",
    "ExperimentSummary",
    "ResponseCache",
    "RunLimits",
    "load_spec",
    "parse_spec",
    "run_calls",
    "run_experiment",
    "run_spec",
]
