"""KubeRay's kinds as kr8s classes, and their lifecycles as explicit states.

``cluster_state`` and ``job_state`` are the one place that reads a RayCluster's or RayJob's
status; the waiting loops only act on what they return (tested table-driven).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Optional

from kr8s.asyncio.objects import APIObject


class RayCluster(APIObject):
    """A KubeRay RayCluster (ray.io/v1)."""

    version = "ray.io/v1"
    endpoint = "rayclusters"
    kind = "RayCluster"
    plural = "rayclusters"
    singular = "raycluster"
    namespaced = True


class RayJob(APIObject):
    """A KubeRay RayJob (ray.io/v1)."""

    version = "ray.io/v1"
    endpoint = "rayjobs"
    kind = "RayJob"
    plural = "rayjobs"
    singular = "rayjob"
    namespaced = True


class ClusterState(enum.Enum):
    PROVISIONING = "provisioning"
    READY = "ready"
    FAILED = "failed"


class JobState(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED)


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        str(c.get("type")): c
        for c in ((obj.get("status") or {}).get("conditions") or [])
        if isinstance(c, dict)
    }


def cluster_state(obj: dict[str, Any]) -> tuple[ClusterState, str]:
    """Where a RayCluster stands for the spec it was last given, and why.

    Conditions written for an older generation of the spec say nothing about the new one, so
    until the operator has observed the current generation the cluster is provisioning.
    """
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    if generation is not None and (observed is None or int(observed) < int(generation)):
        return ClusterState.PROVISIONING, "the operator has not picked up this spec yet"
    conds = conditions(obj)
    failure = conds.get("ReplicaFailure")
    if failure and failure.get("status") == "True":
        return ClusterState.FAILED, f"ReplicaFailure: {failure.get('reason', '')}: {failure.get('message', '')}".rstrip(": ")
    head = conds.get("HeadPodReady", {}).get("status") == "True"
    provisioned = conds.get("RayClusterProvisioned", {}).get("status") == "True"
    if head and provisioned:
        return ClusterState.READY, "head ready, all workers provisioned"
    waiting = [name for name, ok in (("HeadPodReady", head), ("RayClusterProvisioned", provisioned)) if not ok]
    return ClusterState.PROVISIONING, "waiting for " + " and ".join(waiting)


TERMINAL_DEPLOYMENT = {"Complete", "Failed", "ValidationFailed"}


def job_state(obj: dict[str, Any]) -> tuple[JobState, str]:
    """Where a RayJob stands, from ``jobDeploymentStatus`` (the operator's view) and ``jobStatus`` (Ray's)."""
    status = obj.get("status") or {}
    deployment = status.get("jobDeploymentStatus") or ""
    ray_status = status.get("jobStatus") or ""
    detail = f"deployment {deployment or 'New'}, job {ray_status or 'PENDING'}"
    if status.get("message"):
        detail += f": {status['message']}"
    if deployment in TERMINAL_DEPLOYMENT:
        if deployment == "Complete" and ray_status == "SUCCEEDED":
            return JobState.SUCCEEDED, detail
        return JobState.FAILED, detail
    if ray_status == "RUNNING" or deployment in ("Running", "Retrying"):
        return JobState.RUNNING, detail
    return JobState.PENDING, detail


@dataclass
class GroupCount:
    name: str
    ready: int
    desired: int


def group_counts(cluster: dict[str, Any], pods: list[dict[str, Any]]) -> tuple[bool, list[GroupCount]]:
    """(head pod ready, ready/desired workers per group) of a RayCluster and its pods."""

    def ready(pod: dict[str, Any]) -> bool:
        conds = (pod.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds if isinstance(c, dict))

    labels = [((p.get("metadata") or {}).get("labels") or {}, ready(p)) for p in pods]
    head_ready = any(lab.get("ray.io/node-type") == "head" and ok for lab, ok in labels)
    counts = []
    for group in (cluster.get("spec") or {}).get("workerGroupSpecs") or []:
        name = str(group.get("groupName"))
        lo, hi = int(group.get("minReplicas", 0) or 0), int(group.get("maxReplicas", 2**31 - 1))
        desired = min(max(int(group.get("replicas", lo) or 0), lo), hi) * int(group.get("numOfHosts", 1) or 1)
        n = sum(1 for lab, ok in labels if ok and lab.get("ray.io/node-type") == "worker" and lab.get("ray.io/group") == name)
        counts.append(GroupCount(name, n, desired))
    return head_ready, counts


def status_line(name: str, state: ClusterState, head_ready: bool, groups: list[GroupCount]) -> str:
    parts = [f"{name}: {state.value}", f"head {'ready' if head_ready else 'not ready'}"]
    parts += [f"{g.name} {g.ready}/{g.desired}" for g in groups]
    return " | ".join(parts)


def events_of(events: list[dict[str, Any]], prefix: str, limit: int = 5) -> list[str]:
    """Warning events of the pods whose names start with ``prefix`` (a cluster's pods), newest last."""
    out = []
    for e in events:
        inv = e.get("involvedObject") or {}
        if inv.get("kind") == "Pod" and str(inv.get("name", "")).startswith(prefix) and e.get("type", "Warning") == "Warning":
            out.append((str(e.get("lastTimestamp") or e.get("eventTime") or ""), f"{inv.get('name')}: {e.get('reason', '')}: {e.get('message', '')}"))
    return [text for _, text in sorted(out)][-limit:]


def name_of(obj: dict[str, Any]) -> Optional[str]:
    return (obj.get("metadata") or {}).get("name")
