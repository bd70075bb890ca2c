"""Reading a RayCluster's shape: head and worker groups, what each pod offers, what it mounts.

Works on a RayCluster, a RayJob's ``spec.rayClusterSpec`` and a RayService's
``spec.rayClusterConfig`` alike, and is what lint, preflight and the local mirror cluster read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from raytrain.errors import ManifestError
from raytrain.manifests.documents import Document, load_paths
from raytrain.manifests.quantity import parse_quantity

RAY_VERSION = "2.60.0"
CHECKPOINT_MOUNT = "/mnt/checkpoints"
GPU_KEYS = ("nvidia.com/gpu", "amd.com/gpu")


@dataclass(frozen=True)
class Mount:
    """A volume mounted into the Ray container."""

    volume: str
    path: str
    claim: Optional[str] = None  # the PersistentVolumeClaim behind it
    empty_dir_medium: Optional[str] = None  # "Memory" for a tmpfs, "" for disk, None if not an emptyDir
    access_modes: tuple[str, ...] = ()  # of an ephemeral volumeClaimTemplate


@dataclass
class Group:
    """The head or one worker group, as the Ray container of one pod sees it."""

    name: str
    path: str  # json path of the group spec, e.g. spec.workerGroupSpecs[1]
    is_head: bool = False
    min_replicas: int = 0
    max_replicas: int = 0
    replicas: Optional[int] = None
    num_of_hosts: int = 1
    image: Optional[str] = None
    limits: dict[str, float] = field(default_factory=dict)
    requests: dict[str, float] = field(default_factory=dict)
    ray_start_params: dict[str, str] = field(default_factory=dict)
    ray_resources: dict[str, float] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    node_selector: dict[str, str] = field(default_factory=dict)
    service_type: Optional[str] = None

    @property
    def gpus(self) -> float:
        return sum(self.limits.get(k, 0.0) for k in GPU_KEYS)

    @property
    def max_pods(self) -> int:
        return self.max_replicas * self.num_of_hosts

    def mount_at(self, path: str) -> Optional[Mount]:
        """The mount holding ``path`` (the deepest one), if any."""
        best = None
        for m in self.mounts:
            root = m.path.rstrip("/") or "/"
            if path == root or path.startswith(root.rstrip("/") + "/"):
                if best is None or len(root) > len(best.path):
                    best = m
        return best


@dataclass
class Cluster:
    name: str
    namespace: Optional[str]
    prefix: str  # json path of the cluster spec inside its object
    ray_version: Optional[str]
    autoscaling: bool
    auth_mode: Optional[str]
    head: Group
    workers: list[Group]

    @property
    def groups(self) -> list[Group]:
        return [self.head, *self.workers]


def cluster_spec(obj: Any) -> Optional[tuple[dict[str, Any], str]]:
    """The RayCluster spec inside a RayCluster, RayJob or RayService, with its json path."""
    if not isinstance(obj, dict) or not str(obj.get("apiVersion", "")).startswith("ray.io/"):
        return None
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return None
    key = {"RayCluster": None, "RayJob": "rayClusterSpec", "RayService": "rayClusterConfig"}.get(obj.get("kind"), "-")
    if key is None:
        return spec, "spec"
    inner = spec.get(key) if key != "-" else None
    return (inner, f"spec.{key}") if isinstance(inner, dict) else None


def read_cluster(obj: dict[str, Any]) -> Cluster:
    """The shape of the cluster a RayCluster/RayJob/RayService describes."""
    found = cluster_spec(obj)
    if found is None:
        raise ManifestError(
            f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}: holds no RayCluster spec",
            "give a RayCluster (or a RayJob with rayClusterSpec)",
        )
    spec, prefix = found
    meta = obj.get("metadata") or {}
    head = _read_group(spec.get("headGroupSpec") or {}, f"{prefix}.headGroupSpec", "head", is_head=True)
    workers = [
        _read_group(g, f"{prefix}.workerGroupSpecs[{i}]", str(g.get("groupName", f"group-{i}")))
        for i, g in enumerate(spec.get("workerGroupSpecs") or [])
        if isinstance(g, dict)
    ]
    auth = spec.get("authOptions") or {}
    return Cluster(
        name=str(meta.get("name", "")),
        namespace=meta.get("namespace"),
        prefix=prefix,
        ray_version=str(spec["rayVersion"]) if spec.get("rayVersion") is not None else None,
        autoscaling=bool(spec.get("enableInTreeAutoscaling")),
        auth_mode=auth.get("mode") if isinstance(auth, dict) else None,
        head=head,
        workers=workers,
    )


def _quantities(raw: Any) -> dict[str, float]:
    out = {}
    for key, value in (raw or {}).items():
        try:
            out[str(key)] = parse_quantity(value)
        except ValueError:
            continue  # the schema check reports it
    return out


def _read_group(g: dict[str, Any], path: str, name: str, is_head: bool = False) -> Group:
    pod = (g.get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or [{}]
    ray = containers[0] if isinstance(containers[0], dict) else {}
    resources = ray.get("resources") or {}
    limits, requests = _quantities(resources.get("limits")), _quantities(resources.get("requests"))
    params = {str(k): str(v) for k, v in (g.get("rayStartParams") or {}).items()}
    volumes = {v.get("name"): v for v in pod.get("volumes") or [] if isinstance(v, dict)}
    mounts = []
    for vm in ray.get("volumeMounts") or []:
        vol = volumes.get(vm.get("name"), {})
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
        tmpl = ((vol.get("ephemeral") or {}).get("volumeClaimTemplate") or {}).get("spec") or {}
        empty = vol.get("emptyDir")
        mounts.append(
            Mount(
                volume=str(vm.get("name")),
                path=str(vm.get("mountPath", "")),
                claim=claim,
                empty_dir_medium=(empty.get("medium", "") if isinstance(empty, dict) else "" if "emptyDir" in vol else None),
                access_modes=tuple(tmpl.get("accessModes") or ()),
            )
        )
    return Group(
        name=name,
        path=path,
        is_head=is_head,
        min_replicas=int(g.get("minReplicas", 0) or 0) if not is_head else 1,
        max_replicas=int(g.get("maxReplicas", 2147483647)) if not is_head else 1,
        replicas=(int(g["replicas"]) if g.get("replicas") is not None else None) if not is_head else 1,
        num_of_hosts=int(g.get("numOfHosts", 1) or 1),
        image=ray.get("image"),
        limits=limits,
        requests=requests,
        ray_start_params=params,
        ray_resources=_ray_resources(params, g.get("resources") or {}, limits, requests),
        labels={str(k): str(v) for k, v in (g.get("labels") or {}).items()},
        mounts=mounts,
        tolerations=[t for t in pod.get("tolerations") or [] if isinstance(t, dict)],
        node_selector={str(k): str(v) for k, v in (pod.get("nodeSelector") or {}).items()},
        service_type=g.get("serviceType") if is_head else None,
    )


def _ray_resources(params: dict[str, str], group_res: dict[str, Any], limits: dict[str, float], requests: dict[str, float]) -> dict[str, float]:
    """Logical resources Ray will advertise for one pod (the way KubeRay derives them)."""
    out: dict[str, float] = {}
    cpu = limits.get("cpu", requests.get("cpu"))
    if cpu is not None:
        out["CPU"] = float(int(cpu)) if cpu >= 1 else cpu
    gpu = sum(limits.get(k, 0.0) for k in GPU_KEYS)
    if gpu:
        out["GPU"] = gpu
    if "memory" in limits or "memory" in requests:
        out["memory"] = limits.get("memory", requests.get("memory", 0.0))
    custom = params.get("resources")
    if custom:
        # KubeRay passes it to `ray start --resources` quoted: '"{\"TPU\": 4}"'.
        text = custom.strip().strip("'").strip('"').replace('\\"', '"')
        try:
            parsed = json.loads(text)
            out.update({str(k): float(v) for k, v in parsed.items()})
        except (ValueError, TypeError, AttributeError):
            pass
    for key, value in group_res.items():
        try:
            out[str(key)] = parse_quantity(value)
        except ValueError:
            pass
    for param, key in (("num-cpus", "CPU"), ("num-gpus", "GPU"), ("memory", "memory")):
        if param in params:
            try:
                out[key] = parse_quantity(params[param])
            except ValueError:
                pass
    return out


def image_ray_version(image: Optional[str]) -> Optional[str]:
    """The Ray version an image tag names: rayproject/ray:2.60.0-py311 or ...:0.1.0-ray2.60.0-py311."""
    if not image or ":" not in image.rsplit("/", 1)[-1]:
        return None
    repo, tag = image.rsplit(":", 1)
    m = re.search(r"(?:^|-)ray(\d+\.\d+\.\d+)", tag)
    if m:
        return m.group(1)
    if repo.split("/")[-1] in ("ray", "ray-ml", "ray-llm"):
        m = re.match(r"^(\d+\.\d+\.\d+)", tag)
        if m:
            return m.group(1)
    return None


def find_clusters(docs: list[Document]) -> list[tuple[Document, Cluster]]:
    return [(d, read_cluster(d.data)) for d in docs if d.kind == "RayCluster" and cluster_spec(d.data)]


def load_cluster(path: str | Path) -> tuple[Cluster, list[Document]]:
    """The one RayCluster under ``path`` (a file, directory or kustomize directory) and all its documents."""
    docs = load_paths([path])
    broken = [d for d in docs if d.error]
    if broken:
        raise ManifestError(f"{broken[0].source}[{broken[0].index}]: {broken[0].error}", "fix the YAML")
    clusters = find_clusters(docs)
    if len(clusters) != 1:
        names = ", ".join(c.name for _, c in clusters) or "none"
        raise ManifestError(
            f"{path}: expected exactly one RayCluster, found {len(clusters)} ({names})",
            "point --cluster at one cluster, e.g. clusters/overlays/prod",
        )
    return clusters[0][1], docs


def claim_access_modes(docs: list[Document], claim: str, namespace: Optional[str] = None) -> Optional[tuple[str, ...]]:
    """The access modes of the PersistentVolumeClaim named ``claim`` among ``docs`` (None: not there)."""
    for d in docs:
        if d.kind == "PersistentVolumeClaim" and d.name == claim and (namespace is None or d.namespace in (None, namespace)):
            return tuple(((d.data.get("spec") or {}).get("accessModes")) or ())
    return None
