"""Submitting job specs to a Ray cluster through the Ray Jobs API, following and listing them.

This package is the only place that talks to the Jobs API; ``raytrain.client`` and the CLI
call it.
"""

from raytrain.submit.auth import Token, resolve_token
from raytrain.submit.jobs import JobRow, JobsClient, Submission, follow_logs, last_metrics
from raytrain.submit.state import JobState, StartDecision, decide_start, has_checkpoints

__all__ = [
    "JobRow",
    "JobState",
    "JobsClient",
    "StartDecision",
    "Submission",
    "Token",
    "decide_start",
    "follow_logs",
    "has_checkpoints",
    "last_metrics",
    "resolve_token",
]
