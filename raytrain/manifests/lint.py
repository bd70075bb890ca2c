"""Lint rules on top of the schema: things KubeRay accepts but a training cluster gets wrong.

Each rule has an id (``--skip ID`` turns it off), a severity and the fix. Errors make
``raytrain validate`` fail; warnings are printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional

from raytrain.manifests.cluster import (
    CHECKPOINT_MOUNT,
    GPU_KEYS,
    RAY_VERSION,
    Cluster,
    Group,
    cluster_spec,
    image_ray_version,
    read_cluster,
)
from raytrain.manifests.documents import Document
from raytrain.manifests.findings import Finding, Severity

DASHBOARD_PORT = 8265


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    summary: str
    fix: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in [
        Rule("replicas-range", "error", "minReplicas <= replicas <= maxReplicas, none negative",
             "set minReplicas <= replicas <= maxReplicas"),
        Rule("gpu-toleration", "warning", "a group with GPU limits tolerates the GPU taint",
             "add tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}] to the pod template"),
        Rule("gpu-requests-limits", "error", "GPU requests equal GPU limits",
             "set resources.requests and resources.limits of the GPU to the same count (or drop the request)"),
        Rule("checkpoint-mount", "error", "the checkpoint claim is mounted in the head and every group, at one path",
             f"mount the claim at {CHECKPOINT_MOUNT} in the head and in every worker group"),
        Rule("checkpoint-rwx", "error", "the checkpoint claim is ReadWriteMany",
             "set accessModes: [ReadWriteMany] on the claim (and a storage class that offers it)"),
        Rule("head-resources", "warning", "the head runs no training: no GPUs, num-cpus \"0\"",
             "set headGroupSpec.rayStartParams.num-cpus: \"0\" and give the head no GPUs"),
        Rule("ray-version", "error", f"images and rayVersion carry raytrain's Ray ({RAY_VERSION})",
             f"use rayproject/ray:{RAY_VERSION}-py311 (or an image built from clusters/image) and rayVersion: \"{RAY_VERSION}\""),
        Rule("autoscaling-off", "warning", "groups with minReplicas < maxReplicas need enableInTreeAutoscaling",
             "set spec.enableInTreeAutoscaling: true (or minReplicas = maxReplicas)"),
        Rule("num-gpus-mismatch", "error", "rayStartParams num-gpus equals the pod's GPU limit",
             "drop rayStartParams.num-gpus (KubeRay derives it from the limit) or make them equal"),
        Rule("dev-shm", "warning", "Ray containers mount a memory emptyDir at /dev/shm",
             "add a volume {name: dshm, emptyDir: {medium: Memory}} mounted at /dev/shm"),
        Rule("dashboard-exposed", "error", "the dashboard/Jobs API is not exposed by a LoadBalancer or NodePort without auth",
             "use serviceType: ClusterIP (reach it with kubectl port-forward) or set spec.authOptions.mode: token"),
    ]
}

# A check yields (json.path, message) about the cluster's document, or (document, json.path, message).
Check = Callable[[Document, Cluster, list[Document]], Iterator[tuple]]
_CHECKS: dict[str, Check] = {}


def _rule(rule_id: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        _CHECKS[rule_id] = fn
        return fn

    return register


def _fmt(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)


@_rule("replicas-range")
def _replicas(doc, cluster, docs):
    for g in cluster.workers:
        if g.min_replicas < 0:
            yield f"{g.path}.minReplicas", f"{g.min_replicas} is negative"
        if g.max_replicas < 0:
            yield f"{g.path}.maxReplicas", f"{g.max_replicas} is negative"
        if g.min_replicas > g.max_replicas >= 0:
            yield f"{g.path}.minReplicas", f"minReplicas {g.min_replicas} > maxReplicas {g.max_replicas} in group {g.name}"
        elif g.replicas is not None and not g.min_replicas <= g.replicas <= g.max_replicas:
            yield f"{g.path}.replicas", f"replicas {g.replicas} is outside [{g.min_replicas}, {g.max_replicas}] in group {g.name}"


def _tolerates(g: Group, key: str) -> bool:
    for t in g.tolerations:
        if t.get("operator") == "Exists" and not t.get("key"):
            return True
        if t.get("key") == key:
            return True
    return False


@_rule("gpu-toleration")
def _gpu_toleration(doc, cluster, docs):
    for g in cluster.groups:
        for key in GPU_KEYS:
            if g.limits.get(key, 0) > 0 and not _tolerates(g, key):
                yield f"{g.path}.template.spec.tolerations", f"group {g.name} asks for {key} but does not tolerate the {key} taint"


@_rule("gpu-requests-limits")
def _gpu_requests(doc, cluster, docs):
    for g in cluster.groups:
        for key in GPU_KEYS:
            if key in g.requests and g.requests[key] != g.limits.get(key):
                limit = _fmt(g.limits[key]) if key in g.limits else "none"
                yield (f"{g.path}.template.spec.containers[0].resources.requests.{key}",
                       f"requests {_fmt(g.requests[key])} but limits {limit} in group {g.name}")


def checkpoint_claims(cluster: Cluster) -> dict[str, str]:
    """Claims mounted at the checkpoint path in any group -> that path."""
    out: dict[str, str] = {}
    for g in cluster.groups:
        for m in g.mounts:
            if m.claim and m.path.rstrip("/") == CHECKPOINT_MOUNT:
                out.setdefault(m.claim, m.path.rstrip("/"))
    return out


@_rule("checkpoint-mount")
def _checkpoint_mount(doc, cluster, docs):
    for claim, path in checkpoint_claims(cluster).items():
        for g in cluster.groups:
            paths = sorted({m.path.rstrip("/") for m in g.mounts if m.claim == claim})
            where = f"{g.path}.template.spec.containers[0].volumeMounts"
            if not paths:
                yield where, f"group {g.name} does not mount the checkpoint claim {claim} (mounted at {path} elsewhere)"
            elif path not in paths:
                yield where, f"group {g.name} mounts the checkpoint claim {claim} at {paths[0]}, the others at {path}"


@_rule("checkpoint-rwx")
def _checkpoint_rwx(doc, cluster, docs):
    for claim in checkpoint_claims(cluster):
        for pvc in docs:
            if pvc.kind == "PersistentVolumeClaim" and pvc.name == claim and pvc.namespace in (None, cluster.namespace):
                modes = tuple((pvc.data.get("spec") or {}).get("accessModes") or ())
                if "ReadWriteMany" not in modes:
                    yield pvc, "spec.accessModes", (f"the checkpoint claim of RayCluster/{cluster.name} is "
                                                    f"{', '.join(modes) or 'without accessModes'}, not ReadWriteMany")
    for g in cluster.groups:
        for m in g.mounts:
            if m.access_modes and m.path.rstrip("/") == CHECKPOINT_MOUNT and "ReadWriteMany" not in m.access_modes:
                yield f"{g.path}.template.spec.volumes", f"the ephemeral checkpoint volume {m.volume} is {', '.join(m.access_modes)}, not ReadWriteMany"


@_rule("head-resources")
def _head(doc, cluster, docs):
    h = cluster.head
    if h.gpus > 0:
        yield f"{h.path}.template.spec.containers[0].resources.limits", f"the head asks for {_fmt(h.gpus)} GPU(s); it runs no training"
    cpus = h.ray_resources.get("CPU")
    if cpus is None or cpus > 0:
        shown = "all its" if cpus is None else _fmt(cpus)
        yield f"{h.path}.rayStartParams", f"the head offers {shown} CPUs to Ray, so training workers can land on it"


@_rule("ray-version")
def _ray_version(doc, cluster, docs):
    if cluster.ray_version is not None and cluster.ray_version != RAY_VERSION:
        yield f"{cluster.prefix}.rayVersion", f"{cluster.ray_version} is not raytrain's Ray {RAY_VERSION}"
    for g in cluster.groups:
        found = image_ray_version(g.image)
        if found is not None and found != RAY_VERSION:
            yield f"{g.path}.template.spec.containers[0].image", f"{g.image} has Ray {found}, raytrain needs {RAY_VERSION}"


@_rule("autoscaling-off")
def _autoscaling(doc, cluster, docs):
    if cluster.autoscaling:
        return
    for g in cluster.workers:
        if 0 <= g.min_replicas < g.max_replicas:
            yield (f"{g.path}", f"group {g.name} has minReplicas {g.min_replicas} < maxReplicas {g.max_replicas} "
                   "but autoscaling is off, so it never leaves replicas")


@_rule("num-gpus-mismatch")
def _num_gpus(doc, cluster, docs):
    for g in cluster.groups:
        raw = g.ray_start_params.get("num-gpus")
        if raw is None:
            continue
        try:
            declared = float(raw)
        except ValueError:
            yield f"{g.path}.rayStartParams.num-gpus", f"{raw!r} is not a number"
            continue
        if declared != g.gpus:
            yield f"{g.path}.rayStartParams.num-gpus", f"num-gpus {raw} but the pod's GPU limit is {_fmt(g.gpus)} in group {g.name}"


@_rule("dev-shm")
def _dev_shm(doc, cluster, docs):
    for g in cluster.groups:
        if not any(m.path.rstrip("/") == "/dev/shm" and m.empty_dir_medium == "Memory" for m in g.mounts):
            yield (f"{g.path}.template.spec.containers[0].volumeMounts",
                   f"group {g.name} has no memory-backed /dev/shm; Ray's object store and NCCL fall back to a small default")


_EXPOSED = ("LoadBalancer", "NodePort")


@_rule("dashboard-exposed")
def _dashboard(doc, cluster, docs):
    if cluster.auth_mode == "token":
        return
    h = cluster.head
    if h.service_type in _EXPOSED:
        yield f"{h.path}.serviceType", f"the head service is a {h.service_type} and the cluster has no token auth"
    spec, _ = cluster_spec(doc.data) or ({}, "")
    svc = ((spec.get("headGroupSpec") or {}).get("headService") or {}).get("spec") or {}
    if svc.get("type") in _EXPOSED:
        yield f"{h.path}.headService.spec.type", f"the head service is a {svc['type']} and the cluster has no token auth"
    for other in docs:
        if other.kind != "Service" or not isinstance(other.data.get("spec"), dict):
            continue
        s = other.data["spec"]
        selector = s.get("selector") or {}
        if s.get("type") in _EXPOSED and selector.get("ray.io/cluster") == cluster.name:
            ports = [p.get("targetPort", p.get("port")) for p in s.get("ports") or [] if isinstance(p, dict)]
            if DASHBOARD_PORT in ports or "dashboard" in ports:
                yield (f"{cluster.prefix}.authOptions",
                       f"Service/{other.name} ({other.source}[{other.index}]) exposes the dashboard as a {s['type']} and the cluster has no token auth")


def known_rule_ids() -> list[str]:
    return list(RULES)


def lint_documents(docs: list[Document], skip: Iterable[str] = ()) -> list[Finding]:
    """Findings of every rule not skipped, over every RayCluster/RayJob/RayService in ``docs``."""
    skipped = set(skip)
    findings: list[Finding] = []
    for doc in docs:
        if doc.error or cluster_spec(doc.data) is None:
            continue
        cluster = read_cluster(doc.data)
        # Claims and Services are looked up among the documents of the same file or kustomize dir.
        siblings = [d for d in docs if d.source == doc.source]
        for rule_id, check in _CHECKS.items():
            if rule_id in skipped:
                continue
            rule = RULES[rule_id]
            for item in check(doc, cluster, siblings):
                at, path, message = item if len(item) == 3 else (doc, *item)
                findings.append(
                    Finding(
                        source=at.source, index=at.index, kind=at.kind, name=at.name,
                        path=path, message=message, rule=rule.id, severity=rule.severity, fix=rule.fix,
                    )
                )
    return findings


def rule_for(finding: Finding) -> Optional[Rule]:
    return RULES.get(finding.rule)
