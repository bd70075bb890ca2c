"""A real multi-node Ray cluster on one machine: a head with no CPUs (so that no training
worker lands on it) and worker nodes added and killed one by one, each a separate
``ray start --block`` with its own ports and resources. Every process is found again through
the cluster's own temp dir or the node's process tree, never by name."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

from tests.conftest import BIN, RayHead, free_port, stop_processes


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


class WorkerNode:
    def __init__(self, cluster: "Cluster", num_cpus: int, prefix: list[str], label: str):
        self.cluster, self.label = cluster, label
        ports = {
            "--node-manager-port": free_port(),
            "--object-manager-port": free_port(),
            "--metrics-export-port": free_port(),
            "--dashboard-agent-listen-port": free_port(),
            "--dashboard-agent-grpc-port": free_port(),
            "--runtime-env-agent-port": free_port(),
        }
        self.node_manager_port = ports["--node-manager-port"]
        cmd = [str(BIN / "ray"), "start", f"--address={cluster.address}", f"--num-cpus={num_cpus}",
               "--disable-usage-stats", "--block", f"--resources={{\"{label}\": 1}}"]
        cmd += [f"{k}={v}" for k, v in ports.items()]
        self.proc = subprocess.Popen(prefix + cmd, env=cluster.env(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            self.node_id = self._wait_registered()
        except BaseException:  # never leave a node behind that no fixture knows of
            self.kill(signal.SIGKILL)
            self.wait_gone()
            raise

    def _wait_registered(self, timeout: float = 90) -> str:
        import json

        deadline = time.time() + timeout
        while time.time() < deadline:
            out = subprocess.run(
                [str(BIN / "python"), "-c",
                 "import json, ray; ray.init(address='%s', logging_level='ERROR');"
                 "print('NODES=' + json.dumps([n['NodeID'] for n in ray.nodes() if n['Alive'] and "
                 "n.get('Resources', {}).get('%s')]))" % (self.cluster.address, self.label)],
                capture_output=True, text=True, env=self.cluster.env(), timeout=60)
            # Ray may print its own lines to stdout too: read only ours.
            found = [l[len("NODES="):] for l in out.stdout.splitlines() if l.startswith("NODES=")]
            ids = json.loads(found[-1]) if out.returncode == 0 and found else []
            if ids:
                return ids[0]
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.label} exited with {self.proc.returncode}")
            time.sleep(1)
        raise RuntimeError(f"node {self.label} did not join the cluster in {timeout} s")

    def kill(self, sig: int = signal.SIGKILL) -> float:
        """Send ``sig`` to every process of this node (raylet, its agents, its workers) at once;
        return the time of the kill."""
        pids = descendants(self.proc.pid)
        when = time.time()
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return when

    def wait_gone(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            alive = [p for p in descendants(self.proc.pid) if Path(f"/proc/{p}").exists()]
            if self.proc.poll() is not None and len(alive) <= 1:
                break
            time.sleep(0.2)
        for pid in descendants(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


class Cluster(RayHead):
    """A head (0 CPUs) plus worker nodes; ``stop()`` ends every process it started."""

    # Ray's defaults take 30 s or more to declare a killed node dead (GCS health checks);
    # what a cluster sets here decides how fast a run recovers from a node loss.
    HEALTH_CHECK = {"RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
                    "RAY_health_check_failure_threshold": "3"}

    def __init__(self):
        super().__init__(num_cpus=0)
        self.nodes: list[WorkerNode] = []
        self._count = 0

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.HEALTH_CHECK}

    def add_node(self, num_cpus: int = 1, prefix: Optional[list[str]] = None) -> WorkerNode:
        self._count += 1
        node = WorkerNode(self, num_cpus, prefix or [], f"node{self._count}")
        self.nodes.append(node)
        return node

    def remove_all_nodes(self) -> None:
        for node in self.nodes:
            node.kill(signal.SIGKILL)
            node.wait_gone()
        self.nodes = []

    def stop(self) -> None:
        try:
            self.remove_all_nodes()
        finally:
            left = stop_processes(self.temp_dir)
            import shutil

            shutil.rmtree(self.temp_dir, ignore_errors=True)
            assert not left, f"Ray processes left behind: {left}"
