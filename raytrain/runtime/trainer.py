"""The driver side of a run: build the Ray Train V2 TorchTrainer from a spec, follow its
progress, and write the run's record (``metrics.jsonl``, ``result.json``)."""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from raytrain.errors import RunExistsError, SpecError, StorageError, TrainingFailed, UserInputError
from raytrain.runtime import checkpoint as store
from raytrain.spec import JobSpec

DEFAULT_STORAGE = "./.raytrain/storage"
STORAGE_ENV = "RAYTRAIN_STORAGE_PATH"
HEALTH_CHECK_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
START_TIMEOUT_ENV = "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S"
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
    import ray.train

    from raytrain.runtime.shared_storage import check_shared_storage

    spec = JobSpec.model_validate(config["spec"])
    from raytrain.runtime.telemetry import Telemetry

    store._CONTEXT.update(
        progress=config.get("progress"), resume_from=config.get("resume_from"), run_dir=config.get("run_dir"),
        checkpoint_mode=spec.checkpoint.mode, beats=0,
    )
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    store._CONTEXT["telemetry"] = Telemetry(spec.name, rank)
    nodes = check_shared_storage(Path(config["run_dir"]), rank, world)
    store._CONTEXT["nodes"] = [{"node_id": n["node_id"], "ip": n["ip"]} for n in nodes]
    if rank == 0:
        store.remove_stale_staging(Path(config["run_dir"]))
    if spec.train.task is not None:
        from raytrain.runtime.loop import train_task_loop

        train_task_loop(spec)
    else:
        from raytrain.runtime.tasks import resolve_loop

        resolve_loop(spec.train.loop)(config["spec"])


class _Progress:
    """Follows the records the workers push, prints progress, keeps metrics.jsonl current."""

    def __init__(self, sink, run_dir: Path, name: str, echo: Callable[[str], None], tracker=None, telemetry=None):
        self.sink, self.run_dir, self.name, self.echo = sink, run_dir, name, echo
        self.tracker, self.telemetry = tracker, telemetry
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
        self.preemptions: list[dict[str, Any]] = []
        self.resumed: Optional[dict[str, Any]] = None
        self.total_steps: Optional[int] = None
        self.rate: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(timeout=10)
        try:
            self.poll()
        except Exception as exc:  # the record keeps what was followed so far
            self.echo(f"[{self.name}] warning: the last progress records are lost ({type(exc).__name__})")

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
            prev = self.starts[-1]
            lost = max(0, self.last_step - rec["step"])
            failed_at = prev.get("last_time", prev["time"])
            before = {n["node_id"] for n in prev.get("nodes") or []}
            after = {n["node_id"] for n in rec.get("nodes") or []}
            preempted = [p for p in self.preemptions if p["time"] >= prev["time"]]
            failure = {
                "time": failed_at,  # the last sign of life (heartbeats every 0.5 s) before the failure
                "restarted_at": rec["time"],
                "what": "preemption" if preempted else "worker failure",
                "lost_nodes": sorted(n["ip"] + " " + n["node_id"][:8] for n in prev.get("nodes") or []
                                     if n["node_id"] not in after),
                "dead_nodes": _dead_nodes(before),
                "workers_before": prev["workers"],
                "workers": rec["workers"],
                "last_step_before": self.last_step,
                "resumed_from": rec.get("resumed_from"),
                "resumed_step": rec["step"],
                "steps_lost": lost,
                "recovery_s": None,  # set by the first step after the restore
            }
            if not failure["lost_nodes"] and not failure["dead_nodes"] and rec["workers"] > prev["workers"] \
                    and not preempted:
                failure["what"] = "resize"
            if preempted:
                failure["preemption"] = {k: preempted[0].get(k) for k in ("step", "deadline_ms", "nodes", "ranks")}
            rec["failure"] = failure
            if self.telemetry is not None:
                self.telemetry.on_failure()
            self.track("on_restart", rec["step"])
            self.echo(
                f"[{self.name}] restarted with {rec['workers']} workers from step {rec['step']} "
                f"({lost} steps lost; {failure['what']}"
                + (f", lost nodes: {', '.join(failure['lost_nodes'])}" if failure["lost_nodes"] else "") + ")"
            )
        elif rec.get("resumed_from"):
            recorded = max((h.get("step", 0) for h in self.history), default=0)
            self.resumed = {"from": rec["resumed_from"], "step": rec["step"],
                            "last_recorded_step": recorded, "steps_lost": max(0, recorded - rec["step"])}
            self.echo(f"[{self.name}] resuming from {rec['resumed_from']} (step {rec['step']})")
            self.track("backfill", list(self.history), rec["step"])
        else:
            self.echo(f"[{self.name}] training started with {rec['workers']} workers")
        self.starts.append(rec)
        self.last_step = rec["step"]
        if any(h.get("step", 0) > rec["step"] for h in self.history):
            # Steps after the checkpoint we resumed from are run again: keep one copy.
            self.history = [h for h in self.history if h.get("step", 0) <= rec["step"]]
            self._rewrite()
        restored = rec.get("checkpoint_metrics")
        if restored and not any(h.get("step") == rec["step"] for h in self.history):
            # The report that came with this checkpoint was never read (its driver died first).
            self._on_report({**restored, "event": "report", "step": rec["step"], "time": rec["time"]})

    def _alive(self, rec: dict[str, Any]) -> None:
        self.last_step = max(self.last_step, rec["step"]) if self.starts else rec["step"]
        if self.starts:
            self.starts[-1]["last_time"] = rec["time"]
            self.starts[-1]["last_step"] = rec["step"]

    def _on_step(self, rec: dict[str, Any]) -> None:
        # A raw train.loop sends no heartbeats: its first report after the restore counts.
        if rec.get("first") and self.starts and "failure" in self.starts[-1]:
            failure = self.starts[-1]["failure"]
            if failure["recovery_s"] is None:
                failure["first_step_at"] = rec["time"]
                failure["recovery_s"] = round(rec["time"] - failure["time"], 3)
                self.echo(f"[{self.name}] recovered: first step after the restore "
                          f"{failure['recovery_s']:.1f} s after the last step before the failure")
        self._alive(rec)

    def _on_preemption(self, rec: dict[str, Any]) -> None:
        self.preemptions.append(rec)
        left = (rec["deadline_ms"] / 1000 - rec["time"]) if rec.get("deadline_ms") else None
        self.echo(f"[{self.name}] preemption of node(s) {', '.join(n[:8] for n in rec.get('nodes') or [])} "
                  f"announced at step {rec['step']}"
                  + (f" ({left:.0f} s left)" if left is not None else "") + ": writing a last checkpoint")

    def track(self, method: str, *args: Any) -> None:
        """Pass an event to MLflow; a tracking server that fails must not stop training."""
        if self.tracker is None:
            return
        try:
            getattr(self.tracker, method)(*args)
        except Exception as exc:
            self.echo(f"[{self.name}] warning: MLflow tracking stopped ({type(exc).__name__}: {exc})")
            self.tracker = None

    def _on_warning(self, rec: dict[str, Any]) -> None:
        self.echo(f"[{self.name}] warning: {rec['message']}")

    def _on_checkpoint(self, rec: dict[str, Any]) -> None:
        self.checkpoints.append(rec)
        self.track("on_checkpoint", rec["step"], str(self.run_dir / rec["name"]))
        size = f"{rec['bytes'] / 2**20:.1f} MiB, " if rec.get("bytes") else ""
        self.echo(f"[{self.name}] checkpoint step {rec['step']} -> {self.run_dir / rec['name']} "
                  f"({size}written in {rec['write_s']:.2f} s, {rec.get('mode', 'sync')})")

    def _on_report(self, rec: dict[str, Any]) -> None:
        rec = {k: v for k, v in rec.items() if k != "event"}
        self.history.append(rec)
        self.track("on_report", rec)
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        self._on_step({**rec, "first": True})  # no-op when a heartbeat already dated the recovery
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
        if "checkpoint_blocked_s" in rec:
            parts.append(f"checkpoint blocked {rec['checkpoint_blocked_s']:.2f} s")
        return " | ".join(parts) + eta


def _dead_nodes(node_ids: set[str]) -> list[dict[str, Any]]:
    """Which of ``node_ids`` Ray now reports dead, with Ray's reason when it gives one."""
    import ray

    dead = []
    try:
        for node in ray.nodes():
            if node.get("NodeID") in node_ids and not node.get("Alive", True):
                dead.append({"node_id": node["NodeID"], "ip": node.get("NodeManagerAddress"),
                             "reason": node.get("DeathReasonMessage") or node.get("DeathReason")})
    except Exception:  # the record is best effort; the run goes on
        pass
    return dead


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

    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    # On the driver's node: a sink on a worker node would die with it and take the
    # run's record along.
    here = ray.get_runtime_context().get_node_id()
    return ProgressSink.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False)
    ).remote()


def build_trainer(spec: JobSpec, storage: Path, config: dict[str, Any], worker_env: dict[str, str]):
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.train.v2.api.config import LoggingConfig

    s, c = spec.scaling, spec.checkpoint
    # Each worker's result queue holds one report; the controller empties it once per poll
    # (2 s by default), so a sync checkpoint that follows the previous one within 2 s waits
    # for that poll. Ray propagates this variable to its controller; polls also detect dead
    # workers sooner.
    os.environ.setdefault(HEALTH_CHECK_ENV, "0.5")
    if s.elastic:
        # After a node dies, the controller may size the new worker group from a resource
        # view that still counts the dead node, then wait out the whole start timeout (60 s)
        # for workers that cannot come. Elastic runs retry such a start with what is there
        # (Ray counts it as a controller error, not against failure.max_failures).
        os.environ.setdefault(START_TIMEOUT_ENV, "20")
    resources = s.resources_per_worker or ({"CPU": 1, "GPU": 1} if s.use_gpu else {"CPU": 1})
    return TorchTrainer(
        _worker_entry,
        train_loop_config=config,
        scaling_config=ScalingConfig(
            num_workers=s.workers,
            use_gpu=s.use_gpu,
            resources_per_worker=resources,
            placement_strategy=s.placement_strategy,
            elastic_resize_monitor_interval_s=s.elastic_resize_interval_s,
        ),
        run_config=RunConfig(
            name=spec.name,
            storage_path=str(storage),
            checkpoint_config=CheckpointConfig(
                num_to_keep=c.keep,
                checkpoint_score_attribute=c.score_metric,
                checkpoint_score_order=c.score_mode,
            ),
            failure_config=FailureConfig(max_failures=spec.failure.max_failures,
                                         max_preemption_failures=spec.failure.max_preemptions),
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
            "run_dir": str(run_dir),
            "resume_from": spec.checkpoint.resume if spec.checkpoint.resume not in ("auto", "never") else None,
        }
        run_dir.mkdir(parents=True, exist_ok=True)
        trainer = build_trainer(spec, storage, config, worker_env)
        error: Optional[BaseException] = None
        result = None
        from raytrain.runtime.telemetry import DriverTelemetry

        tracker = None
        if spec.tracking.mlflow is not None:
            from raytrain.runtime.tracking import MlflowTracker

            tracker = MlflowTracker(spec, run_dir, versions())
        with _Progress(sink, run_dir, spec.name, echo, tracker=tracker, telemetry=DriverTelemetry(spec.name)) as progress:
            result, error = _fit_interruptibly(trainer)
        record.update(_summarize(spec, progress, result, error, started))
        progress.track("finish", record)
    try:
        _write_json(run_dir / "result.json", record)
    except OSError as exc:  # e.g. the volume is full: still say why the run ended
        echo(f"[{spec.name}] warning: could not write {run_dir / 'result.json'} ({exc.strerror or exc})")
    cause = _raytrain_cause(error)
    if record["status"] == "failed" and cause is not None:
        raise type(cause)(
            f"run {spec.name!r} failed after {record['failures_survived']} recovered failures: {cause.message}",
            cause.hint,
        )
    if record["status"] == "failed":
        raise TrainingFailed(
            f"run {spec.name!r} failed after {record['failures_survived']} recovered failures: {record['error']}",
            f"see {run_dir} and the worker logs (rerun with --verbose); a rerun resumes from the last checkpoint",
        )
    return record


def _fit_interruptibly(trainer):
    """Run fit() in a thread so that Ctrl-C reaches us, not Ray Train's own SIGINT handler
    (which exits the process). On Ctrl-C the caller shuts Ray down: the job's trainer and
    workers end with the driver, and the newest complete checkpoint stays on disk."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = trainer.fit()
        except BaseException as exc:  # Ray Train's TrainingFailedError and friends
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="raytrain-fit", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt as exc:
        return None, exc
    return outcome.get("result"), outcome.get("error")


def _raytrain_cause(error: Optional[BaseException]) -> Optional[Exception]:
    """The raytrain error a worker raised, out of Ray Train's wrappers (WorkerGroupError ->
    UserExceptionWithTraceback -> ours), so that the driver can say it in one line."""
    from raytrain.errors import RaytrainError

    seen: set[int] = set()
    todo = [error]
    while todo:
        exc = todo.pop(0)
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        if isinstance(exc, RaytrainError):
            return exc
        todo.extend(getattr(exc, "worker_failures", {}).values())
        todo += [getattr(exc, "_base_exc", None), getattr(exc, "cause", None), exc.__cause__,
                 getattr(exc, "controller_failure", None)]
    return None


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
    for h in sorted(progress.starts + reports, key=lambda h: h["time"]):
        if not worker_history or worker_history[-1]["workers"] != h["workers"]:
            worker_history.append({"step": h["step"], "workers": h["workers"], "time": h["time"]})
    restarts = [s["failure"] for s in progress.starts if "failure" in s]
    failures = [f for f in restarts if f["what"] != "resize"]
    blocked = {h["step"]: h["checkpoint_blocked_s"] for h in history if "checkpoint_blocked_s" in h}
    checkpoints = [{"step": c["step"], "name": c["name"], "mode": c.get("mode"), "bytes": c.get("bytes"),
                    "write_s": round(c["write_s"], 4), "blocked_s": blocked.get(c["step"])}
                   for c in progress.checkpoints]
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
        "error": _error_line(error),
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
        "resizes": [f for f in restarts if f["what"] == "resize"],
        "resumed": progress.resumed,
        "checkpoints": checkpoints,
        "versions": versions(),
        "spec": spec.model_dump(mode="json"),
    }


def _error_line(error: Optional[BaseException]) -> Optional[str]:
    if error is None:
        return None
    cause = _raytrain_cause(error)
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"[:1000]
    lines = [line for line in f"{type(error).__name__}: {error}".splitlines() if line.strip()]
    return " ".join(lines[:2])[:1000]


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)
