"""``raytrain bench scaling``: throughput per worker count, weak and strong scaling efficiency,
time to first step, and all-reduce time per step.

Weak scaling keeps the per-worker batch B; strong scaling keeps the global batch at
B x max(workers), split over N workers (the strong run at max(workers) is the weak one).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from raytrain.bench import progress, report, runners, stats


def plan_runs(workers: list[int], batch_size: int) -> list[tuple[str, int, int]]:
    """``(mode, workers, per-worker batch)`` of every run, weak first; a strong run that equals a
    weak one is not repeated."""
    top = max(workers)
    global_batch = batch_size * top
    runs = [("weak", n, batch_size) for n in workers]
    for n in workers:
        if n != top:
            if global_batch % n:
                raise ValueError(f"global batch {global_batch} does not split over {n} workers")
            runs.append(("strong", n, global_batch // n))
    return runs


def run_scaling(model: str, workers: list[int], repeat: int, steps: int, warmup_steps: int, threads: int,
                address: Optional[str], batch_size: Optional[int] = None,
                niceness: Optional[int] = 0) -> dict[str, Any]:
    batch = batch_size or runners.DEFAULT_BATCH[model]
    plan = [(mode, n, b, r) for r in range(repeat) for mode, n, b in plan_runs(workers, batch)]
    work = Path(tempfile.mkdtemp(prefix="raytrain-scaling-"))
    samples: list[dict[str, Any]] = []
    allreduce: dict[int, Any] = {}
    base = runners.JobConfig(model=model, workers=1, steps=steps, warmup_steps=warmup_steps, threads=threads,
                             address=address, batch_size=batch, niceness=niceness)
    numel = runners.num_parameters(base)
    try:
        for mode, n, b, rep in progress.steps(plan, len(plan), "scaling"):
            cfg = runners.JobConfig(model=model, workers=n, steps=steps, warmup_steps=warmup_steps, threads=threads,
                                    address=address, batch_size=b, niceness=niceness)
            s = runners.run_raytrain(cfg, work, f"scaling-{mode}-{n}-{rep}-{int(time.time())}")
            samples.append({**s, "mode": mode, "repetition": rep})
        for n in workers:
            if n > 1 and address is None:
                cfg = runners.JobConfig(model=model, workers=n, steps=steps, warmup_steps=warmup_steps,
                                        threads=threads, batch_size=batch, niceness=niceness)
                allreduce[n] = runners.measure_allreduce(cfg, numel)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"benchmark": "scaling", "machine": report.machine_info(),
            "config": {**runners.config_dict(base), "workers": workers, "repeat": repeat, "num_parameters": numel},
            "rows": rows(samples, workers, allreduce), "allreduce": allreduce, "samples": samples}


def rows(samples: list[dict[str, Any]], workers: list[int], allreduce: dict[int, Any]) -> list[dict[str, Any]]:
    top = max(workers)
    out = []
    for mode in ("weak", "strong"):
        thr, ttfs, step_s, batch = {}, {}, {}, {}
        for n in workers:
            got = [s for s in samples if s["workers"] == n and (s["mode"] == mode or (mode == "strong" and n == top
                                                                                    and s["mode"] == "weak"))]
            if not got:
                continue
            thr[n] = stats.summary([s["samples_per_s"] for s in got])["median"]
            ttfs[n] = stats.summary([s["time_to_first_step_s"] for s in got])["median"]
            batch[n] = got[0]["batch_size"]
            step_s[n] = n * batch[n] / thr[n]
        eff = stats.scaling_efficiency(thr)
        for n in sorted(thr):
            ar = allreduce.get(n, {}).get("median_s") if n > 1 else 0.0
            out.append({"mode": mode, "workers": n, "batch_size": batch[n], "samples_per_s": thr[n],
                        "efficiency": eff[n], "step_time_s": step_s[n], "time_to_first_step_s": ttfs[n],
                        "allreduce_s": ar, "allreduce_share": (ar / step_s[n]) if ar is not None else None})
    return out


def markdown(result: dict[str, Any]) -> str:
    head = ["mode", "workers", "batch/worker", "samples/s", "efficiency", "step ms", "allreduce ms (share)",
            "time to first step s"]
    body = []
    for r in result["rows"]:
        ar = "n/a" if r["allreduce_s"] is None else f"{r['allreduce_s'] * 1000:.1f} ({r['allreduce_share']:.0%})"
        body.append([r["mode"], r["workers"], r["batch_size"], r["samples_per_s"], r["efficiency"],
                     r["step_time_s"] * 1000, ar, r["time_to_first_step_s"]])
    c, m = result["config"], result["machine"]
    return (report.markdown_table(head, body)
            + f"\nModel {c['model']} ({c['num_parameters']:,} parameters), {c['steps']} steps, steady state after "
              f"{c['warmup_steps']}, median of {c['repeat']} run(s). Efficiency = T(N)/(N·T(1)). All-reduce: "
              f"{c['num_parameters']:,} float32 (the gradient) timed alone under torchrun. Machine: "
              f"{m['cpu_count']} × {m['cpu']}, OMP_NUM_THREADS={c['threads']}.\n")
