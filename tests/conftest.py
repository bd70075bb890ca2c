"""Shared fixtures: the repo root, and a real Ray head started on free ports in a temp dir
(stopped at the end, even on failure, by ending exactly the processes it started)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_under(marker: str) -> list[int]:
    """PIDs whose command line mentions ``marker`` (a cluster's own temp dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            pids.append(int(entry.name))
    return pids


def stop_processes(marker: str, timeout_s: float = 20.0) -> list[int]:
    """SIGTERM, then SIGKILL, every process started for one cluster; return the stragglers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in processes_under(marker):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + timeout_s / 2
        while processes_under(marker) and time.time() < deadline:
            time.sleep(0.2)
    return processes_under(marker)


class RayHead:
    def __init__(self, num_cpus: int = 2):
        self.temp_dir = tempfile.mkdtemp(prefix="rth-", dir="/tmp")
        self.gcs_port, self.dashboard_port, self.metrics_port = free_port(), free_port(), free_port()
        self.address = f"127.0.0.1:{self.gcs_port}"
        self.dashboard = f"http://127.0.0.1:{self.dashboard_port}"
        ports = {
            "--port": self.gcs_port,
            "--dashboard-port": self.dashboard_port,
            "--ray-client-server-port": free_port(),
            "--dashboard-agent-listen-port": free_port(),
            "--dashboard-agent-grpc-port": free_port(),
            "--metrics-export-port": self.metrics_port,
            "--node-manager-port": free_port(),
            "--object-manager-port": free_port(),
            "--runtime-env-agent-port": free_port(),
        }
        cmd = [str(BIN / "ray"), "start", "--head", f"--num-cpus={num_cpus}", f"--temp-dir={self.temp_dir}",
               "--disable-usage-stats", "--include-dashboard=true", "--dashboard-host=127.0.0.1"]
        cmd += [f"{k}={v}" for k, v in ports.items()]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=self.env())
        if out.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray start failed:\n{out.stdout}\n{out.stderr}")

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["RAY_AUTH_MODE"] = "token"  # the client side must ask for token auth explicitly
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # as with an activated venv
        env.pop("RAY_ADDRESS", None)
        return env

    def stop(self) -> None:
        left = stop_processes(self.temp_dir)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        assert not left, f"Ray processes left behind: {left}"


@pytest.fixture(scope="session")
def ray_head():
    head = RayHead()
    try:
        yield head
    finally:
        head.stop()


@pytest.fixture
def storage(tmp_path) -> Path:
    path = tmp_path / "storage"
    path.mkdir()
    return path


def run_cli(*args: str, cwd: Path = REPO, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the raytrain console script as a user would."""
    return subprocess.run([str(BIN / "raytrain"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env or {**os.environ, "PYTHONUNBUFFERED": "1"})
