"""Finding and stopping exactly the processes of one local cluster.

``ray stop`` stops every Ray process on the machine; raytrain instead stops the processes
that belong to one cluster's temp dir: those naming it on their command line, everything
they started, and orphans (agents of a killed raylet) still holding files in it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterable


def _table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, command line) for every process we can see."""
    table: dict[int, tuple[int, str]] = {}
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                state = stat.rsplit(")", 1)[1].split()[0]
            except (OSError, ValueError, IndexError):
                continue
            if state == "Z":
                continue
            table[int(entry.name)] = (ppid, cmd)
        return table
    out = subprocess.run(["ps", "-axo", "pid=,ppid=,stat=,command="], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        parts = line.split(None, 3)
        if len(parts) >= 3 and not parts[2].startswith("Z"):
            table[int(parts[0])] = (int(parts[1]), parts[3] if len(parts) > 3 else "")
    return table


def _holds_files_in(pid: int, root: str) -> bool:
    base = Path(f"/proc/{pid}")
    try:
        if _under(os.readlink(base / "cwd"), root):
            return True
        for fd in (base / "fd").iterdir():
            try:
                if _under(os.readlink(fd), root):
                    return True
            except OSError:
                continue
    except OSError:
        return False
    return False


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def _names(cmd: str, root: str) -> bool:
    return any(_under(word.split("=", 1)[-1], root) for word in cmd.split())


def cluster_pids(temp_dir: str, known: Iterable[int] = ()) -> set[int]:
    """Every live process of the cluster rooted at ``temp_dir``."""
    root = str(Path(temp_dir).resolve())
    table = _table()
    me = os.getpid()
    roots = {pid for pid, (_, cmd) in table.items() if _names(cmd, root)}
    roots |= {pid for pid in known if pid in table}
    if Path("/proc").is_dir():
        roots |= {pid for pid, (ppid, cmd) in table.items()
                  if ppid == 1 and cmd.startswith("ray::") and _holds_files_in(pid, root)}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid in found or pid == me:
            continue
        found.add(pid)
        todo.extend(children.get(pid, ()))
    return found


def alive(pids: Iterable[int]) -> set[int]:
    table = _table()
    return {p for p in pids if p in table}


def terminate(pids: set[int], grace_s: float = 5.0) -> set[int]:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL what is left; return what survived."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + (grace_s if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            pids = alive(pids)
            if not pids:
                return set()
            time.sleep(0.2)
    return alive(pids)
