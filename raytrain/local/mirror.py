"""From a RayCluster's worker groups to the autoscaling config of Ray's fake multinode provider.

One node type per worker group; ``min_workers``/``max_workers`` from minReplicas/maxReplicas;
CPUs from the pod limits times ``--scale`` (auto: so the biggest group fits this machine);
GPUs kept as logical GPUs; the head type holds no training resources, as on the cluster.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Iterable, Optional

from raytrain.errors import MirrorError
from raytrain.local.manifest import ClusterManifest

HEAD_TYPE = "ray.head.default"  # the fake provider's fixed name for the head node type
OBJECT_STORE_BYTES = 128 * 1024 * 1024
DEFAULT_IDLE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class NodeType:
    group: str
    cpus: int
    gpus: int
    min_workers: int
    max_workers: int
    limit_cpus: float  # what the manifest asks for, before scaling

    def resources(self) -> dict[str, float]:
        res: dict[str, float] = {"CPU": self.cpus, "object_store_memory": OBJECT_STORE_BYTES}
        if self.gpus:
            res["GPU"] = self.gpus
        return res


def parse_group_overrides(items: Iterable[str]) -> dict[str, dict[str, int]]:
    """``--group gpu-1x:cpus=1,gpus=1,min=0,max=3`` → {"gpu-1x": {"cpus": 1, ...}}."""
    out: dict[str, dict[str, int]] = {}
    for item in items:
        name, sep, rest = item.partition(":")
        if not sep or not name or not rest:
            raise MirrorError(f"--group {item!r}: not NAME:key=value,...", "write e.g. --group gpu-1x:cpus=1,gpus=1")
        values: dict[str, int] = {}
        for pair in rest.split(","):
            key, eq, raw = pair.partition("=")
            key = key.strip()
            if not eq or key not in ("cpus", "gpus", "min", "max"):
                raise MirrorError(f"--group {item!r}: {pair!r} is not cpus=, gpus=, min= or max=",
                                  "write e.g. --group gpu-1x:cpus=1,gpus=1,max=2")
            try:
                values[key] = int(raw)
            except ValueError:
                raise MirrorError(f"--group {item!r}: {key}={raw!r} is not a whole number", f"write e.g. {key}=1") from None
            if values[key] < 0:
                raise MirrorError(f"--group {item!r}: {key} is negative", "use 0 or more")
        out.setdefault(name, {}).update(values)
    return out


def plan_node_types(
    manifest: ClusterManifest,
    scale: Optional[float] = None,
    overrides: Optional[dict[str, dict[str, int]]] = None,
    machine_cpus: Optional[int] = None,
) -> tuple[list[NodeType], float]:
    """The node types of the mirror and the CPU scale used."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - {g.name for g in manifest.groups}
    if unknown:
        known = ", ".join(g.name for g in manifest.groups)
        raise MirrorError(f"--group {sorted(unknown)[0]}: no such worker group in {manifest.source}",
                          f"groups are: {known}")
    if scale is not None and scale <= 0:
        raise MirrorError(f"--scale {scale}: must be above 0", "write e.g. --scale 0.25")
    machine_cpus = machine_cpus or os.cpu_count() or 1
    if scale is None:
        biggest = max((g.cpus for g in manifest.groups), default=1) or 1
        scale = min(1.0, machine_cpus / biggest)
    types = []
    for g in manifest.groups:
        cpus = max(1, math.floor(g.cpus * scale + 1e-9)) if g.cpus > 0 else 0
        nt = NodeType(g.name, cpus, g.gpus, g.min_replicas, g.max_replicas, g.cpus)
        o = overrides.get(g.name, {})
        nt = replace(nt, cpus=o.get("cpus", nt.cpus), gpus=o.get("gpus", nt.gpus),
                     min_workers=o.get("min", nt.min_workers), max_workers=o.get("max", nt.max_workers))
        if nt.min_workers > nt.max_workers:
            raise MirrorError(f"group {g.name}: min {nt.min_workers} > max {nt.max_workers}",
                              f"fix it with --group {g.name}:min=..,max=..")
        types.append(nt)
    return types, scale


def autoscaling_config(
    name: str,
    types: list[NodeType],
    gcs_address: str,
    idle_timeout_s: Optional[float] = None,
) -> dict:
    """The whole config the fake multinode provider needs (the wheel ships no example)."""
    node_types: dict[str, dict] = {
        HEAD_TYPE: {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0},
    }
    for t in types:
        node_types[t.group] = {
            "resources": t.resources(),
            "node_config": {},
            "min_workers": t.min_workers,
            "max_workers": t.max_workers,
        }
    idle = DEFAULT_IDLE_TIMEOUT_S if idle_timeout_s is None else idle_timeout_s
    return {
        "cluster_name": name,
        "max_workers": sum(t.max_workers for t in types),
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": idle / 60.0,
        "provider": {
            "type": "fake_multinode",
            "gcs_address": gcs_address,
            # These three are read from the provider section by the autoscaler.
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "available_node_types": node_types,
        "head_node_type": HEAD_TYPE,
        "auth": {"ssh_user": "ray"},
        "docker": {},
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": [],
        "rsync_filter": [],
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }
