"""``raytrain bench parity``: raytrain against torchrun DDP on the same model, data and threads."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from raytrain.bench import progress, report, runners, stats


def run_parity(models: list[str], workers: int, repeat: int, steps: int, warmup_steps: int, threads: int,
               address: Optional[str], batch_size: Optional[int] = None,
                niceness: Optional[int] = 0) -> dict[str, Any]:
    """A and B alternated (A first in odd repetitions, B first in even ones) ``repeat`` times per model."""
    plan = [(m, r, kind) for m in models for r in range(repeat)
            for kind in (("raytrain", "torchrun") if r % 2 == 0 else ("torchrun", "raytrain"))]
    work = Path(tempfile.mkdtemp(prefix="raytrain-parity-"))
    samples: list[dict[str, Any]] = []
    configs: dict[str, Any] = {}
    try:
        for model, rep, kind in progress.steps(plan, len(plan), "parity"):
            cfg = runners.JobConfig(model=model, workers=workers, steps=steps, warmup_steps=warmup_steps,
                                    threads=threads, address=address, niceness=niceness,
                                    batch_size=batch_size or runners.DEFAULT_BATCH[model])
            configs[model] = {**runners.config_dict(cfg), "num_parameters": runners.num_parameters(cfg)}
            if kind == "raytrain":
                s = runners.run_raytrain(cfg, work, f"parity-{model}-{rep}-{int(time.time())}")
            else:
                s = runners.run_torchrun(cfg)
            samples.append({**s, "model": model, "repetition": rep})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"benchmark": "parity", "machine": report.machine_info(), "configs": configs,
            "summary": summarize(samples), "samples": samples}


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for model in sorted({s["model"] for s in samples}):
        def by(kind: str, key: str) -> list[float]:
            rows = sorted((s for s in samples if s["model"] == model and s["kind"] == kind), key=lambda s: s["repetition"])
            return [s[key] for s in rows]

        ratios = stats.paired_ratios(by("raytrain", "samples_per_s"), by("torchrun", "samples_per_s"))
        overhead = [a - b for a, b in zip(by("raytrain", "wall_s"), by("torchrun", "wall_s"))]
        out[model] = {
            "raytrain_samples_per_s": stats.summary(by("raytrain", "samples_per_s")),
            "torchrun_samples_per_s": stats.summary(by("torchrun", "samples_per_s")),
            "throughput_ratio": stats.summary(ratios),
            "raytrain_wall_s": stats.summary(by("raytrain", "wall_s")),
            "torchrun_wall_s": stats.summary(by("torchrun", "wall_s")),
            "setup_overhead_s": stats.summary(overhead),
            "raytrain_time_to_first_step_s": stats.summary(by("raytrain", "time_to_first_step_s")),
            "torchrun_time_to_first_step_s": stats.summary(by("torchrun", "time_to_first_step_s")),
        }
    return out


TARGET_RATIO, TARGET_OVERHEAD_S = 0.98, 10.0


def markdown(result: dict[str, Any]) -> str:
    rows = []
    for model, s in result["summary"].items():
        cfg = result["configs"][model]
        rows.append([
            model, cfg["workers"], cfg["batch_size"], s["throughput_ratio"]["n"],
            report.spread(s["raytrain_samples_per_s"]), report.spread(s["torchrun_samples_per_s"]),
            report.spread(s["throughput_ratio"], "{:.3f}"),
            "met" if s["throughput_ratio"]["median"] >= TARGET_RATIO else f"missed by {TARGET_RATIO - s['throughput_ratio']['median']:.3f}",
            report.spread(s["raytrain_wall_s"], "{:.1f}"), report.spread(s["torchrun_wall_s"], "{:.1f}"),
            report.spread(s["setup_overhead_s"], "{:.1f}"),
            "met" if s["setup_overhead_s"]["median"] <= TARGET_OVERHEAD_S else f"missed by {s['setup_overhead_s']['median'] - TARGET_OVERHEAD_S:.1f} s",
        ])
    head = ["model", "workers", "batch/worker", "k", "raytrain samples/s", "torchrun samples/s",
            "ratio (≥ 0.98)", "ratio target", "raytrain wall s", "torchrun wall s", "overhead s (≤ 10)",
            "overhead target"]
    m = result["machine"]
    return (report.markdown_table(head, rows) + "\n" + phases_markdown(result["samples"])
            + f"\nmedian [min–max] over k paired repetitions; steady state = steps after the first "
              f"{next(iter(result['configs'].values()))['warmup_steps']}. Machine: {m['cpu_count']} × {m['cpu']}, "
              f"torch {m['versions'].get('torch')}, ray {m['versions'].get('ray')}, gloo, "
              f"OMP_NUM_THREADS={next(iter(result['configs'].values()))['threads']} on both sides.\n")


def phases_markdown(samples: list[dict[str, Any]]) -> str:
    """Median seconds of each phase of the runs, raytrain's from its progress lines; torchrun's
    launch-to-first-step and after-last-step, for comparison."""
    keys: list[str] = []
    for s in samples:
        keys += [k for k in s.get("phases_s", {}) if k not in keys]
    if not keys:
        return ""
    rows = []
    for model in sorted({s["model"] for s in samples}):
        for kind in ("raytrain", "torchrun"):
            got = [s for s in samples if s["model"] == model and s["kind"] == kind]
            if not got:
                continue
            if kind == "torchrun":
                for s in got:
                    last = max(r["time"] for r in s["records"])
                    s.setdefault("phases_s", {"launch_to_first_step_s": s["time_to_first_step_s"],
                                              "first_to_last_step_s": last - s["launched_at"] - s["time_to_first_step_s"],
                                              "after_last_step_s": s["launched_at"] + s["wall_s"] - last})
            cells = []
            for k in keys + ["launch_to_first_step_s"]:
                vals = [s["phases_s"][k] for s in got if k in s.get("phases_s", {})]
                cells.append(stats.summary(vals)["median"] if vals else "")
            rows.append([model, kind, *cells, stats.summary(s["wall_s"] for s in got)["median"]])
    head = ["model", "side", *[k.removesuffix("_s").replace("_", " ") for k in keys], "launch to first step", "wall"]
    return "Where the wall time goes (median s):\n\n" + report.markdown_table(head, rows)
