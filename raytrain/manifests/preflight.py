"""``raytrain check``: does this job fit this cluster? Each check is PASS, WARN or FAIL with the fix."""

from __future__ import annotations

import fnmatch
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Literal, Optional

from raytrain.manifests.cluster import RAY_VERSION, Cluster, Group, claim_access_modes, image_ray_version, load_cluster
from raytrain.manifests.documents import Document
from raytrain.manifests.lint import checkpoint_claims
from raytrain.manifests.quantity import format_bytes
from raytrain.manifests.render import DEFAULT_EXCLUDES, _URI, storage_path_for

Status = Literal["PASS", "WARN", "FAIL"]
UPLOAD_LIMIT_BYTES = 100 * 2**20  # Ray's limit on a working_dir package


@dataclass(frozen=True)
class Check:
    id: str
    status: Status
    message: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def worker_resources(spec) -> dict[str, float]:
    """What one Ray Train worker asks for (Ray Train's defaults: 1 CPU, plus 1 GPU with use_gpu)."""
    scaling = spec.scaling
    need = dict(scaling.resources_per_worker) if scaling.resources_per_worker else {"CPU": 1.0}
    if scaling.use_gpu and "GPU" not in need:
        need["GPU"] = 1.0
    return {k: float(v) for k, v in need.items() if v > 0}


def workers_per_pod(group: Group, need: dict[str, float]) -> int:
    fit = math.inf
    for key, amount in need.items():
        fit = min(fit, math.floor(group.ray_resources.get(key, 0.0) / amount + 1e-9))
    return 0 if fit is math.inf else int(fit)


def capacity(cluster: Cluster, need: dict[str, float], strategy: str) -> tuple[int, list[tuple[Group, int]]]:
    """How many workers the cluster can hold at its largest, and the groups that can host one."""
    hosts = [(g, workers_per_pod(g, need)) for g in cluster.groups]
    hosts = [(g, n) for g, n in hosts if n > 0 and g.max_pods > 0]
    if strategy == "STRICT_PACK":
        return max((n for _, n in hosts), default=0), hosts
    if strategy == "STRICT_SPREAD":
        return sum(g.max_pods for g, _ in hosts), hosts
    return sum(g.max_pods * n for g, n in hosts), hosts


def _fmt_need(need: dict[str, float]) -> str:
    return ", ".join(f"{k}: {format_bytes(v) if k == 'memory' else (int(v) if v.is_integer() else v)}" for k, v in need.items())


def check_fit(spec, cluster: Cluster) -> list[Check]:
    need = worker_resources(spec)
    lo, hi = spec.scaling.min_workers, spec.scaling.max_workers
    cap, hosts = capacity(cluster, need, spec.scaling.placement_strategy)
    out: list[Check] = []
    if need.get("GPU"):
        gpu_groups = [g.name for g in cluster.groups if g.ray_resources.get("GPU", 0) > 0]
        if not gpu_groups:
            out.append(Check("gpu", "FAIL", "the workers need GPUs and no group of the cluster has any",
                             "add a GPU worker group (e.g. gpu-1x of clusters/base) or set scaling.use_gpu: false"))
        else:
            out.append(Check("gpu", "PASS", f"GPU groups: {', '.join(gpu_groups)}"))
    where = ", ".join(f"{g.name} ({n}/pod × {g.max_pods})" for g, n in hosts) or "no group"
    what = f"{hi} worker(s) of {{{_fmt_need(need)}}}" if lo == hi else f"{lo}–{hi} workers of {{{_fmt_need(need)}}}"
    if cap >= hi:
        out.append(Check("fit", "PASS", f"{what} fit: room for {cap} in {where}"))
    elif cap >= lo:
        out.append(Check("fit", "WARN", f"{what}: only {cap} can run at once ({where}); the run stays at {cap}",
                         "raise maxReplicas of a group that fits a worker, or lower scaling.workers"))
    else:
        reason = f"the cluster holds at most {cap} ({where})"
        fix = ("raise maxReplicas of a group that fits a worker, add a bigger group, or lower "
               "scaling.workers / scaling.resources_per_worker")
        if not hosts:
            reason = "no group offers a pod that holds one worker"
        out.append(Check("fit", "FAIL", f"{what} cannot be placed: {reason}", fix))
    return out


def check_storage(spec, cluster: Cluster, docs: list[Document]) -> list[Check]:
    claims = checkpoint_claims(cluster)
    path = storage_path_for(spec, next(iter(claims.values()), None))
    if _URI.match(path):
        return [Check("storage", "PASS", f"checkpoints go to {path}; no volume needed")]
    need = worker_resources(spec)
    groups = [g for g in cluster.groups if g.is_head or workers_per_pod(g, need) > 0] or cluster.groups
    missing, used = [], set()
    for g in groups:
        mount = g.mount_at(path)
        if mount is None or not mount.claim:
            missing.append(g.name)
        else:
            used.add(mount.claim)
    out: list[Check] = []
    if missing:
        out.append(Check("storage", "FAIL", f"{path} is not on a shared volume in: {', '.join(missing)}",
                         f"mount the checkpoint claim at {path} in those groups (or set checkpoint.storage_path "
                         "to a path under the claim's mount)"))
    else:
        out.append(Check("storage", "PASS", f"{path} is on claim {', '.join(sorted(used))} in every group that hosts workers and the head"))
    for claim in sorted(used):
        modes = claim_access_modes(docs, claim, cluster.namespace)
        if modes is None:
            out.append(Check("claim-rwx", "WARN", f"claim {claim} is not among the cluster's manifests; its access mode is unknown",
                             "make sure the claim is ReadWriteMany (kubectl get pvc)"))
        elif "ReadWriteMany" in modes:
            out.append(Check("claim-rwx", "PASS", f"claim {claim} is ReadWriteMany"))
        else:
            out.append(Check("claim-rwx", "FAIL", f"claim {claim} is {', '.join(modes) or 'without access modes'}: pods on different nodes cannot share it",
                             "set accessModes: [ReadWriteMany] and a storage class that offers it"))
    return out


def _ignored(rel: str, patterns: Iterable[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    for p in patterns:
        p = p.strip().rstrip("/").lstrip("/")
        if not p or p.startswith("#") or p.startswith("!"):
            continue
        if fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) or rel.startswith(p + "/"):
            return True
    return False


def working_dir_size(root: Path, excludes: Iterable[str]) -> tuple[int, list[tuple[str, int]], dict[str, int]]:
    """Bytes Ray would upload, the biggest files, and sizes per top-level entry."""
    patterns = list(excludes)
    gitignore = root / ".gitignore"
    if gitignore.is_file():
        patterns += gitignore.read_text(errors="replace").splitlines()
    total, files, top = 0, [], {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        dirnames[:] = [d for d in dirnames if not _ignored(f"{rel_dir}/{d}".lstrip("/"), patterns)]
        for f in filenames:
            rel = f"{rel_dir}/{f}".lstrip("/")
            if _ignored(rel, patterns):
                continue
            try:
                size = (Path(dirpath) / f).lstat().st_size
            except OSError:
                continue
            total += size
            files.append((rel, size))
            first = rel.split("/", 1)[0]
            top[first] = top.get(first, 0) + size
    files.sort(key=lambda x: -x[1])
    return total, files[:5], top


def check_upload(spec, working_dir: Path) -> Check:
    excludes = [*DEFAULT_EXCLUDES, *spec.runtime_env.working_dir_excludes]
    total, biggest, top = working_dir_size(working_dir, excludes)
    shown = format_bytes(total)
    if total <= UPLOAD_LIMIT_BYTES * 0.8:
        return Check("upload", "PASS", f"working_dir {working_dir} is {shown} (limit {format_bytes(UPLOAD_LIMIT_BYTES)})")
    big_top = sorted(top.items(), key=lambda x: -x[1])[:3]
    names = ", ".join(f"{n} ({format_bytes(s)})" for n, s in biggest[:3])
    fix = "add to runtime_env.working_dir_excludes: " + ", ".join(
        f"{n}/" if (working_dir / n).is_dir() else n for n, _ in big_top
    )
    status: Status = "FAIL" if total > UPLOAD_LIMIT_BYTES else "WARN"
    return Check("upload", status, f"working_dir {working_dir} is {shown} (Ray's limit {format_bytes(UPLOAD_LIMIT_BYTES)}); biggest: {names}", fix)


def check_ray_version(cluster: Cluster) -> Check:
    found = {g.name: image_ray_version(g.image) for g in cluster.groups}
    wrong = {n: v for n, v in found.items() if v is not None and v != RAY_VERSION}
    fix = f"use images with Ray {RAY_VERSION} (rayproject/ray:{RAY_VERSION}-py311 or clusters/image/Dockerfile)"
    if wrong or (cluster.ray_version and cluster.ray_version != RAY_VERSION):
        detail = ", ".join(f"{n}: {v}" for n, v in wrong.items()) or f"rayVersion {cluster.ray_version}"
        return Check("ray-version", "FAIL", f"raytrain needs Ray {RAY_VERSION}; the cluster has {detail}", fix)
    unknown = [n for n, v in found.items() if v is None]
    if unknown and cluster.ray_version != RAY_VERSION:
        return Check("ray-version", "WARN", f"cannot tell the Ray version of the images of: {', '.join(unknown)}",
                     f"tag images with their Ray version (…-ray{RAY_VERSION}-py311) or set rayVersion: \"{RAY_VERSION}\"")
    return Check("ray-version", "PASS", f"Ray {RAY_VERSION}")


def check_autoscaling(spec, cluster: Cluster) -> Check:
    ranged = [g.name for g in cluster.workers if g.min_replicas < g.max_replicas]
    if ranged and not cluster.autoscaling:
        return Check("autoscaling", "WARN", f"autoscaling is off: groups {', '.join(ranged)} stay at their replicas",
                     "set spec.enableInTreeAutoscaling: true")
    return Check("autoscaling", "PASS", "on" if cluster.autoscaling else "off (fixed group sizes)")


def preflight_live(spec, cluster_obj: dict) -> list[Check]:
    """The checks that a live RayCluster object answers: fit, Ray version, autoscaling."""
    from raytrain.manifests.cluster import read_cluster

    cluster = read_cluster(cluster_obj)
    return [*check_fit(spec, cluster), check_ray_version(cluster), check_autoscaling(spec, cluster)]


def preflight(spec, cluster_path: str | Path, *, working_dir: Optional[str | Path] = None) -> list[Check]:
    """Every check of ``spec`` against the cluster under ``cluster_path``."""
    cluster, docs = load_cluster(cluster_path)
    checks = check_fit(spec, cluster)
    checks += check_storage(spec, cluster, docs)
    checks.append(check_upload(spec, Path(working_dir) if working_dir is not None else Path(".")))
    checks.append(check_ray_version(cluster))
    checks.append(check_autoscaling(spec, cluster))
    return checks
