"""Running raytrain as a user would (subprocesses), and reading what a run left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import yaml

from tests.conftest import BIN, REPO


def write_spec_data(path: Path, data: dict, **changes) -> Path:
    """Write a spec with some fields changed; ``a__b=1`` sets ``a.b`` (as --set a.b=1 would)."""
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    path.write_text(yaml.safe_dump(data))
    return path


def write_spec(path: Path, base: str = "jobs/digits.yaml", **changes) -> Path:
    """A copy of a shipped spec with some fields changed."""
    return write_spec_data(path, yaml.safe_load((REPO / base).read_text()), **changes)


def raytrain_env(**extra: str) -> dict[str, str]:
    """The environment of a raytrain subprocess: this checkout's code first on the path (also
    for the Ray workers of a local cluster, which inherit PYTHONPATH)."""
    paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), **extra}
    env.pop("RAY_ADDRESS", None)
    env.pop("RAYTRAIN_STORAGE_PATH", None)
    return env


def run(args: list[str], env: Optional[dict] = None, timeout: float = 540) -> subprocess.CompletedProcess:
    out = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                         env=env or raytrain_env())
    return out


def raytrain(*args: str, **kw) -> subprocess.CompletedProcess:
    """`raytrain ARGS` as a user runs it, but from this checkout (the venv's console script
    may point at another worktree)."""
    if kw.get("env") is not None:
        kw["env"] = {**kw["env"], "PYTHONPATH": raytrain_env()["PYTHONPATH"]}
    return run([sys.executable, "-m", "raytrain.cli", *args], **kw)


def start_until(args: list[str], marker: str, timeout: float = 300, env: Optional[dict] = None):
    """Start a command and read its output until a line contains ``marker``.

    Returns the process (still running) and the lines read so far.
    """
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env or raytrain_env(), start_new_session=True)
    lines: list[str] = []
    deadline = time.time() + timeout
    assert proc.stdout is not None
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return proc, lines
    kill_group(proc)
    raise AssertionError(f"{marker!r} never appeared; output:\n" + "\n".join(lines[-40:]))


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


def result_of(storage: Path, name: str) -> dict:
    return json.loads((storage / name / "result.json").read_text())


def final_params(checkpoint_dir: Path) -> dict:
    import torch

    return torch.load(Path(checkpoint_dir) / "state.pt", map_location="cpu", weights_only=False)["model"]


def python_module(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]
