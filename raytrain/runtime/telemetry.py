"""Training metrics exported through Ray's metrics API (``ray.util.metrics``).

Every worker sets its own series, labelled by run name and worker rank; Ray's metrics agent
on each node serves them to Prometheus (on Kubernetes through the PodMonitor in ``clusters/``).
Ray prefixes application metrics with ``ray_``: ``raytrain_loss`` is scraped as
``ray_raytrain_loss``, and that is the name the dashboard in ``clusters/monitoring`` queries.

The names follow Prometheus conventions: base units (seconds, bytes), ``_total`` for counters.
"""

from __future__ import annotations

from typing import Any

# name -> (kind, description, labels); the dashboard test reads this table too.
METRICS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "raytrain_samples_per_second": ("gauge", "Training samples per second of this worker", ("run", "rank")),
    "raytrain_run_samples_per_second": ("gauge", "Training samples per second of all workers together", ("run",)),
    "raytrain_loss": ("gauge", "Training loss at the last report", ("run", "rank")),
    "raytrain_step": ("gauge", "Optimizer steps done", ("run", "rank")),
    "raytrain_epoch": ("gauge", "Passes over the training data (fractional)", ("run", "rank")),
    "raytrain_learning_rate": ("gauge", "Learning rate at the last report", ("run", "rank")),
    "raytrain_step_time_seconds": ("gauge", "Mean wall time of a training step since the last report", ("run", "rank")),
    "raytrain_workers": ("gauge", "Live Ray Train workers of the run", ("run",)),
    "raytrain_checkpoint_write_seconds": ("gauge", "Wall time of the last checkpoint write", ("run",)),
    "raytrain_checkpoint_blocked_seconds": ("gauge", "Seconds the training loop waited for the last checkpoint", ("run",)),
    "raytrain_checkpoint_bytes_total": ("counter", "Bytes written to checkpoints", ("run",)),
    "raytrain_checkpoints_total": ("counter", "Checkpoints written", ("run",)),
    "raytrain_failures_total": ("counter", "Failures the run recovered from (restarts from a checkpoint)", ("run",)),
}

# report key -> metric, for the per-report gauges
_FROM_REPORT = {
    "samples_per_s_per_worker": "raytrain_samples_per_second",
    "loss": "raytrain_loss",
    "step": "raytrain_step",
    "epoch": "raytrain_epoch",
    "lr": "raytrain_learning_rate",
    "step_time_s": "raytrain_step_time_seconds",
}


_DRIVER_METRICS = {"raytrain_failures_total"}


def _record_zero(metric, tags: dict[str, str]) -> None:
    """Export a counter from the start at 0, as Prometheus advises (rate() and increase() miss
    a series that appears only at its first event). Counter.inc() refuses 0, so this goes
    through the metric's own recorder."""
    record = getattr(metric, "_record", None)
    if record is not None:
        record(0.0, tags=tags)


class DriverTelemetry:
    """What only the driver knows: how many failures the run recovered from."""

    def __init__(self, run: str):
        from ray.util import metrics

        kind, description, labels = METRICS["raytrain_failures_total"]
        self.tags = {"run": run}
        self.failures = metrics.Counter("raytrain_failures_total", description=description, tag_keys=labels)
        _record_zero(self.failures, self.tags)

    def on_failure(self) -> None:
        self.failures.inc(1.0, tags=self.tags)


class Telemetry:
    """The metrics of one worker of one run. Cheap to call at every report."""

    def __init__(self, run: str, rank: int):
        from ray.util import metrics

        self.run, self.rank = run, rank
        self._metrics: dict[str, Any] = {}
        for name, (kind, description, labels) in METRICS.items():
            if name in _DRIVER_METRICS:
                continue
            cls = metrics.Counter if kind == "counter" else metrics.Gauge
            self._metrics[name] = cls(name, description=description, tag_keys=labels)
            if kind == "counter" and rank == 0:
                _record_zero(self._metrics[name], self._tags(name))

    def _tags(self, name: str) -> dict[str, str]:
        labels = METRICS[name][2]
        tags = {"run": self.run}
        if "rank" in labels:
            tags["rank"] = str(self.rank)
        return tags

    def _set(self, name: str, value: float) -> None:
        self._metrics[name].set(float(value), tags=self._tags(name))

    def _inc(self, name: str, value: float = 1.0) -> None:
        if value > 0:
            self._metrics[name].inc(float(value), tags=self._tags(name))

    def on_report(self, metrics: dict[str, Any]) -> None:
        for key, name in _FROM_REPORT.items():
            value = metrics.get(key)
            if isinstance(value, (int, float)):
                self._set(name, value)
        if self.rank == 0:
            if isinstance(metrics.get("checkpoint_blocked_s"), (int, float)):
                self._set("raytrain_checkpoint_blocked_seconds", metrics["checkpoint_blocked_s"])
            if isinstance(metrics.get("samples_per_s"), (int, float)):
                self._set("raytrain_run_samples_per_second", metrics["samples_per_s"])
            if isinstance(metrics.get("workers"), int):
                self._set("raytrain_workers", metrics["workers"])

    def on_checkpoint(self, write_s: float, num_bytes: int) -> None:
        """Rank 0 writes the checkpoint (from Ray Train's upload thread in async mode)."""
        self._set("raytrain_checkpoint_write_seconds", write_s)
        self._inc("raytrain_checkpoint_bytes_total", num_bytes)
        self._inc("raytrain_checkpoints_total")
