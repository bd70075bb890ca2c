"""Experiment tracking in MLflow.

The driver logs what rank 0 reports (it receives every report through the progress sink), so
one process owns the MLflow run however often the workers restart. A report is sent to MLflow
once a checkpoint at or after its step is complete (or the run ends): a resumed run repeats
the steps after its checkpoint, and holding those back keeps the metric history free of gaps
and duplicates. The MLflow run id is kept in ``<run dir>/mlflow_run_id``, so a resumed run
continues the same MLflow run.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

from raytrain.errors import UserInputError

RUN_ID_FILE = "mlflow_run_id"
_NOT_METRICS = {"time", "step", "total_steps", "event"}


def _flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.update(_flatten(value, f"{prefix}{key}."))
    else:
        out[prefix.rstrip(".")] = str(obj)[:500]
    return out


def git_commit() -> Optional[str]:
    if os.environ.get("RAYTRAIN_GIT_COMMIT"):
        return os.environ["RAYTRAIN_GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


class MlflowTracker:
    def __init__(self, spec, run_dir: Path, versions: dict[str, str]):
        try:
            from mlflow import MlflowClient
        except ImportError:
            raise UserInputError(
                "tracking.mlflow is set, but MLflow is not installed",
                "pip install 'raytrain[mlflow]' (or remove tracking.mlflow from the spec)",
            ) from None
        cfg = spec.tracking.mlflow
        self.client = MlflowClient(tracking_uri=cfg.tracking_uri)
        self.pending: list[dict[str, Any]] = []
        self.committed_step = -1  # the newest complete checkpoint's step
        self.logged_step = -1  # the newest step whose metrics are in MLflow
        id_file = Path(run_dir) / RUN_ID_FILE
        self.run_id = self._existing_run(id_file)
        if self.run_id is None:
            experiment = self.client.get_experiment_by_name(cfg.experiment)
            experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(cfg.experiment)
            tags = {
                "raytrain.run_name": spec.name,
                "raytrain.version": versions.get("raytrain", ""),
                "ray.version": versions.get("ray", ""),
                "torch.version": versions.get("torch", ""),
                "python.version": versions.get("python", ""),
            }
            commit = git_commit()
            if commit:
                tags["mlflow.source.git.commit"] = commit
            run = self.client.create_run(experiment_id, run_name=spec.name, tags=tags)
            self.run_id = run.info.run_id
            params = _flatten(spec.model_dump(mode="json"))
            from mlflow.entities import Param

            items = [Param(k, v) for k, v in sorted(params.items())]
            for i in range(0, len(items), 100):
                self.client.log_batch(self.run_id, params=items[i : i + 100])
            id_file.parent.mkdir(parents=True, exist_ok=True)
            id_file.write_text(self.run_id + "\n")
        else:
            self.client.update_run(self.run_id, status="RUNNING")
            tags = self.client.get_run(self.run_id).data.tags
            self.logged_step = int(tags.get("raytrain.logged_step", -1))
        submission = os.environ.get("RAY_JOB_SUBMISSION_ID") or os.environ.get("RAYTRAIN_SUBMISSION_ID")
        if submission:
            self.client.set_tag(self.run_id, "raytrain.submission_id", submission)

    def _existing_run(self, id_file: Path) -> Optional[str]:
        if not id_file.is_file():
            return None
        run_id = id_file.read_text().strip()
        try:
            self.client.get_run(run_id)
            return run_id
        except Exception:  # deleted, or another tracking server: start a new run
            return None

    def on_report(self, record: dict[str, Any]) -> None:
        self.pending.append(record)
        if record.get("step", 0) <= self.committed_step:  # the report that came with its checkpoint
            self.flush(up_to=self.committed_step)

    def backfill(self, history: list[dict[str, Any]], resumed_step: int) -> None:
        """A resumed run: log what an earlier driver recorded in metrics.jsonl but did not
        get to send (it died before a checkpoint covering those steps reached it)."""
        missing = [r for r in history if self.logged_step < r.get("step", 0) <= resumed_step]
        self.pending = missing + self.pending
        self.committed_step = max(self.committed_step, resumed_step)
        self.flush(up_to=resumed_step)

    def on_restart(self, resumed_step: int) -> None:
        """The steps after the checkpoint are run again: drop their first reports."""
        self.pending = [r for r in self.pending if r.get("step", 0) <= resumed_step]

    def on_checkpoint(self, step: int, path: str) -> None:
        self.committed_step = max(self.committed_step, step)
        self.flush(up_to=step)
        self.client.set_tag(self.run_id, "raytrain.last_checkpoint", path)

    def flush(self, up_to: Optional[int] = None) -> None:
        from mlflow.entities import Metric

        ready, keep = [], []
        for r in self.pending:
            (ready if up_to is None or r.get("step", 0) <= up_to else keep).append(r)
        self.pending = keep
        metrics = [
            Metric(key, float(value), int(r.get("time", time.time()) * 1000), int(r.get("step", 0)))
            for r in ready
            for key, value in r.items()
            if key not in _NOT_METRICS and isinstance(value, (int, float)) and not isinstance(value, bool)
        ]
        for i in range(0, len(metrics), 500):
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 500])
        if ready:
            self.logged_step = max(self.logged_step, max(r.get("step", 0) for r in ready))
            self.client.set_tag(self.run_id, "raytrain.logged_step", str(self.logged_step))

    def finish(self, record: dict[str, Any]) -> None:
        """Log what is left and the outcome (an interrupted run is marked KILLED; its resume reopens it)."""
        status = record["status"]
        if status == "succeeded":
            self.flush()
        for key in ("last_checkpoint", "best_checkpoint"):
            if record.get(key):
                self.client.set_tag(self.run_id, f"raytrain.{key}", record[key])
        self.client.set_tag(self.run_id, "raytrain.status", status)
        final = {"succeeded": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}[status]
        self.client.set_terminated(self.run_id, status=final)
