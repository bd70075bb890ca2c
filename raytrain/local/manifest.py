"""A deliberately small reader of the worker groups of a RayCluster manifest.

It reads only what the local mirror needs (groups, replicas, pod limits, the checkpoint
mount, the autoscaler idle timeout). ``raytrain.manifests`` holds the full reader with
validation; this one should be replaced by it once that lands.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from raytrain.errors import MirrorError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class WorkerGroup:
    name: str
    min_replicas: int
    max_replicas: int
    replicas: int
    cpus: float
    gpus: int
    memory_bytes: Optional[int]


@dataclass(frozen=True)
class ClusterManifest:
    source: str
    name: str
    groups: tuple[WorkerGroup, ...]
    idle_timeout_s: Optional[float]
    checkpoint_mount: Optional[str]


def read_manifest(path: str | Path, cluster: Optional[str] = None) -> ClusterManifest:
    """The RayCluster in a YAML file, a directory of them, or a kustomize directory."""
    path = Path(path)
    docs = list(_documents(path))
    clusters = [d for d in docs if isinstance(d, dict) and d.get("kind") == "RayCluster"]
    for d in docs:  # a RayJob embeds its cluster
        if isinstance(d, dict) and d.get("kind") == "RayJob" and (d.get("spec") or {}).get("rayClusterSpec"):
            clusters.append({"metadata": d.get("metadata", {}), "spec": d["spec"]["rayClusterSpec"]})
    if cluster:
        clusters = [c for c in clusters if (c.get("metadata") or {}).get("name") == cluster]
    if not clusters:
        what = f"no RayCluster named {cluster!r}" if cluster else "no RayCluster"
        raise MirrorError(f"{path}: {what} in the manifest", "point --local at a RayCluster YAML or a kustomize dir that renders one")
    if len(clusters) > 1:
        names = ", ".join((c.get("metadata") or {}).get("name", "?") for c in clusters)
        raise MirrorError(f"{path}: several RayClusters ({names})", "pick one with --cluster NAME")
    return _parse(clusters[0], str(path))


def _documents(path: Path):
    if not path.exists():
        raise MirrorError(f"{path}: no such file or directory", "give a RayCluster YAML or a kustomize directory")
    if path.is_dir():
        if any((path / f).exists() for f in KUSTOMIZATION_FILES):
            yield from _load_all(_kustomize(path), str(path))
            return
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        if not files:
            raise MirrorError(f"{path}: no YAML files and no kustomization.yaml", "give a RayCluster YAML or a kustomize directory")
        for f in files:
            yield from _load_all(f.read_text(), str(f))
        return
    yield from _load_all(path.read_text(), str(path))


def _kustomize(path: Path) -> str:
    if shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(path)]
    elif shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(path)]
    else:
        raise MirrorError(f"{path}: is a kustomize directory and neither kubectl nor kustomize is installed",
                          "install kubectl, or point --local at a rendered RayCluster YAML")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        first = (out.stderr.strip().splitlines() or ["failed"])[-1]
        raise MirrorError(f"{path}: {' '.join(cmd[:2])} failed: {first}", "fix the kustomization (try the command yourself)")
    return out.stdout


def _load_all(text: str, source: str):
    try:
        yield from (d for d in yaml.safe_load_all(text) if d is not None)
    except yaml.YAMLError as exc:
        raise MirrorError(f"{source}: not valid YAML ({str(exc).splitlines()[0]})", "fix the YAML syntax") from None


def _parse(obj: dict[str, Any], source: str) -> ClusterManifest:
    spec = obj.get("spec") or {}
    name = (obj.get("metadata") or {}).get("name", "raycluster")
    groups = []
    for i, g in enumerate(spec.get("workerGroupSpecs") or []):
        where = f"{source}: spec.workerGroupSpecs[{i}]"
        gname = g.get("groupName")
        if not gname:
            raise MirrorError(f"{where}.groupName: required but missing", "name the group, e.g. groupName: gpu-1x")
        replicas = _int(g.get("replicas", g.get("minReplicas", 0)), f"{where}.replicas")
        lo = _int(g.get("minReplicas", 0), f"{where}.minReplicas")
        hi = _int(g.get("maxReplicas", max(replicas, lo)), f"{where}.maxReplicas")
        if lo > hi:
            raise MirrorError(f"{where}: minReplicas {lo} > maxReplicas {hi}", "swap them")
        limits = _ray_container(g, where).get("resources", {}) or {}
        limits = limits.get("limits") or limits.get("requests") or {}
        params = g.get("rayStartParams") or {}
        cpus = _cpu(params.get("num-cpus", limits.get("cpu", 1)), f"{where} cpu")
        gpus = int(_cpu(params.get("num-gpus", limits.get("nvidia.com/gpu", 0)), f"{where} nvidia.com/gpu"))
        mem = _memory(limits.get("memory"))
        groups.append(WorkerGroup(gname, lo, hi, replicas, cpus, gpus, mem))
    if not groups:
        raise MirrorError(f"{source}: RayCluster {name!r} has no workerGroupSpecs", "add a worker group")
    idle = (spec.get("autoscalerOptions") or {}).get("idleTimeoutSeconds")
    return ClusterManifest(source, name, tuple(groups), float(idle) if idle is not None else None,
                           _checkpoint_mount(spec))


def _ray_container(group: dict, where: str) -> dict:
    containers = ((group.get("template") or {}).get("spec") or {}).get("containers") or []
    if not containers:
        raise MirrorError(f"{where}.template.spec.containers: empty", "give the Ray container")
    return containers[0]


def _checkpoint_mount(spec: dict) -> Optional[str]:
    """Where the head mounts a PersistentVolumeClaim: the checkpoint volume."""
    pod = ((spec.get("headGroupSpec") or {}).get("template") or {}).get("spec") or {}
    claims = {v.get("name") for v in pod.get("volumes") or [] if v.get("persistentVolumeClaim")}
    for c in pod.get("containers") or []:
        for m in c.get("volumeMounts") or []:
            if m.get("name") in claims:
                return m.get("mountPath")
    return None


def _int(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise MirrorError(f"{where}: {value!r} is not an integer", "write a whole number") from None


def _cpu(value: Any, where: str) -> float:
    text = str(value).strip().strip('"')
    try:
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        raise MirrorError(f"{where}: {value!r} is not a CPU/GPU quantity", "write e.g. 4, 500m or 1") from None


_MEM_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
              "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def _memory(value: Any) -> Optional[int]:
    if value is None:
        return None
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value).strip())
    if not m or m.group(2) not in _MEM_UNITS:
        return None
    return int(float(m.group(1)) * _MEM_UNITS[m.group(2)])
