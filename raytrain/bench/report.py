"""Where results go and how they read: JSON with everything, a Markdown table, PNG plots."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def machine_name() -> str:
    host = socket.gethostname().split(".")[0] or "host"
    return f"{host}-{os.cpu_count()}cpu"


def results_dir(root: Optional[Path] = None, machine: Optional[str] = None, date: Optional[str] = None) -> Path:
    """``<root>/<YYYY-MM-DD>-<machine>/``."""
    date = date or _dt.date.today().isoformat()
    return Path(root or RESULTS) / f"{date}-{machine or machine_name()}"


def machine_info() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"hostname": socket.gethostname(), "platform": platform.platform(),
                            "cpu": cpu, "cpu_count": os.cpu_count(), "gpu": None}
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    versions: dict[str, Optional[str]] = {"python": platform.python_version()}
    for mod in ("torch", "ray"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    info["versions"], info["git_commit"] = versions, commit or None
    info["load_avg_1m"] = os.getloadavg()[0]
    return info


def write_json(path: Path, record: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=False, default=str) + "\n")
    return path


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub Markdown table; floats to 3 significant figures (2 decimals below 10)."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.2f}" if abs(v) < 10 else f"{v:,.0f}"
        return str(v).replace("|", "\\|")

    rows = [[cell(v) for v in r] for r in rows]
    for r in rows:
        if len(r) != len(headers):
            raise ValueError(f"row {r} has {len(r)} cells for {len(headers)} columns")
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def spread(s: dict[str, float], fmt: str = "{:,.0f}") -> str:
    """``median [min–max]`` of a stats.summary."""
    return f"{fmt.format(s['median'])} [{fmt.format(s['min'])}–{fmt.format(s['max'])}]"


def write_markdown(path: Path, title: str, body: str, command: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"## {title}\n\nReproduce: `{command}`\n\n{body}")
    return path


def plot_parity(path: Path, samples: list[dict[str, Any]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({s["model"] for s in samples})
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for i, kind in enumerate(("raytrain", "torchrun")):
        for j, model in enumerate(models):
            vals = [s["samples_per_s"] for s in samples if s["kind"] == kind and s["model"] == model]
            axes[0].scatter([j + (i - 0.5) * 0.2] * len(vals), vals, label=kind if j == 0 else None,
                            color=f"C{i}")
            walls = [s["wall_s"] for s in samples if s["kind"] == kind and s["model"] == model]
            axes[1].scatter([j + (i - 0.5) * 0.2] * len(walls), walls, label=kind if j == 0 else None,
                            color=f"C{i}")
    for ax, label in zip(axes, ("steady-state samples/s", "end-to-end wall time (s)")):
        ax.set_xticks(range(len(models)), models)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle("raytrain vs torchrun DDP (each point one run)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_scaling(path: Path, rows: list[dict[str, Any]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for mode, color in (("weak", "C0"), ("strong", "C1")):
        pts = sorted((r["workers"], r["samples_per_s"], r["efficiency"]) for r in rows if r["mode"] == mode)
        if not pts:
            continue
        n, thr, eff = zip(*pts)
        axes[0].plot(n, thr, "o-", color=color, label=f"{mode} scaling")
        axes[1].plot(n, eff, "o-", color=color, label=f"{mode} scaling")
    axes[0].set_ylabel("steady-state samples/s (median)")
    axes[1].set_ylabel("efficiency T(N) / (N·T(1))")
    axes[1].axhline(1.0, color="grey", lw=0.8, ls="--")
    for ax in axes:
        ax.set_xlabel("workers")
        ax.set_ylim(bottom=0)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
