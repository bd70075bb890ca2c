"""The driver side of a run: build the Ray Train V2 TorchTrainer from a spec, follow its
progress, and write the run's record (``metrics.jsonl``, ``result.json``)."""

from __future__ import annotations

import json
import os
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from raytrain.errors import RunExistsError, SpecError, StorageError, TrainingFailed, UserInputError
from raytrain.runtime import checkpoint as store
from raytrain.spec import JobSpec

DEFAULT_STORAGE = "./.raytrain/storage"
STORAGE_ENV = "RAYTRAIN_STORAGE_PATH"
UPLOAD_EXCLUDES = [".git", ".venv", ".raytrain", "__pycache__", "*.pyc"]


def resolve_storage(spec: JobSpec, override: Optional[str] = None) -> Path:
    """--storage, then $RAYTRAIN_STORAGE_PATH, then the spec, then ./.raytrain/storage."""
    raw = override or os.environ.get(STORAGE_ENV) or spec.checkpoint.storage_path or DEFAULT_STORAGE
    return Path(raw).expanduser().absolute()


def check_storage_writable(storage: Path, source: str) -> None:
    try:
        storage.mkdir(parents=True, exist_ok=True)
        probe = storage / f".raytrain-write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise StorageError(
            f"{source}: checkpoint.storage_path: {storage} is not writable ({exc.strerror or exc})",
            "pass --storage DIR (or set RAYTRAIN_STORAGE_PATH) to a directory you can write",
        ) from None


def run_has_checkpoints(run_dir: Path) -> bool:
    return run_dir.is_dir() and (
        (run_dir / "checkpoint_manager_snapshot.json").exists() or any(run_dir.glob("checkpoint_*"))
    )


def versions() -> dict[str, str]:
    import ray
    import torch

    import raytrain

    return {
        "raytrain": raytrain.__version__,
        "ray": ray.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def _worker_entry(config: dict[str, Any]) -> None:
    """What every Ray Train worker runs: set up the checkpoint store, then the loop."""
    store._CONTEXT.update(progress=config.get("progress"), resume_from=config.get("resume_from"))
    spec = JobSpec.model_validate(config["spec"])
    if spec.train.task is not None:
        from raytrain.runtime.loop import train_task_loop

        train_task_loop(spec)
    else:
        from raytrain.runtime.tasks import resolve_loop

        resolve_loop(spec.train.loop)(config["spec"])


class _Progress:
    """Follows the records the workers push, prints progress, keeps metrics.jsonl current."""

    def __init__(self, sink, run_dir: Path, name: str, echo: Callable[[str], None]):
        self.sink, self.run_dir, self.name, self.echo = sink, run_dir, name, echo
        self.metrics_path = run_dir / "metrics.jsonl"
        self.history: list[dict[str, Any]] = []
        if self.metrics_path.exists():
            for line in self.metrics_path.read_text().splitlines():
                if line.strip():
                    self.history.append(json.loads(line))
        self.seen = 0
        self.starts: list[dict[str, Any]] = []
        self.checkpoints: list[dict[str, Any]] = []
        self.last_step = 0
        self.total_steps: Optional[int] = None
        self.rate: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)
        self.poll()

    def _follow(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.poll()
            except Exception:  # the sink dies with the cluster; the final poll reports it
                pass

    def poll(self) -> None:
        import ray

        records = ray.get(self.sink.since.remote(self.seen), timeout=30)
        self.seen += len(records)
        for record in records:
            handler = getattr(self, f"_on_{record.get('event')}", None)
            if handler:
                handler(record)

    def _on_start(self, rec: dict[str, Any]) -> None:
        self.total_steps = rec.get("total_steps")
        if self.starts:
            lost = max(0, self.last_step - rec["step"])
            failure = {
                "time": rec["time"],
                "resumed_from": rec.get("resumed_from"),
                "resumed_step": rec["step"],
                "steps_lost": lost,
                "workers": rec["workers"],
                "recovery_s": rec["time"] - self.starts[-1].get("last_time", rec["time"]),
            }
            rec["failure"] = failure
            self.echo(
                f"[{self.name}] restarted with {rec['workers']} workers from step {rec['step']} "
                f"({lost} steps lost)"
            )
        elif rec.get("resumed_from"):
            self.echo(f"[{self.name}] resuming from {rec['resumed_from']} (step {rec['step']})")
        else:
            self.echo(f"[{self.name}] training started with {rec['workers']} workers")
        self.starts.append(rec)
        self.last_step = rec["step"]
        if any(h.get("step", 0) > rec["step"] for h in self.history):
            # Steps after the checkpoint we resumed from are run again: keep one copy.
            self.history = [h for h in self.history if h.get("step", 0) <= rec["step"]]
            self._rewrite()

    def _on_checkpoint(self, rec: dict[str, Any]) -> None:
        self.checkpoints.append(rec)
        self.echo(f"[{self.name}] checkpoint step {rec['step']} -> {self.run_dir / rec['name']} "
                  f"({rec['write_s']:.2f} s)")

    def _on_report(self, rec: dict[str, Any]) -> None:
        rec = {k: v for k, v in rec.items() if k != "event"}
        self.history.append(rec)
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.last_step = rec["step"]
        if self.starts:
            self.starts[-1]["last_time"] = rec["time"]
        self.echo(self.progress_line(rec))

    def _rewrite(self) -> None:
        tmp = self.metrics_path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(h) + "\n" for h in self.history))
        os.replace(tmp, self.metrics_path)

    def progress_line(self, rec: dict[str, Any]) -> str:
        total = rec.get("total_steps") or self.total_steps or 0
        step = rec["step"]
        self.rate.append((rec["time"], step))
        self.rate = self.rate[-5:]
        eta = ""
        if total and len(self.rate) >= 2 and self.rate[-1][1] > self.rate[0][1]:
            per_step = (self.rate[-1][0] - self.rate[0][0]) / (self.rate[-1][1] - self.rate[0][1])
            left = int(per_step * max(0, total - step))
            eta = f" | ETA {left // 60}:{left % 60:02d}"
        pct = f" ({100 * step / total:.0f}%)" if total else ""
        parts = [f"[{self.name}] step {step}/{total or '?'}{pct}"]
        if "epoch" in rec:
            parts.append(f"epoch {rec['epoch']:.2f}")
        for key in ["loss", *sorted(k for k in rec if k.startswith("val_"))]:
            if isinstance(rec.get(key), (int, float)):
                parts.append(f"{key} {rec[key]:.4f}")
        if rec.get("samples_per_s"):
            parts.append(f"{rec['samples_per_s']:,.0f} samples/s")
        if "workers" in rec:
            parts.append(f"{rec['workers']} workers")
        return " | ".join(parts) + eta


def _new_sink():
    import ray

    @ray.remote(num_cpus=0)
    class ProgressSink:
        def __init__(self):
            self.records: list[dict[str, Any]] = []

        def push(self, record: dict[str, Any]) -> None:
            self.records.append(record)

        def since(self, index: int) -> list[dict[str, Any]]:
            return self.records[index:]

    return ProgressSink.remote()


def build_trainer(spec: JobSpec, storage: Path, config: dict[str, Any], worker_env: dict[str, str]):
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.train.v2.api.config import LoggingConfig

    s, c = spec.scaling, spec.checkpoint
    resources = s.resources_per_worker or ({"CPU": 1, "GPU": 1} if s.use_gpu else {"CPU": 1})
    return TorchTrainer(
        _worker_entry,
        train_loop_config=config,
        scaling_config=ScalingConfig(
            num_workers=s.workers,
            use_gpu=s.use_gpu,
            resources_per_worker=resources,
            placement_strategy=s.placement_strategy,
        ),
        run_config=RunConfig(
            name=spec.name,
            storage_path=str(storage),
            checkpoint_config=CheckpointConfig(
                num_to_keep=c.keep,
                checkpoint_score_attribute=c.score_metric,
                checkpoint_score_order=c.score_mode,
            ),
            failure_config=FailureConfig(max_failures=spec.failure.max_failures),
            worker_runtime_env={"env_vars": worker_env} if worker_env else None,
            logging_config=LoggingConfig(log_level="WARNING"),
        ),
    )


def prepare_run(spec: JobSpec, *, source: str, storage: Path, new_run: bool) -> tuple[JobSpec, Path]:
    """Every check that needs no cluster: storage, resume policy, the task's import."""
    from raytrain.runtime.tasks import resolve_loop, resolve_task

    check_storage_writable(storage, source)
    if new_run:
        spec = spec.model_copy(update={"name": f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"})
    run_dir = storage / spec.name
    resume = spec.checkpoint.resume
    if resume == "never" and run_has_checkpoints(run_dir):
        raise RunExistsError(
            f"{source}: checkpoint.resume: never, but run {spec.name!r} already has checkpoints in {run_dir}",
            "pass --new-run for a fresh run name, set checkpoint.resume: auto to continue it, "
            "or move that directory away",
        )
    if resume not in ("auto", "never"):
        try:
            store.verify_checkpoint_dir(Path(resume))
        except Exception as exc:
            raise SpecError(
                f"{source}: checkpoint.resume: {resume} is not a usable checkpoint ({exc})",
                "give a checkpoint_* directory of an earlier run, or auto",
            ) from None
    if spec.train.task is not None:
        resolve_task(spec.train.task, source)
    else:
        resolve_loop(spec.train.loop, source)
    return spec, run_dir


def run_training(
    spec: JobSpec,
    *,
    source: str = "spec",
    storage: Path,
    address: Optional[str] = None,
    new_run: bool = False,
    verbose: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train ``spec`` to the end and return the result record (also written to result.json)."""
    from raytrain.runtime.cluster import inside_ray_job, ray_session

    spec, run_dir = prepare_run(spec, source=source, storage=storage, new_run=new_run)
    local = not (address or inside_ray_job())
    if local and spec.scaling.use_gpu:
        import torch

        if not torch.cuda.is_available():
            raise UserInputError(
                f"{source}: scaling.use_gpu: true, but this machine has no GPU for the local cluster",
                "pass --set scaling.use_gpu=false, or --address of a cluster with GPUs",
            )
    cpus_per_worker = int((spec.scaling.resources_per_worker or {}).get("CPU", 1))
    num_cpus = max(os.cpu_count() or 1, spec.scaling.max_workers * max(cpus_per_worker, 1))
    num_gpus = spec.scaling.max_workers if (local and spec.scaling.use_gpu) else 0

    worker_env = dict(spec.runtime_env.env_vars)
    runtime_env: Optional[dict] = None
    if local:
        paths = [os.getcwd(), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        worker_env.setdefault("PYTHONPATH", os.pathsep.join(paths))
    elif not inside_ray_job():
        runtime_env = {"working_dir": ".", "excludes": UPLOAD_EXCLUDES + spec.runtime_env.working_dir_excludes}
    if spec.runtime_env.pip and not inside_ray_job():
        runtime_env = {**(runtime_env or {}), "pip": spec.runtime_env.pip}

    started = time.time()
    record: dict[str, Any] = {"name": spec.name, "run_dir": str(run_dir), "storage_path": str(storage)}
    with ray_session(address, num_cpus=num_cpus, num_gpus=num_gpus, log_to_driver=verbose,
                     runtime_env=runtime_env) as where:
        echo(f"[{spec.name}] {spec.scaling.workers} workers on a {where}; run dir {run_dir}")
        if local:
            echo(f"[{spec.name}] local cluster: stopped when the run ends; Ctrl-C stops cleanly, "
                 "and the next run resumes from the last checkpoint")
        sink = _new_sink()
        config = {
            "spec": spec.model_dump(mode="json"),
            "progress": sink,
            "resume_from": spec.checkpoint.resume if spec.checkpoint.resume not in ("auto", "never") else None,
        }
        run_dir.mkdir(parents=True, exist_ok=True)
        trainer = build_trainer(spec, storage, config, worker_env)
        error: Optional[BaseException] = None
        result = None
        with _Progress(sink, run_dir, spec.name, echo) as progress:
            try:
                result = trainer.fit()
            except KeyboardInterrupt as exc:
                error = exc
            except Exception as exc:  # Ray Train's TrainingFailedError and friends
                error = exc
        record.update(_summarize(spec, progress, result, error, started))
    _write_json(run_dir / "result.json", record)
    if record["status"] == "failed":
        raise TrainingFailed(
            f"run {spec.name!r} failed after {record['failures_survived']} recovered failures: {record['error']}",
            f"see {run_dir} and the worker logs (rerun with --verbose); a rerun resumes from the last checkpoint",
        )
    return record


def _summarize(spec, progress: _Progress, result, error, started: float) -> dict[str, Any]:
    history = progress.history
    reports = [h for h in history if "loss" in h]
    latest_eval: dict[str, Any] = {}  # the newest evaluation, should the last report have none
    for h in reports:
        latest_eval.update({k: v for k, v in h.items() if k.startswith("val_")})
    final = {**latest_eval, **(reports[-1] if reports else {})}
    last_ckpt = best_ckpt = None
    best_metrics: dict[str, Any] = {}
    if result is not None:
        last_ckpt = result.checkpoint.path if result.checkpoint else None
        if result.best_checkpoints:
            ranked = result.best_checkpoints
            if spec.checkpoint.score_metric:
                key = spec.checkpoint.score_metric
                scored = [(c, m) for c, m in ranked if key in m]
                if scored:
                    pick = max if spec.checkpoint.score_mode == "max" else min
                    ranked = [pick(scored, key=lambda cm: cm[1][key])]
            best_ckpt, best_metrics = ranked[-1][0].path, dict(ranked[-1][1])
    elif progress.checkpoints:
        last_ckpt = str(progress.run_dir / progress.checkpoints[-1]["name"])
    worker_history = []
    for h in progress.starts + reports:
        if not worker_history or worker_history[-1]["workers"] != h["workers"]:
            worker_history.append({"step": h["step"], "workers": h["workers"], "time": h["time"]})
    worker_history.sort(key=lambda w: w["time"])
    failures = [s["failure"] for s in progress.starts if "failure" in s]
    if isinstance(error, KeyboardInterrupt):
        status = "interrupted"
    elif error is not None:
        status = "failed"
    elif result is not None and progress.total_steps and progress.last_step < progress.total_steps:
        status = "interrupted"  # Ray Train aborts gracefully on Ctrl-C and returns
    else:
        status = "succeeded"
    return {
        "status": status,
        "error": None if error is None else f"{type(error).__name__}: {error}".splitlines()[0][:500],
        "steps": progress.last_step,
        "total_steps": progress.total_steps,
        "wall_time_s": round(time.time() - started, 3),
        "final_metrics": final,
        "best_metrics": best_metrics,
        "last_checkpoint": last_ckpt,
        "best_checkpoint": best_ckpt,
        "worker_count_history": worker_history,
        "failures_survived": len(failures),
        "failures": failures,
        "versions": versions(),
        "spec": spec.model_dump(mode="json"),
    }


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)
