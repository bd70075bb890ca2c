"""Starting, inspecting and stopping the local mirror of a RayCluster.

``up`` runs ``RAY_FAKE_CLUSTER=1 ray start --head --autoscaling-config=...`` on free ports in a
short temp dir, so Ray's own autoscaler adds and removes simulated worker nodes (one node
type per worker group). What it started is recorded in a state file; ``down`` stops exactly
that. A local directory stands in for the checkpoint volume and reaches every job through
``RAYTRAIN_STORAGE_PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from raytrain.errors import ClusterError, MirrorError
from raytrain.local import procs
from raytrain.local.manifest import read_manifest
from raytrain.local.mirror import (
    HEAD_TYPE,
    OBJECT_STORE_BYTES,
    NodeType,
    autoscaling_config,
    parse_group_overrides,
    plan_node_types,
)

STATE_FILE = "cluster.json"


def default_state_dir() -> Path:
    return Path(os.environ.get("RAYTRAIN_LOCAL_STATE_DIR") or Path.cwd() / ".raytrain" / "local")


@dataclass
class LocalCluster:
    """What ``up`` started; saved as JSON in the state dir."""

    name: str
    manifest: str
    temp_dir: str
    gcs_address: str
    dashboard_url: str
    volume: str
    token_path: str
    node_types: list[dict[str, Any]]
    scale: float
    idle_timeout_s: float
    pids: list[int] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    state_dir: str = ""

    @property
    def address(self) -> str:
        return self.dashboard_url

    def save(self) -> None:
        path = Path(self.state_dir) / STATE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, state_dir: Optional[str | Path] = None) -> Optional["LocalCluster"]:
        state_dir = Path(state_dir) if state_dir else default_state_dir()
        path = state_dir / STATE_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            data["state_dir"] = str(state_dir)
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise ClusterError(f"{path}: unreadable state file ({exc})", f"remove {path} if no cluster runs") from None

    def running(self) -> bool:
        host, _, port = self.gcs_address.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return True
        except OSError:
            return False


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _ray_cli() -> list[str]:
    return [sys.executable, "-m", "ray.scripts.scripts"]


def up(
    manifest_path: str | Path,
    scale: Optional[float] = None,
    groups: tuple[str, ...] | list[str] = (),
    volume: Optional[str | Path] = None,
    state_dir: Optional[str | Path] = None,
    cluster: Optional[str] = None,
    idle_timeout_s: Optional[float] = None,
    wait_s: float = 120.0,
    log: Callable[[str], object] = print,
) -> LocalCluster:
    """Start the mirror; return once the Jobs API answers and min workers are up."""
    state_dir = Path(state_dir) if state_dir else default_state_dir()
    existing = LocalCluster.load(state_dir)
    if existing and existing.running():
        raise MirrorError(
            f"a local cluster already runs from {state_dir} ({existing.dashboard_url})",
            "stop it with `raytrain down` first, or use another --state-dir",
        )
    if existing:
        _cleanup(existing, log=lambda m: None)

    manifest = read_manifest(manifest_path, cluster)
    types, used_scale = plan_node_types(manifest, scale, parse_group_overrides(groups))
    idle = idle_timeout_s if idle_timeout_s is not None else (manifest.idle_timeout_s or 60.0)
    volume_dir = Path(volume).resolve() if volume else (state_dir.parent / "storage").resolve()
    volume_dir.mkdir(parents=True, exist_ok=True)

    temp_dir = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    gcs_port, dash_port, client_port, nm_port, om_port, metrics_port, agent_port, agent_grpc, env_agent = free_ports(9)
    gcs_address = f"127.0.0.1:{gcs_port}"
    config_path = Path(temp_dir) / "autoscaling.json"
    config_path.write_text(json.dumps(autoscaling_config(manifest.name, types, gcs_address, idle)))

    from raytrain.submit.auth import default_token_path

    lc = LocalCluster(
        name=manifest.name, manifest=str(manifest_path), temp_dir=temp_dir, gcs_address=gcs_address,
        dashboard_url=f"http://127.0.0.1:{dash_port}", volume=str(volume_dir),
        token_path=os.environ.get("RAY_AUTH_TOKEN_PATH") or str(default_token_path()),
        node_types=[asdict(t) for t in types], scale=used_scale, idle_timeout_s=idle,
        state_dir=str(state_dir),
    )
    cmd = [
        *_ray_cli(), "start", "--head",
        f"--port={gcs_port}", f"--dashboard-port={dash_port}", "--dashboard-host=127.0.0.1",
        f"--ray-client-server-port={client_port}", f"--node-manager-port={nm_port}",
        f"--object-manager-port={om_port}", f"--metrics-export-port={metrics_port}",
        f"--dashboard-agent-listen-port={agent_port}", f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--runtime-env-agent-port={env_agent}", "--min-worker-port=0", "--max-worker-port=0",
        "--num-cpus=0", "--num-gpus=0", f"--object-store-memory={OBJECT_STORE_BYTES}",
        f"--temp-dir={temp_dir}", f"--autoscaling-config={config_path}", "--disable-usage-stats",
    ]
    env = dict(os.environ)
    env.update({
        "RAY_FAKE_CLUSTER": "1",
        "AUTOSCALER_UPDATE_INTERVAL_S": "1",
        "RAYTRAIN_STORAGE_PATH": str(volume_dir),
        "RAY_USAGE_STATS_ENABLED": "0",
    })
    env.pop("RAY_ADDRESS", None)
    # Jobs run `python -m raytrain.run`: the interpreter that started the mirror, as in the image.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    log(f"starting local mirror of {manifest.name} ({manifest.source}) in {temp_dir}")
    lc.save()  # before start: a failed start is still cleaned up by `down`
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    lc.pids = sorted(procs.cluster_pids(temp_dir))
    lc.save()
    if out.returncode != 0:
        tail = "\n".join((out.stderr or out.stdout).strip().splitlines()[-5:])
        _cleanup(lc, log=lambda m: None)
        raise ClusterError(f"ray start failed (exit {out.returncode}): {tail}", "rerun with --debug; see the log above")

    try:
        _wait_ready(lc, types, wait_s, log)
    except BaseException:
        _cleanup(lc, log=lambda m: None)
        raise
    lc.pids = sorted(procs.cluster_pids(temp_dir, lc.pids))
    lc.save()
    return lc


def _wait_ready(lc: LocalCluster, types: list[NodeType], wait_s: float, log: Callable[[str], object]) -> None:
    from raytrain.submit.jobs import JobsClient

    deadline = time.monotonic() + wait_s
    last_err: Optional[Exception] = None
    while time.monotonic() < deadline:
        try:
            JobsClient(lc.dashboard_url).list()
            break
        except Exception as exc:  # noqa: BLE001 - the dashboard is still starting
            last_err = exc
            time.sleep(1)
    else:
        raise ClusterError(f"the Jobs API at {lc.dashboard_url} did not answer in {wait_s:.0f}s ({last_err})",
                           f"see the logs in {lc.temp_dir}/session_latest/logs")
    want = {t.group: t.min_workers for t in types if t.min_workers}
    if not want:
        return
    log(f"waiting for min workers: {', '.join(f'{g}={n}' for g, n in want.items())}")
    while time.monotonic() < deadline:
        st = autoscaler_status(lc)
        active = (st.get("autoscaler_report") or {}).get("active_nodes") or {}
        if all(active.get(g, 0) >= n for g, n in want.items()):
            return
        time.sleep(1)
    raise ClusterError(f"min workers did not come up in {wait_s:.0f}s", f"see {lc.temp_dir}/session_latest/logs/monitor.log")


def autoscaler_status(lc: LocalCluster) -> dict:
    """The v1 autoscaler's own summary (what `ray status` prints), as a dict.

    Read over the dashboard's HTTP API with raytrain's token, not a GCS client: a GCS client's
    auth mode is fixed once per process, so it would fail in a process that imported Ray before.
    """
    import requests

    from raytrain.submit.auth import auth_failure, resolve_token

    token = resolve_token()
    try:
        r = requests.get(f"{lc.dashboard_url}/api/cluster_status", headers=token.header(), timeout=10)
    except requests.RequestException as exc:
        raise ClusterError(f"{lc.dashboard_url}: the dashboard does not answer ({type(exc).__name__})",
                           "`raytrain down` then `raytrain up --local DIR`") from None
    if r.status_code in (401, 403):
        raise auth_failure(r.status_code, lc.dashboard_url, token)
    if r.status_code != 200:
        raise ClusterError(f"{lc.dashboard_url}/api/cluster_status: HTTP {r.status_code}", "see the dashboard logs")
    return _snake_status((r.json().get("data") or {}).get("clusterStatus") or {}, lc)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _snake_status(cs: dict, lc: LocalCluster) -> dict:
    """Undo the dashboard's camelCasing of the autoscaler summary (group names included)."""
    names = {_camel(t["group"]): t["group"] for t in lc.node_types}

    def groups(d):
        return {names.get(k, k): v for k, v in (d or {}).items()}

    ar = cs.get("autoscalerReport") or {}
    lm = cs.get("loadMetricsReport") or {}
    return {
        "autoscaler_report": {
            "active_nodes": groups(ar.get("activeNodes")),
            "idle_nodes": groups(ar.get("idleNodes")),
            "pending_launches": groups(ar.get("pendingLaunches")),
            "pending_nodes": [(ip, names.get(t, t), st) for ip, t, st in ar.get("pendingNodes") or []],
            "failed_nodes": [(ip, names.get(t, t)) for ip, t in ar.get("failedNodes") or []],
        },
        "load_metrics_report": {
            "usage": lm.get("usage") or {},
            "resource_demand": lm.get("resourceDemand") or [],
            "pg_demand": lm.get("pgDemand") or [],
        },
    } if cs else {}


@dataclass
class GroupStatus:
    group: str
    ready: int
    pending: int
    min_workers: int
    max_workers: int
    cpus: int
    gpus: int


@dataclass
class ClusterStatus:
    cluster: LocalCluster
    groups: list[GroupStatus]
    usage: dict[str, tuple[float, float]]
    demand: list[tuple[dict[str, float], int]]
    jobs: list[Any]
    failures: list[str]


def status(state_dir: Optional[str | Path] = None) -> ClusterStatus:
    lc = _require(state_dir)
    if not lc.running():
        raise ClusterError(f"the local cluster of {lc.state_dir} is not running (its GCS {lc.gcs_address} is gone)",
                           "`raytrain down` cleans up, then `raytrain up --local DIR`")
    st = autoscaler_status(lc)
    report = st.get("autoscaler_report") or {}
    active = report.get("active_nodes") or {}
    idle = report.get("idle_nodes") or {}
    pending: dict[str, int] = dict(report.get("pending_launches") or {})
    for _, node_type, _ in report.get("pending_nodes") or []:
        pending[node_type] = pending.get(node_type, 0) + 1
    groups = []
    for t in lc.node_types:
        g = t["group"]
        groups.append(GroupStatus(g, active.get(g, 0) + idle.get(g, 0), pending.get(g, 0),
                                  t["min_workers"], t["max_workers"], t["cpus"], t["gpus"]))
    lm = st.get("load_metrics_report") or {}
    usage = {k: (float(v[0]), float(v[1])) for k, v in (lm.get("usage") or {}).items()
             if k in ("CPU", "GPU") or not k.startswith(("node:", "memory", "object_store"))}
    demand = [(dict(d[0]), int(d[1])) for d in lm.get("resource_demand") or []]
    demand += [(dict(b), int(n)) for pg, n in lm.get("pg_demand") or [] for b in (pg.get("bundles") or [])]
    failures = [f"{t} ({ip})" for ip, t in report.get("failed_nodes") or []]
    from raytrain.submit.jobs import JobsClient

    jobs = [j for j in JobsClient(lc.dashboard_url).list() if not j.state.terminal]
    return ClusterStatus(lc, groups, usage, demand, jobs, failures)


def down(state_dir: Optional[str | Path] = None, keep_logs: bool = False,
         log: Callable[[str], object] = print) -> bool:
    """Stop what `up` started (and nothing else); False when nothing was recorded."""
    lc = LocalCluster.load(state_dir)
    if lc is None:
        return False
    _cleanup(lc, log=log, keep_logs=keep_logs)
    return True


def _cleanup(lc: LocalCluster, log: Callable[[str], object], keep_logs: bool = False) -> None:
    pids = procs.cluster_pids(lc.temp_dir, lc.pids)
    if pids:
        log(f"stopping {len(pids)} processes of {lc.name} ({lc.temp_dir})")
    left = procs.terminate(pids)
    if left:
        raise ClusterError(f"processes {sorted(left)} of {lc.temp_dir} survived SIGKILL",
                           "check them with ps; nothing else was touched")
    if not keep_logs and lc.temp_dir.startswith(tempfile.gettempdir()) and Path(lc.temp_dir).name.startswith("rt-"):
        shutil.rmtree(lc.temp_dir, ignore_errors=True)
    (Path(lc.state_dir) / STATE_FILE).unlink(missing_ok=True)


def _require(state_dir: Optional[str | Path]) -> LocalCluster:
    lc = LocalCluster.load(state_dir)
    if lc is None:
        where = Path(state_dir) if state_dir else default_state_dir()
        raise ClusterError(f"no local cluster recorded in {where}", "start one with `raytrain up --local DIR`")
    return lc


def current(state_dir: Optional[str | Path] = None) -> Optional[LocalCluster]:
    """The running local cluster of this directory, if any."""
    lc = LocalCluster.load(state_dir)
    return lc if lc and lc.running() else None


def gpu_note(types: list[dict[str, Any]]) -> Optional[str]:
    gpu_groups = [t["group"] for t in types if t.get("gpus")]
    if not gpu_groups:
        return None
    return (f"GPU groups ({', '.join(gpu_groups)}) run as nodes with logical GPUs: scheduling and "
            "autoscaling match the cluster, the computation runs on this machine's CPU")


__all__ = ["ClusterStatus", "GroupStatus", "LocalCluster", "current", "down", "gpu_note", "status", "up",
           "HEAD_TYPE"]
