"""The job spec: pydantic models, YAML loading, and one-line errors with the fix."""

from raytrain.spec.loader import (
    apply_overrides,
    json_schema,
    load_spec,
    parse_spec,
    schema_reference,
    spec_hash,
    validate_spec,
)
from raytrain.spec.refs import BUILTIN_TASKS, check_refs
from raytrain.spec.models import (
    CheckpointSpec,
    FailureSpec,
    JobSpec,
    MlflowSpec,
    RuntimeEnvSpec,
    ScalingSpec,
    TrackingSpec,
    TrainSpec,
)

__all__ = [
    "BUILTIN_TASKS",
    "check_refs",
    "CheckpointSpec",
    "FailureSpec",
    "JobSpec",
    "MlflowSpec",
    "RuntimeEnvSpec",
    "ScalingSpec",
    "TrackingSpec",
    "TrainSpec",
    "apply_overrides",
    "json_schema",
    "load_spec",
    "parse_spec",
    "schema_reference",
    "spec_hash",
    "validate_spec",
]
