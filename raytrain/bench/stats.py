"""The arithmetic of the benchmarks, kept free of Ray and torch so that it is unit-tested.

Throughput is read the same way on both sides of a comparison: from per-window records
``{"step", "samples_per_s", "time"}`` (a window is the steps since the previous record), so a
difference between raytrain and torchrun cannot come from measuring them differently.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Iterable, Sequence


def window_seconds(records: Sequence[dict[str, Any]], global_batch: int) -> list[tuple[int, int, float]]:
    """``(first_step, samples, seconds)`` of each reported window, in step order."""
    out, prev = [], 0
    for rec in sorted(records, key=lambda r: r["step"]):
        steps = rec["step"] - prev
        if steps <= 0 or not rec.get("samples_per_s"):
            prev = rec["step"]
            continue
        samples = steps * global_batch
        out.append((prev + 1, samples, samples / rec["samples_per_s"]))
        prev = rec["step"]
    return out


def steady_throughput(records: Sequence[dict[str, Any]], global_batch: int, warmup_steps: int) -> float:
    """Samples/s over the windows that start after ``warmup_steps``: total samples over total
    time (not a mean of window rates, which would over-weight fast windows)."""
    windows = [w for w in window_seconds(records, global_batch) if w[0] > warmup_steps]
    if not windows:
        raise ValueError(f"no reported window starts after the {warmup_steps} warm-up steps; run more steps")
    seconds = sum(w[2] for w in windows)
    return sum(w[1] for w in windows) / seconds


def time_to_first_step(records: Sequence[dict[str, Any]], launched_at: float) -> float:
    """Seconds from launching the job to the end of its first step, from the first record's
    wall time less the time of the steps after the first in its window."""
    first = min(records, key=lambda r: r["step"])
    return first["time"] - (first["step"] - 1) * first["step_time_s"] - launched_at


def summary(values: Iterable[float]) -> dict[str, float]:
    """Median, mean, min, max, sample standard deviation and count."""
    v = sorted(values)
    if not v:
        raise ValueError("no values to summarize")
    return {
        "median": statistics.median(v),
        "mean": statistics.fmean(v),
        "min": v[0],
        "max": v[-1],
        "stdev": statistics.stdev(v) if len(v) > 1 else 0.0,
        "n": len(v),
    }


def paired_ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """a[i]/b[i] of each repetition: A and B of one repetition ran back to back, so their ratio
    cancels slow drifts of a shared machine better than a ratio of medians."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} A samples against {len(b)} B samples; pair them by repetition")
    return [x / y for x, y in zip(a, b)]


def scaling_efficiency(throughput: dict[int, float]) -> dict[int, float]:
    """``T(N) / (N * T(1))`` for each worker count N (T in samples/s; T(1) from the smallest
    count, scaled to one worker). With a fixed per-worker batch it is weak-scaling efficiency,
    with a fixed global batch strong-scaling efficiency (the same formula: for fixed work,
    time(1)/(N*time(N)) = T(N)/(N*T(1)))."""
    if not throughput:
        return {}
    base_n = min(throughput)
    per_worker = throughput[base_n] / base_n
    return {n: t / (n * per_worker) for n, t in sorted(throughput.items())}


def parse_workers(text: str) -> list[int]:
    """``"1,2,4"`` -> [1, 2, 4]; each a positive integer, no duplicates."""
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--workers {text!r}: expected comma-separated integers, e.g. 1,2,4") from None
    if not counts or any(n < 1 for n in counts) or len(set(counts)) != len(counts):
        raise ValueError(f"--workers {text!r}: expected distinct positive integers, e.g. 1,2,4")
    return sorted(counts)


def parse_size(text: str) -> int:
    """``"1GiB"``, ``"512MiB"``, ``"2G"``, ``"1000000"`` -> bytes."""
    units = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30,
             "KB": 1000, "MB": 1000**2, "GB": 1000**3}
    s = text.strip().upper()
    num = s.rstrip("KMGIB")
    try:
        value = float(num)
        factor = units[s[len(num):]]
    except (ValueError, KeyError):
        raise ValueError(f"size {text!r}: expected e.g. 1GiB, 512MiB, 2GB") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"size {text!r}: must be positive")
    return int(value * factor)
