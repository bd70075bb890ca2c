"""``raytrain cluster apply/status/delete/scale``: server-side apply of clusters/ manifests,
waiting for the RayCluster's conditions, and rolling back to the last spec that became ready.

The last good spec is kept on the cluster, in the ConfigMap ``<cluster>-raytrain-last-good``
(key ``raycluster.json``: the RayCluster exactly as raytrain applied it), so a rollback works
from any machine.
"""

from __future__ import annotations

import asyncio
import copy
import difflib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import yaml

from raytrain.errors import (
    ClusterNotReady,
    KubeForbidden,
    KubeNotFound,
    ManifestError,
    RaytrainError,
    UserInputError,
)
from raytrain.kube.client import Kube, Target
from raytrain.kube.objects import (
    ClusterState,
    RayCluster,
    cluster_state,
    events_of,
    group_counts,
    status_line,
)

LAST_GOOD_SUFFIX = "-raytrain-last-good"
LAST_GOOD_KEY = "raycluster.json"
# Namespaces, then claims (the checkpoint volume must exist before pods mount it), then
# everything else, then the RayCluster.
ORDER = {"Namespace": 0, "PersistentVolumeClaim": 1, "RayCluster": 3}

Echo = Callable[[str], None]


@dataclass
class Applied:
    """What one apply did, object by object, and how the RayCluster ended."""

    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    cluster: Optional[str] = None
    namespace: Optional[str] = None
    state: Optional[str] = None
    rolled_back: bool = False


def label(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def load_objects(paths: list[str], namespace: Optional[str]) -> list[dict[str, Any]]:
    """The objects under ``paths`` (files, dirs, kustomize dirs), in apply order."""
    from raytrain.manifests.documents import load_paths

    docs = load_paths(paths)
    objects = []
    for d in docs:
        if d.error:
            raise ManifestError(f"{d.source}[{d.index}]: {d.error}", "fix the YAML")
        if d.is_file_spec or not isinstance(d.data, dict) or not d.kind or not d.api_version or not d.name:
            raise ManifestError(
                f"{d.source}[{d.index}]: not a Kubernetes object with apiVersion, kind and metadata.name",
                "cluster apply takes manifests (e.g. clusters/overlays/dev), not job specs",
            )
        if namespace and d.namespace and d.namespace != namespace and d.kind != "Namespace":
            raise ManifestError(
                f"{d.source}[{d.index}]: {d.kind}/{d.name} has metadata.namespace {d.namespace}, but -n {namespace} was given",
                f"drop -n, or set metadata.namespace to {namespace}",
            )
        objects.append(copy.deepcopy(d.data))
    clusters = [o for o in objects if o["kind"] == "RayCluster"]
    if len(clusters) > 1:
        raise ManifestError(f"{', '.join(paths)}: holds {len(clusters)} RayClusters", "apply one cluster at a time")
    return sorted(objects, key=lambda o: ORDER.get(o["kind"], 2))


def projected(live: Any, desired: Any) -> Any:
    """The part of a live object that the desired one speaks about (what apply would change)."""
    if isinstance(desired, dict) and isinstance(live, dict):
        return {k: projected(live[k], v) for k, v in desired.items() if k in live}
    if isinstance(desired, list) and isinstance(live, list) and len(desired) == len(live):
        return [projected(a, b) for a, b in zip(live, desired)]
    return live


def diff(live: Optional[dict[str, Any]], desired: dict[str, Any]) -> str:
    """A unified diff of the managed fields: live (projected on the manifest) against the manifest."""
    before = "" if live is None else yaml.safe_dump(projected(live, desired), sort_keys=True)
    after = yaml.safe_dump(desired, sort_keys=True)
    name = label(desired)
    lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True), f"live {name}", f"manifest {name}")
    return "".join(lines)


class Clusters:
    """The cluster commands on one connection."""

    def __init__(self, kube: Kube, echo: Echo = print, poll_s: float = 2.0):
        self.kube = kube
        self.echo = echo
        self.poll_s = poll_s

    async def _place(self, obj: dict[str, Any]) -> tuple[str, bool]:
        plural, namespaced = await self.kube.resource_for(obj["apiVersion"], obj["kind"])
        if namespaced:
            obj["metadata"].setdefault("namespace", self.kube.namespace)
        else:
            obj["metadata"].pop("namespace", None)
        return plural, namespaced

    async def _live(self, obj: dict[str, Any], plural: str, namespaced: bool) -> Optional[dict[str, Any]]:
        meta = obj["metadata"]
        return await self.kube.get(obj["apiVersion"], plural, meta["name"], meta.get("namespace") if namespaced else None)

    # ---- apply ----

    async def _validate_served(self, placed) -> None:
        """Validate KubeRay objects against the CRD the cluster serves, before changing anything;
        a schema that differs from the one raytrain ships (KubeRay version skew) is a warning."""
        from raytrain.manifests.crds import shipped_schema
        from raytrain.manifests.schema import validate_against_schema

        served: dict[str, Optional[dict]] = {}
        for obj, plural, _ in placed:
            if not str(obj.get("apiVersion", "")).startswith("ray.io/"):
                continue
            kind = obj["kind"]
            if kind not in served:
                try:
                    crd = await self.kube.get("apiextensions.k8s.io/v1", "customresourcedefinitions",
                                              f"{plural}.ray.io", None)
                except KubeForbidden:
                    crd = None
                    self.echo(f"note: no right to read the {kind} CRD; validated against raytrain's bundled schema only")
                schema = None
                for version in (crd or {}).get("spec", {}).get("versions", []):
                    if version.get("name") == "v1":
                        schema = (version.get("schema") or {}).get("openAPIV3Schema")
                served[kind] = schema
                if schema is not None and schema != shipped_schema(kind):
                    self.echo(f"warning: the cluster serves a {kind} schema that differs from the one raytrain "
                              "ships (KubeRay version skew); validating against the cluster's")
            schema = served[kind]
            if schema is None:
                continue
            problems = validate_against_schema(obj, schema)
            if problems:
                where, what = problems[0]
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise UserInputError(
                    f"{label(obj)}: {where}: {what}{more}, by the CRD the cluster serves; nothing was applied",
                    "fix the manifest (`raytrain validate` shows every problem against the bundled schema)",
                )

    async def apply(
        self,
        paths: list[str],
        *,
        dry_run: bool = False,
        wait: bool = True,
        timeout_s: float = 600.0,
        rollback: bool = True,
    ) -> Applied:
        objects = load_objects(paths, self.kube.target.namespace)
        placed = []
        # Discover every kind before changing anything: an unserved kind fails the whole apply.
        for obj in objects:
            placed.append((obj, *await self._place(obj)))
        await self._validate_served(placed)
        result = Applied()
        pending = [label(o) for o in objects]
        for obj, plural, namespaced in placed:
            try:
                live = await self._live(obj, plural, namespaced)
            except KubeForbidden:
                if obj["kind"] != "Namespace":
                    raise
                self.echo(f"skipped {label(obj)}: no right to read namespaces (it must exist already)")
                pending.remove(label(obj))
                continue
            change = diff(live, obj)
            if dry_run:
                self.echo(change or f"{label(obj)}: unchanged")
                pending.remove(label(obj))
                continue
            if not change:
                result.unchanged.append(label(obj))
                pending.remove(label(obj))
                continue
            try:
                await self.kube.apply(obj, plural, namespaced)
            except RaytrainError as exc:
                raise type(exc)(
                    f"{exc.message}; applied before it: {', '.join(result.changed) or 'nothing'}; "
                    f"not applied: {', '.join(pending)}",
                    exc.hint,
                ) from exc
            result.changed.append(label(obj))
            pending.remove(label(obj))
            self.echo(f"{label(obj)} {'created' if live is None else 'configured'}")
        for name in result.unchanged:
            self.echo(f"{name} unchanged")
        cluster = next((o for o, _, _ in placed if o["kind"] == "RayCluster"), None)
        if dry_run or cluster is None:
            return result
        result.cluster, result.namespace = cluster["metadata"]["name"], cluster["metadata"]["namespace"]
        if not wait:
            return result
        state, why = await self.wait_ready(result.cluster, result.namespace, timeout_s)
        result.state = state.value
        if state is ClusterState.READY:
            await self._save_last_good(cluster)
            return result
        await self._fail(cluster, why, timeout_s, rollback)
        return result  # not reached: _fail raises

    async def _fail(self, cluster: dict[str, Any], why: str, timeout_s: float, rollback: bool) -> None:
        name, ns = cluster["metadata"]["name"], cluster["metadata"]["namespace"]
        events = await self._pod_events(name, ns)
        report = f"RayCluster {name} in {ns} did not become ready: {why}"
        if events:
            report += "; pod events: " + " / ".join(events)
        if not rollback:
            raise ClusterNotReady(report, "the new spec is kept (--no-rollback); fix it and apply again, or "
                                          "inspect with `raytrain cluster status " + name + f" -n {ns}`")
        good = await self._last_good(name, ns)
        if good is None:
            raise ClusterNotReady(report + "; no earlier ready spec is recorded, so nothing was rolled back",
                                  "fix the spec and apply again, or delete the cluster with `raytrain cluster delete`")
        if json.dumps(good, sort_keys=True) == json.dumps(cluster, sort_keys=True):
            raise ClusterNotReady(report + "; the last ready spec is this one, so nothing was rolled back",
                                  "check the pods and nodes (`kubectl get pods -n " + ns + "`)")
        self.echo(f"rolling back RayCluster {name} to the last spec that became ready")
        plural, namespaced = await self.kube.resource_for(good["apiVersion"], good["kind"])
        await self.kube.apply(good, plural, namespaced)
        state, after = await self.wait_ready(name, ns, timeout_s)
        outcome = "the rollback is ready" if state is ClusterState.READY else f"the rollback is not ready either ({after})"
        raise ClusterNotReady(report + f"; rolled back to the last ready spec: {outcome}",
                              "fix the new spec (see the events above) and apply again")

    async def _pod_events(self, name: str, ns: str) -> list[str]:
        try:
            return events_of(await self.kube.list("v1", "events", ns), f"{name}-")
        except RaytrainError:
            return []  # events are a courtesy: no right to list them is no reason to fail here

    async def _last_good(self, name: str, ns: str) -> Optional[dict[str, Any]]:
        cm = await self.kube.get("v1", "configmaps", name + LAST_GOOD_SUFFIX, ns)
        if not cm or LAST_GOOD_KEY not in (cm.get("data") or {}):
            return None
        return json.loads(cm["data"][LAST_GOOD_KEY])

    async def _save_last_good(self, cluster: dict[str, Any]) -> None:
        name, ns = cluster["metadata"]["name"], cluster["metadata"]["namespace"]
        cm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name + LAST_GOOD_SUFFIX, "namespace": ns,
                         "labels": {"app.kubernetes.io/managed-by": "raytrain", "ray.io/cluster": name}},
            "data": {LAST_GOOD_KEY: json.dumps(cluster, sort_keys=True)},
        }
        await self.kube.apply(cm, "configmaps", True)

    async def wait_ready(self, name: str, ns: str, timeout_s: float) -> tuple[ClusterState, str]:
        """Poll the RayCluster until ready or failed, echoing a status line when it changes."""
        deadline = time.monotonic() + timeout_s
        shown = None
        while True:
            obj = await self.kube.get(RayCluster.version, RayCluster.endpoint, name, ns, missing_ok=False)
            state, why = cluster_state(obj)
            line = await self._line(obj, state)
            if line != shown:
                self.echo(line)
                shown = line
            if state is not ClusterState.PROVISIONING:
                return state, why
            if time.monotonic() >= deadline:
                return ClusterState.PROVISIONING, f"not ready after {timeout_s:g} s ({why})"
            await asyncio.sleep(self.poll_s)

    async def _line(self, obj: dict[str, Any], state: ClusterState) -> str:
        name, ns = obj["metadata"]["name"], obj["metadata"]["namespace"]
        try:
            pods = await self.kube.list("v1", "pods", ns, selector=f"ray.io/cluster={name}")
        except RaytrainError:
            pods = []
        head, groups = group_counts(obj, pods)
        if not pods:  # no right to list pods, or none yet: fall back on the conditions
            head = (obj.get("status") or {}).get("conditions") is not None and any(
                c.get("type") == "HeadPodReady" and c.get("status") == "True" for c in obj["status"]["conditions"])
        return status_line(name, state, head, groups)

    # ---- status, delete, scale ----

    async def get_cluster(self, name: str) -> dict[str, Any]:
        await self.kube.require_kuberay()
        obj = await self.kube.get(RayCluster.version, RayCluster.endpoint, name, self.kube.namespace)
        if obj is None:
            raise KubeNotFound(f"RayCluster {name} not found in namespace {self.kube.namespace}",
                               "check the name and -n; `kubectl get rayclusters -A` lists them")
        return obj

    async def status(self, name: str) -> dict[str, Any]:
        obj = await self.get_cluster(name)
        state, why = cluster_state(obj)
        st = obj.get("status") or {}
        return {
            "name": name,
            "namespace": self.kube.namespace,
            "state": state.value,
            "detail": why,
            "line": await self._line(obj, state),
            "dashboard": (st.get("head") or {}).get("serviceName"),
            "conditions": {c.get("type"): c.get("status") for c in st.get("conditions") or []},
            "last_good_recorded": await self._last_good(name, self.kube.namespace) is not None,
        }

    async def delete(self, name: str, delete_volume: bool = False) -> list[str]:
        obj = await self.get_cluster(name)
        ns = self.kube.namespace
        claims = sorted({
            v["persistentVolumeClaim"]["claimName"]
            for g in [(obj["spec"].get("headGroupSpec") or {}), *(obj["spec"].get("workerGroupSpecs") or [])]
            for v in ((g.get("template") or {}).get("spec") or {}).get("volumes") or []
            if isinstance(v, dict) and v.get("persistentVolumeClaim")
        })
        done = []
        if await self.kube.delete(RayCluster.version, RayCluster.endpoint, name, ns):
            done.append(f"RayCluster/{name} deleted")
        if await self.kube.delete("v1", "configmaps", name + LAST_GOOD_SUFFIX, ns):
            done.append(f"ConfigMap/{name}{LAST_GOOD_SUFFIX} deleted")
        for claim in claims:
            if delete_volume:
                if await self.kube.delete("v1", "persistentvolumeclaims", claim, ns):
                    done.append(f"PersistentVolumeClaim/{claim} deleted (checkpoints are gone)")
            else:
                done.append(f"PersistentVolumeClaim/{claim} kept (its checkpoints stay; --delete-volume removes it)")
        return done

    async def scale(self, name: str, group: str, min_replicas: Optional[int], max_replicas: Optional[int]) -> dict[str, Any]:
        if min_replicas is None and max_replicas is None:
            raise ManifestError("cluster scale: nothing to change", "give --min N and/or --max M")
        obj = await self.get_cluster(name)
        groups = obj["spec"].get("workerGroupSpecs") or []
        names = [str(g.get("groupName")) for g in groups]
        if group not in names:
            raise ManifestError(f"RayCluster {name} has no worker group {group!r}", f"use one of: {', '.join(names) or '(none)'}")
        lo = min_replicas if min_replicas is not None else int(groups[names.index(group)].get("minReplicas", 0) or 0)
        hi = max_replicas if max_replicas is not None else int(groups[names.index(group)].get("maxReplicas", lo))
        if lo < 0 or hi < lo:
            raise ManifestError(f"--min {lo} --max {hi}: need 0 <= min <= max", "give a min no larger than the max")
        new_groups = copy.deepcopy(groups)
        g = new_groups[names.index(group)]
        g["minReplicas"], g["maxReplicas"] = lo, hi
        if g.get("replicas") is not None:
            g["replicas"] = min(max(int(g["replicas"]), lo), hi)
        # A merge patch replaces lists whole, so the patch carries every group, changed or not.
        await self.kube.merge_patch(RayCluster.version, RayCluster.endpoint, name, self.kube.namespace,
                                    {"spec": {"workerGroupSpecs": new_groups}})
        return {"group": group, "minReplicas": lo, "maxReplicas": hi, "replicas": g.get("replicas")}


def run(target: Target, work: Callable[[Clusters], Any], echo: Echo = print, poll_s: float = 2.0) -> Any:
    """Connect, run one cluster command, close: the synchronous entry point of the CLI."""

    async def main():
        kube = await Kube.connect(target)
        try:
            return await work(Clusters(kube, echo=echo, poll_s=poll_s))
        finally:
            await kube.close()

    return asyncio.run(main())
