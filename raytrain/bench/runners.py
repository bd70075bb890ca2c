"""Run one training job either way, as a user would (subprocesses), and read its records.

(a) raytrain: ``python -m raytrain.cli run SPEC`` of a generated ``synthetic`` spec, on a local
Ray cluster it starts (or ``--address``); per-window records from the run's metrics.jsonl.
(b) plain DDP: ``torchrun --nproc-per-node N -m raytrain.bench.ddp_baseline``; the same records
from its stdout. Both sides get the same OMP_NUM_THREADS and the same per-worker batch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from raytrain.bench import stats

REPO = Path(__file__).resolve().parents[2]

MODELS: dict[str, dict[str, Any]] = {
    # Ray Train's own parity test: an MLP 784-512-512-10.
    "mlp": {"model": "mlp", "input_size": 784, "width": 512, "depth": 2, "num_classes": 10, "num_samples": 16384},
    # One transformer encoder block over short sequences, small enough for a 2-core machine.
    "transformer": {"model": "transformer", "input_size": 64, "width": 128, "seq_len": 32, "num_classes": 10,
                    "num_samples": 4096},
}
DEFAULT_BATCH = {"mlp": 64, "transformer": 16}


class BenchError(RuntimeError):
    """A benchmark job failed; carries the tail of its output."""


@dataclass
class JobConfig:
    model: str = "mlp"
    workers: int = 2
    batch_size: int = 64  # per worker
    steps: int = 200
    report_every: int = 10
    warmup_steps: int = 50
    threads: int = 1
    use_gpu: bool = False
    address: Optional[str] = None
    seed: int = 0
    lr: float = 1e-3
    # Ray starts its worker processes at niceness 15 (its worker_niceness setting), torchrun at
    # the caller's; on a machine with other load that alone decides who gets the CPU. An int
    # puts both sides at that niceness (RAY_worker_niceness for a local cluster, `nice` for
    # torchrun); None leaves each at its default.
    niceness: Optional[int] = 0
    task_config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model {self.model!r}: expected one of {', '.join(MODELS)}")
        self.task_config = {**MODELS[self.model], **self.task_config}
        if self.warmup_steps >= self.steps:
            raise ValueError(f"warm-up steps ({self.warmup_steps}) must be fewer than steps ({self.steps})")

    @property
    def global_batch(self) -> int:
        return self.workers * self.batch_size


def environment(cfg: JobConfig) -> dict[str, str]:
    paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)),
           "OMP_NUM_THREADS": str(cfg.threads), "MKL_NUM_THREADS": str(cfg.threads)}
    env.pop("RAY_ADDRESS", None)
    env.pop("RAYTRAIN_STORAGE_PATH", None)
    if cfg.niceness is not None:
        env["RAY_worker_niceness"] = str(cfg.niceness)
    return env


def spec_of(cfg: JobConfig, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "train": {"task": "synthetic", "config": cfg.task_config, "max_steps": cfg.steps,
                  "batch_size": cfg.batch_size, "lr": cfg.lr, "seed": cfg.seed,
                  "report_every_n_steps": cfg.report_every},
        "scaling": {"workers": cfg.workers, "use_gpu": cfg.use_gpu},
        # Only the final checkpoint (the loop always writes one at the end; the baseline saves too).
        "checkpoint": {"every_n_steps": cfg.steps + 1, "keep": 1},
        "failure": {"max_failures": 0},
        "runtime_env": {"env_vars": {"OMP_NUM_THREADS": str(cfg.threads), "MKL_NUM_THREADS": str(cfg.threads)}},
    }


def _sample(kind: str, cfg: JobConfig, launched: float, ended: float, records: list[dict], extra: dict) -> dict:
    steps = [r for r in records if "step" in r and "samples_per_s" in r]
    if not steps:
        raise BenchError(f"{kind}: no step records")
    return {
        "kind": kind,
        "workers": cfg.workers,
        "batch_size": cfg.batch_size,
        "launched_at": launched,
        "wall_s": ended - launched,
        "samples_per_s": stats.steady_throughput(steps, cfg.global_batch, cfg.warmup_steps),
        "time_to_first_step_s": stats.time_to_first_step(steps, launched),
        "records": steps,
        "load_avg_1m_at_end": os.getloadavg()[0],  # other users of a shared machine show up here
        **extra,
    }


def run_raytrain(cfg: JobConfig, workdir: Path, name: str, timeout_s: float = 900) -> dict[str, Any]:
    import yaml

    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / f"{name}.yaml"
    spec_path.write_text(yaml.safe_dump(spec_of(cfg, name), sort_keys=False))
    storage = workdir / "storage"
    shutil.rmtree(storage / name, ignore_errors=True)
    cmd = [sys.executable, "-m", "raytrain.cli", "run", str(spec_path), "--storage", str(storage)]
    if cfg.address:
        cmd += ["--address", cfg.address]
    launched = time.time()
    lines = _timed_lines(cmd, environment(cfg), timeout_s)
    ended = time.time()
    rc = lines.pop()[1]
    if rc != 0:
        raise BenchError(f"raytrain run exited {rc}:\n" + "\n".join(t for _, t in lines[-60:]))
    run_dir = storage / name
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    result = json.loads((run_dir / "result.json").read_text())
    sample = _sample("raytrain", cfg, launched, ended, records,
                     {"run_wall_time_s": result.get("wall_time_s"), "status": result.get("status"),
                      "final_loss": result.get("final_metrics", {}).get("loss")})
    sample["phases_s"] = phases(lines, launched, ended, sample)
    return sample


def _timed_lines(cmd: list[str], env: dict[str, str], timeout_s: float) -> list[tuple[float, Any]]:
    """The command's output lines with the time each arrived; the exit code last."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, lines = time.time() + timeout_s, []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append((time.time(), line.rstrip("\n")))
        if time.time() > deadline:
            proc.kill()
            break
    lines.append((time.time(), proc.wait()))
    return lines


def phases(lines: list[tuple[float, str]], launched: float, ended: float, sample: dict[str, Any]) -> dict[str, float]:
    """Where a raytrain run's wall time went, from when its progress lines were printed:
    start-up to a running Ray cluster, to the training function running on every worker,
    to the first step, the steps, and the end (final checkpoint, evaluation, shutdown)."""
    def first(marker: str) -> Optional[float]:
        return next((t for t, text in lines if marker in text), None)

    cluster = first(" workers on a ")
    started = first("training started")
    first_step = launched + sample["time_to_first_step_s"]
    last = max(r["time"] for r in sample["records"])
    out = {}
    if cluster is not None:
        out["cli_import_and_cluster_start_s"] = cluster - launched
        if started is not None:
            out["controller_and_worker_start_s"] = started - cluster
    if started is not None:
        out["worker_setup_to_first_step_s"] = first_step - started
    out["first_to_last_step_s"] = last - first_step
    out["after_last_step_s"] = ended - last
    return out


def torchrun_cmd(cfg: JobConfig, allreduce_numel: Optional[int] = None) -> list[str]:
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun") or "torchrun"
    body = {"task_config": cfg.task_config, "batch_size": cfg.batch_size, "steps": cfg.steps,
            "report_every": cfg.report_every, "lr": cfg.lr, "seed": cfg.seed, "threads": cfg.threads,
            "use_gpu": cfg.use_gpu}
    args = []
    if allreduce_numel is not None:
        body = {"numel": allreduce_numel, "use_gpu": cfg.use_gpu, "threads": cfg.threads}
        args = ["--allreduce"]
    nice = ["nice", "-n", str(cfg.niceness)] if cfg.niceness else []
    return [*nice, torchrun, "--standalone", f"--nproc-per-node={cfg.workers}", "-m", "raytrain.bench.ddp_baseline",
            *args, "--config", json.dumps(body)]


def _torchrun(cfg: JobConfig, allreduce_numel: Optional[int], timeout_s: float) -> tuple[float, float, list[dict]]:
    launched = time.time()
    out = subprocess.run(torchrun_cmd(cfg, allreduce_numel), cwd=REPO, env=environment(cfg), capture_output=True,
                         text=True, timeout=timeout_s)
    ended = time.time()
    if out.returncode != 0:
        raise BenchError(f"torchrun exited {out.returncode}:\n{(out.stdout + out.stderr)[-3000:]}")
    records = []
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return launched, ended, records


def run_torchrun(cfg: JobConfig, timeout_s: float = 900) -> dict[str, Any]:
    launched, ended, records = _torchrun(cfg, None, timeout_s)
    start = next((r for r in records if r.get("event") == "start"), {})
    steps = [r for r in records if "step" in r]
    return _sample("torchrun", cfg, launched, ended, steps,
                   {"threads_seen": start.get("threads"), "final_loss": steps[-1]["loss"] if steps else None})


def measure_allreduce(cfg: JobConfig, numel: int, timeout_s: float = 300) -> dict[str, Any]:
    """All-reduce time of a ``numel``-float32 buffer across ``cfg.workers`` (gloo, or NCCL with
    use_gpu) under torchrun: the built-in loop does not split its step time into compute and
    communication, so this is measured on its own."""
    _, _, records = _torchrun(cfg, numel, timeout_s)
    return next(r for r in records if r.get("event") == "allreduce")


def num_parameters(cfg: JobConfig) -> int:
    from raytrain.runtime.tasks.synthetic import SyntheticTask

    return sum(p.numel() for p in SyntheticTask(cfg.task_config, cfg.seed).build_model().parameters())


def config_dict(cfg: JobConfig) -> dict[str, Any]:
    return asdict(cfg)
