"""The job spec: what to train, on how many workers, where its checkpoints live.

Every model forbids unknown keys and documents every field; the JSON schema printed by
``raytrain schema`` and the README's reference are generated from these classes.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
IMPORT_REF_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
BUILTIN_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _check_workers(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a positive integer or a [min, max] pair, not a boolean")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"{value} workers cannot train; use 1 or more")
        return value
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{list(value)} is not a [min, max] pair of integers; write e.g. [1, 4]")
        lo, hi = value
        if lo < 1:
            raise ValueError(f"min of {list(value)} must be at least 1")
        if lo > hi:
            raise ValueError(f"min > max in {list(value)}; write [{hi}, {lo}]")
        return (lo, hi)
    raise ValueError(f"{value!r} is neither a worker count nor a [min, max] pair; write 2 or [1, 4]")


Workers = Annotated[
    Union[int, tuple[int, int]],
    BeforeValidator(_check_workers),
]


class TrainSpec(_Strict):
    """What to train and for how long."""

    task: Optional[str] = Field(
        None,
        description="A built-in task (digits, charlm, synthetic) or your own as 'module:Class' "
        "(a subclass of raytrain.Task). Exactly one of task and loop.",
        examples=["digits", "mypkg.tasks:MyTask"],
    )
    loop: Optional[str] = Field(
        None,
        description="A raw Ray Train per-worker function as 'module:function'; it receives the "
        "resolved spec as a dict and checkpoints with raytrain.save_checkpoint/load_checkpoint. "
        "Exactly one of task and loop.",
    )
    config: dict[str, Any] = Field(
        default_factory=dict, description="Options passed to the task (or loop) as a dict."
    )
    max_steps: Optional[int] = Field(
        None, ge=1, description="Stop after this many optimizer steps. One of max_steps and epochs."
    )
    epochs: Optional[int] = Field(
        None, ge=1, description="Stop after this many passes over the training data."
    )
    batch_size: int = Field(32, ge=1, description="Samples per worker per step.")
    lr: float = Field(1e-3, gt=0, description="Peak learning rate of the optimizer.")
    seed: int = Field(0, ge=0, description="Seed for model init, data order and every RNG.")
    eval_every_n_steps: Optional[int] = Field(
        None, ge=1, description="Evaluate on held-out data every N steps (and always at the end)."
    )
    report_every_n_steps: int = Field(
        10, ge=1, description="Report metrics (one progress line) every N steps."
    )

    @field_validator("task")
    @classmethod
    def _task_ref(cls, v: Optional[str]) -> Optional[str]:
        from raytrain.spec.refs import BUILTIN_TASKS

        if v is None or IMPORT_REF_RE.match(v):
            return v
        if BUILTIN_NAME_RE.match(v):
            if v not in BUILTIN_TASKS:
                raise ValueError(
                    f"unknown built-in task {v!r}; use one of {', '.join(BUILTIN_TASKS)} or 'module:Class'"
                )
            return v
        raise ValueError(
            f"{v!r} is neither a built-in task name nor 'module:Class'; write e.g. 'digits' "
            "or 'mypkg.tasks:MyTask'"
        )

    @field_validator("loop")
    @classmethod
    def _loop_ref(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not IMPORT_REF_RE.match(v):
            raise ValueError(f"{v!r} is not 'module:function'; write e.g. 'mypkg.train:loop'")
        return v

    @model_validator(mode="after")
    def _one_of(self) -> "TrainSpec":
        if (self.task is None) == (self.loop is None):
            which = "both are set" if self.task else "neither is set"
            raise ValueError(f"give exactly one of task and loop ({which}); e.g. task: digits")
        if self.max_steps is None and self.epochs is None:
            raise ValueError("give max_steps or epochs so the run knows when to stop")
        if self.max_steps is not None and self.epochs is not None:
            raise ValueError("give max_steps or epochs, not both")
        return self


class ScalingSpec(_Strict):
    """How many workers, and what each one gets."""

    workers: Workers = Field(
        1,
        description="Number of Ray Train workers: an int for a fixed count, or [min, max] for "
        "elastic training that grows and shrinks with the cluster.",
        examples=[2, [1, 4]],
    )
    use_gpu: bool = Field(False, description="Give each worker one GPU and use NCCL.")
    resources_per_worker: Optional[dict[str, float]] = Field(
        None,
        description="Ray resources per worker, e.g. {CPU: 4, GPU: 1}. Default: 1 CPU "
        "(and 1 GPU with use_gpu).",
    )
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = Field(
        "PACK", description="How Ray places the workers' bundles across nodes."
    )
    elastic_resize_interval_s: float = Field(
        60.0,
        gt=0,
        description="With elastic workers, how often a healthy run checks whether it can grow "
        "back to more workers (restarting from the newest checkpoint when it does).",
    )

    @field_validator("resources_per_worker")
    @classmethod
    def _non_negative(cls, v: Optional[dict[str, float]]) -> Optional[dict[str, float]]:
        for key, amount in (v or {}).items():
            if amount < 0:
                raise ValueError(f"{key}: {amount} is negative; use 0 or more")
        return v

    @property
    def min_workers(self) -> int:
        return self.workers if isinstance(self.workers, int) else self.workers[0]

    @property
    def max_workers(self) -> int:
        return self.workers if isinstance(self.workers, int) else self.workers[1]

    @property
    def elastic(self) -> bool:
        return not isinstance(self.workers, int)


class CheckpointSpec(_Strict):
    """Where checkpoints go, how often, how many stay, and how a rerun resumes."""

    storage_path: Optional[str] = Field(
        None,
        description="Directory that holds runs (the checkpoint volume's mount on Kubernetes, "
        "e.g. /mnt/checkpoints). --storage and RAYTRAIN_STORAGE_PATH override it; "
        "default ./.raytrain/storage.",
    )
    every_n_steps: int = Field(100, ge=1, description="Write a checkpoint every N steps.")
    mode: Literal["sync", "async"] = Field(
        "sync",
        description="'sync' waits until the checkpoint is on the volume; 'async' copies the "
        "state in memory and writes it in the background while training goes on (the seconds "
        "the loop was blocked are in metrics.jsonl as checkpoint_blocked_s either way).",
    )
    keep: Optional[int] = Field(
        3, ge=1, description="How many checkpoints to keep (the best by score_metric, else the newest)."
    )
    score_metric: Optional[str] = Field(
        None, description="Metric that ranks checkpoints for keep and 'best', e.g. val_loss."
    )
    score_mode: Literal["max", "min"] = Field(
        "max", description="Whether a higher (max) or lower (min) score_metric is better."
    )
    resume: str = Field(
        "auto",
        description="'auto' continues from the newest complete checkpoint of this run, 'never' "
        "refuses to touch a run that has checkpoints, or a checkpoint directory to start from.",
    )


class FailureSpec(_Strict):
    """How many failures a run survives."""

    max_failures: int = Field(
        0, ge=-1, description="Worker failures to recover from (restart from the newest "
        "checkpoint); -1 for unlimited."
    )
    max_preemptions: int = Field(
        -1,
        ge=-1,
        description="Node preemptions (drains announced with a deadline, e.g. spot reclaims) to "
        "recover from, counted apart from max_failures; the run writes a last checkpoint when "
        "one is announced. -1 for unlimited, 0 to fail on the first.",
    )


class RuntimeEnvSpec(_Strict):
    """What the job's processes get besides the code: pip packages, environment variables."""

    pip: list[str] = Field(default_factory=list, description="Extra pip requirements for workers.")
    env_vars: dict[str, str] = Field(
        default_factory=dict, description="Environment variables for the driver and workers."
    )
    working_dir_excludes: list[str] = Field(
        default_factory=list,
        description="Patterns left out of the uploaded working_dir (besides .git, .venv, .raytrain).",
    )


class MlflowSpec(_Strict):
    """Where rank 0's reports go in MLflow (needs `pip install raytrain[mlflow]`)."""

    tracking_uri: str = Field(
        ..., description="MLflow tracking URI, e.g. http://mlflow:5000 or sqlite:///mlflow.db."
    )
    experiment: str = Field("raytrain", description="MLflow experiment name (created when missing).")


class TrackingSpec(_Strict):
    """Experiment tracking."""

    mlflow: Optional[MlflowSpec] = Field(
        None, description="Log params, metrics, tags and checkpoint locations to MLflow; a resumed "
        "run continues the same MLflow run."
    )


class JobSpec(_Strict):
    """A raytrain job: what to train, how it scales, where its checkpoints live."""

    name: str = Field(
        ...,
        max_length=48,
        description="The run name: a directory under the storage path; lowercase letters, "
        "digits and '-'.",
    )
    train: TrainSpec = Field(..., description="What to train and for how long.")
    scaling: ScalingSpec = Field(default_factory=ScalingSpec, description="Workers and resources.")
    checkpoint: CheckpointSpec = Field(
        default_factory=CheckpointSpec, description="Checkpoint storage, frequency, retention, resume."
    )
    failure: FailureSpec = Field(default_factory=FailureSpec, description="Failures to survive.")
    runtime_env: RuntimeEnvSpec = Field(
        default_factory=RuntimeEnvSpec, description="pip packages and environment variables."
    )
    tracking: TrackingSpec = Field(default_factory=TrackingSpec, description="Experiment tracking (MLflow).")

    @field_validator("name")
    @classmethod
    def _dns_name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            fixed = re.sub(r"[^a-z0-9-]+", "-", v.lower()).strip("-") or "my-run"
            raise ValueError(
                f"{v!r} is not a valid run name (lowercase letters, digits, '-'); write {fixed!r}"
            )
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> "JobSpec":
        if self.checkpoint.score_metric is None and self.checkpoint.score_mode != "max":
            raise ValueError("checkpoint.score_mode needs checkpoint.score_metric; set both or neither")
        return self
