"""A Kubernetes API for the tests: kmock's KubernetesEmulator over real HTTP, in a thread of its
own, with the quirks of KUBE-TESTING.md worked round, and a scripted stand-in for the KubeRay
operator that writes RayCluster and RayJob status the way the operator does.

What the emulator is taught here (and nothing else):
- ``/version/`` (kr8s asks with a trailing slash);
- ``/api/v1/namespaces[/NAME]`` is served from a dict, before kmock's path parser (which fails on it);
- a server-side apply (PATCH, ``application/apply-patch+yaml``) of a missing object creates it;
- ``metadata.generation`` starts at 1 and grows when ``spec`` changes, as on a real API server;
- ``forbid``: (method, plural) pairs answered with a 403 Status like the API server's.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import aiohttp.web
import httpx
import kmock
import yaml

from raytrain.kube.client import Target

NAMESPACE_PATH = re.compile(r"^/api/v1/namespaces(?:/([^/]+))?/?$")

RESOURCES = {
    "ray.io/v1/rayclusters": ("RayCluster", True),
    "ray.io/v1/rayjobs": ("RayJob", True),
    "v1/configmaps": ("ConfigMap", True),
    "v1/persistentvolumeclaims": ("PersistentVolumeClaim", True),
    "v1/pods": ("Pod", True),
    "v1/events": ("Event", True),
    "v1/secrets": ("Secret", True),
    "v1/services": ("Service", True),
    "v1/resourcequotas": ("ResourceQuota", True),
    "v1/limitranges": ("LimitRange", True),
    "v1/namespaces": ("Namespace", False),
    "networking.k8s.io/v1/networkpolicies": ("NetworkPolicy", True),
    "monitoring.coreos.com/v1/podmonitors": ("PodMonitor", True),
    "apiextensions.k8s.io/v1/customresourcedefinitions": ("CustomResourceDefinition", False),
}


class Emulator(kmock.KubernetesEmulator):
    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.forbid: set[tuple[str, str]] = set()
        self.log: list[tuple[str, str, Optional[str]]] = []  # (method, path, content type)
        self["get /version/"] << self._serve_server_version

    async def _serve_server_version(self, request):
        return {"major": "1", "minor": "32", "gitVersion": "v1.32.2", "platform": "linux/amd64"}

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        self.log.append((raw.method, raw.path, raw.headers.get("Content-Type")))
        m = NAMESPACE_PATH.match(raw.path)
        if m:
            return await self._namespaces(raw, m.group(1))
        return await super().__call__(raw)

    async def _namespaces(self, raw: aiohttp.web.BaseRequest, name: Optional[str]) -> aiohttp.web.StreamResponse:
        if ("PATCH" if raw.method == "PATCH" else raw.method, "namespaces") in self.forbid:
            return forbidden(raw.method, "namespaces", name)
        if name is None:
            return aiohttp.web.json_response({"kind": "NamespaceList", "items": list(self.namespaces.values())})
        if raw.method == "GET":
            if name not in self.namespaces:
                return status(404, "NotFound", f'namespaces "{name}" not found')
            return aiohttp.web.json_response(self.namespaces[name])
        if raw.method == "PATCH":
            body = await raw.json()
            merged = copy.deepcopy(self.namespaces.get(name, {}))
            merged.update(body)
            self.namespaces[name] = merged
            return aiohttp.web.json_response(merged)
        if raw.method == "DELETE":
            return aiohttp.web.json_response(self.namespaces.pop(name, {}))
        return status(405, "MethodNotAllowed", raw.method)

    async def _handle(self, request):
        plural = request.resource.plural if request.resource is not None else None
        if plural and (request.method.upper(), plural) in self.forbid:
            raise kmock.KubernetesError(status=403, reason="Forbidden", message=forbidden_message(request.method, plural, request.name, request.namespace))
        key = None
        if request.resource is not None and request.name and not request.subresource:
            key = (request.resource, request.namespace, request.name)
        old_spec = None
        if key is not None and request.method.upper() == "PATCH":
            async with self._lock:
                exists = key in self.objects and not self.objects[key].deleted
                if exists:
                    old_spec = copy.deepcopy(self.objects[key].get("spec"))
                elif "apply-patch" in (request.headers.get("Content-Type") or ""):
                    data = copy.deepcopy(request.data)
                    data.setdefault("metadata", {})["generation"] = 1
                    data["metadata"].setdefault("namespace", request.namespace)
                    if key in self.objects:
                        self.objects[key].create(data)
                    else:
                        self.objects[key] = data
                    old_spec = copy.deepcopy(data.get("spec"))
        response = await super()._handle(request)
        if key is not None and request.method.upper() == "PATCH":
            async with self._lock:
                obj = self.objects[key]
                if obj.get("spec") != old_spec:
                    obj.patch({"metadata": {"generation": int(obj["metadata"].get("generation", 1)) + 1}})
        return response

    @property
    def requests(self) -> list[Any]:
        """Every request served so far, parsed by kmock (method, url, params, headers, data)."""
        return list(self._requests)

    def get(self, plural: str, namespace: Optional[str], name: str) -> Optional[dict[str, Any]]:
        for (res, ns, nm), obj in list(self.objects.items()):
            if res.plural == plural and ns == namespace and nm == name and not obj.deleted:
                return copy.deepcopy(obj.raw)
        return None

    def put(self, resource: str, namespace: Optional[str], obj: dict[str, Any]) -> None:
        """Store an object directly (setup only, before the code under test runs)."""
        self.objects[resource, namespace, obj["metadata"]["name"]] = obj


def status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    return aiohttp.web.json_response(
        {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message, "code": code},
        status=code)


def forbidden_message(method: str, plural: str, name: Optional[str], namespace: Optional[str]) -> str:
    verb = {"GET": "get" if name else "list", "POST": "create", "PATCH": "patch", "DELETE": "delete"}[method.upper()]
    return f'{plural} is forbidden: User "alice" cannot {verb} resource "{plural}" in the namespace "{namespace}"'


def forbidden(method: str, plural: str, name: Optional[str]) -> aiohttp.web.Response:
    return status(403, "Forbidden", forbidden_message(method, plural, name, None))


class ApiServer:
    """The emulator and its HTTP server on a free port, running in a background thread."""

    def __init__(self, tmp: Path, kuberay: bool = True):
        self.loop = asyncio.new_event_loop()
        self.emulator: Emulator | None = None
        self.url: str = ""
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(kuberay,), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the emulator did not start in 10 s"
        self.kubeconfig = write_kubeconfig(tmp / "kubeconfig", self.url)

    def _run(self, kuberay: bool) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve(kuberay))

    async def _serve(self, kuberay: bool) -> None:
        self._stop = asyncio.Event()
        async with Emulator() as emulator, kmock.Server(emulator) as server:
            for key, (kind, namespaced) in RESOURCES.items():
                if key.startswith("ray.io/") and not kuberay:
                    continue
                emulator.resources[key] = kmock.ResourceInfo(
                    kind=kind, namespaced=namespaced, verbs={"get", "list", "create", "patch", "delete", "watch"},
                    subresources={"status"} if key.startswith("ray.io/") else set())
            self.emulator = emulator
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def target(self, namespace: Optional[str] = "team", **kw: Any) -> Target:
        return Target(kubeconfig=str(self.kubeconfig), namespace=namespace, retries=kw.pop("retries", 1), backoff_s=0.01, **kw)

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def write_kubeconfig(path: Path, url: str, context: str = "emulator") -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": url}}],
        "users": [{"name": "alice", "user": {"token": "t0ken"}}],
        "contexts": [{"name": context, "context": {"cluster": "emulator", "user": "alice", "namespace": "team"}}],
        "current-context": context,
    }))
    return path


Decide = Callable[[dict[str, Any]], str]


class Operator:
    """Plays KubeRay for RayClusters: for every new generation it marks the cluster provisioning,
    then, after ``delay_s``, does what ``decide(cluster)`` says: "ready" (head pod and workers
    up, conditions True), "fail" (ReplicaFailure and a Warning event of a worker pod) or "stuck"
    (nothing more)."""

    def __init__(self, server: ApiServer, decide: Decide = lambda c: "ready", delay_s: float = 0.05):
        self.base = server.url
        self.decide = decide
        self.delay_s = delay_s
        self.seen: dict[tuple[str, str], int] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "Operator":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)
        assert not self.errors, f"the stand-in operator failed: {self.errors}"

    def _loop(self) -> None:
        with httpx.Client(base_url=self.base, timeout=5) as http:
            while not self._stop.is_set():
                try:
                    for rc in http.get("/apis/ray.io/v1/rayclusters").json().get("items", []):
                        self._reconcile(http, rc)
                except Exception as exc:  # noqa: BLE001 - reported at __exit__
                    self.errors.append(repr(exc))
                    return
                self._stop.wait(0.01)

    def _reconcile(self, http: httpx.Client, rc: dict[str, Any]) -> None:
        meta = rc["metadata"]
        key = (meta["namespace"], meta["name"])
        generation = int(meta.get("generation", 1))
        if self.seen.get(key) == generation:
            return
        self.seen[key] = generation
        path = f"/apis/ray.io/v1/namespaces/{key[0]}/rayclusters/{key[1]}/status"
        merge = {"Content-Type": "application/merge-patch+json"}
        conds = [cond("HeadPodReady", "False", "HeadPodNotFound"), cond("RayClusterProvisioned", "False", "RayClusterPodsProvisioning")]
        http.patch(path, content=json.dumps({"status": {"observedGeneration": generation, "conditions": conds, "state": ""}}), headers=merge)
        time.sleep(self.delay_s)
        outcome = self.decide(rc)
        if outcome == "ready":
            self._pods(http, rc, ready=True)
            conds = [cond("HeadPodReady", "True", "HeadPodRunningAndReady"), cond("RayClusterProvisioned", "True", "AllPodRunningAndReadyFirstTime")]
            http.patch(path, content=json.dumps({"status": {"conditions": conds, "state": "ready"}}), headers=merge)
        elif outcome == "fail":
            worker = f"{key[1]}-{rc['spec']['workerGroupSpecs'][0]['groupName']}-worker-x7k2p"
            http.post(f"/api/v1/namespaces/{key[0]}/events", content=json.dumps({
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{worker}.1", "namespace": key[0]},
                "involvedObject": {"kind": "Pod", "name": worker, "namespace": key[0]},
                "type": "Warning", "reason": "Failed", "message": "Failed to pull image \"rayproject/ray:nope\"",
                "lastTimestamp": "2026-01-01T00:00:00Z"}))
            conds = [cond("HeadPodReady", "True", "HeadPodRunningAndReady"),
                     cond("ReplicaFailure", "True", "FailedCreateWorkerPod", "worker pods failed to start")]
            http.patch(path, content=json.dumps({"status": {"conditions": conds}}), headers=merge)

    def _pods(self, http: httpx.Client, rc: dict[str, Any], ready: bool) -> None:
        ns, name = rc["metadata"]["namespace"], rc["metadata"]["name"]
        pods = [(f"{name}-head", {"ray.io/node-type": "head"})]
        for g in rc["spec"].get("workerGroupSpecs") or []:
            lo = int(g.get("minReplicas", 0) or 0)
            for i in range(max(int(g.get("replicas", lo) or 0), lo)):
                pods.append((f"{name}-{g['groupName']}-worker-{i}", {"ray.io/node-type": "worker", "ray.io/group": g["groupName"]}))
        for pod_name, labels in pods:
            body = {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": pod_name, "namespace": ns, "labels": {"ray.io/cluster": name, **labels}},
                    "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}
            if http.get(f"/api/v1/namespaces/{ns}/pods/{pod_name}").status_code == 404:
                http.post(f"/api/v1/namespaces/{ns}/pods", content=json.dumps(body))


def cond(type_: str, status_: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status_, "reason": reason, "message": message, "lastTransitionTime": "2026-01-01T00:00:00Z"}
