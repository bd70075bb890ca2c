"""``raytrain bench checkpoint`` and ``raytrain bench recovery``: the measurements are
benchmarks/failures_bench.py's (imported, so the figures come from one code path); this adds
the targets, the JSON record and the Markdown table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Optional

from raytrain.bench import report, stats

REPO = Path(__file__).resolve().parents[2]
TARGET_WRITE_VS_DD, TARGET_ASYNC_BLOCKED_SHARE, TARGET_RECOVERY_S = 0.8, 0.05, 30.0


def _failures_bench():
    """benchmarks/ is not a package; load the script as a module (it runs nothing on import)."""
    name = "raytrain_failures_bench"
    if name not in sys.modules:
        path = REPO / "benchmarks" / "failures_bench.py"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: checkpoint and recovery benchmarks reuse it")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def run_checkpoint(nbytes: int, directory: Path, repeat: int, blocked_width: Optional[int]) -> dict[str, Any]:
    fb = _failures_bench()
    writes = fb.bench_write(nbytes / 2**30, Path(directory), repeat)
    blocked = fb.bench_blocked(blocked_width, 60, 10) if blocked_width else None
    return {"benchmark": "checkpoint", "machine": report.machine_info(),
            "config": {"bytes": nbytes, "dir": str(directory), "repeat": repeat, "blocked_width": blocked_width},
            "summary": checkpoint_summary(writes, blocked), "writes": writes, "blocked": blocked}


def checkpoint_summary(writes: list[dict], blocked: Optional[dict]) -> dict[str, Any]:
    gib = writes[0]["bytes"] / 2**30
    out: dict[str, Any] = {
        "write_gib_s": stats.summary(gib / w["commit_s"] for w in writes),
        "dd_gib_s": stats.summary(gib / w["dd_s"] for w in writes),
        "write_vs_dd": stats.summary(w["ratio_to_dd"] for w in writes),
        "restore_gib_s": stats.summary(gib / w["restore_s"] for w in writes),
    }
    if blocked:
        med = {m: stats.summary(c["blocked_s"] for c in blocked[m]["checkpoints"] if c["blocked_s"] is not None)["median"]
               for m in ("sync", "async")}
        out["blocked_s"] = med
        out["async_blocked_share_of_sync"] = med["async"] / med["sync"] if med["sync"] else None
    return out


def checkpoint_markdown(result: dict[str, Any]) -> str:
    s = result["summary"]
    rows = [
        ["durable write (raytrain commit), GiB/s", report.spread(s["write_gib_s"], "{:.2f}"), ""],
        ["dd conv=fdatasync, GiB/s", report.spread(s["dd_gib_s"], "{:.2f}"), ""],
        ["write / dd", report.spread(s["write_vs_dd"], "{:.2f}"), _target(s["write_vs_dd"]["median"] >= TARGET_WRITE_VS_DD,
                                                                          f"≥ {TARGET_WRITE_VS_DD}")],
        ["restore (verify + load, cold cache), GiB/s", report.spread(s["restore_gib_s"], "{:.2f}"), ""],
    ]
    if "blocked_s" in s:
        share = s["async_blocked_share_of_sync"]
        rows += [["blocked per checkpoint, sync, s", f"{s['blocked_s']['sync']:.3f}", ""],
                 ["blocked per checkpoint, async, s", f"{s['blocked_s']['async']:.3f}", ""],
                 ["async blocked / sync blocked", f"{share:.3f}" if share is not None else "n/a",
                  _target(share is not None and share <= TARGET_ASYNC_BLOCKED_SHARE, f"≤ {TARGET_ASYNC_BLOCKED_SHARE}")]]
    c = result["config"]
    return report.markdown_table(["figure", "median [min–max]", "target"], rows) + (
        f"\n{c['bytes'] / 2**30:.2f} GiB state into {c['dir']} ({result['writes'][0]['fs']}), {c['repeat']} tries.\n")


def run_recovery(repeat: int) -> dict[str, Any]:
    tries = _failures_bench().bench_recovery(repeat)
    return {"benchmark": "recovery", "machine": report.machine_info(), "config": {"repeat": repeat},
            "summary": {"kill_to_first_step_s": stats.summary(t["kill_to_first_step_s"] for t in tries),
                        "steps_lost": stats.summary(t["steps_lost"] for t in tries)},
            "tries": tries}


def recovery_markdown(result: dict[str, Any]) -> str:
    rows = [[t["try"], t["kill_to_first_step_s"], t["recovery_s"], t["steps_lost"], t["every_n_steps"],
             _target(t["kill_to_first_step_s"] <= TARGET_RECOVERY_S and t["steps_lost"] <= t["every_n_steps"],
                     f"≤ {TARGET_RECOVERY_S:.0f} s, ≤ every_n_steps lost"), t["dead_node_reason"]]
            for t in result["tries"]]
    return report.markdown_table(["try", "kill → first step s", "recorded recovery_s", "steps lost", "every_n_steps",
                                  "target", "dead node reason"], rows)


def _target(met: bool, text: str) -> str:
    return f"{text}: {'met' if met else 'missed'}"
