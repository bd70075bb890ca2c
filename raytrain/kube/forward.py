"""Reaching a RayCluster's Jobs API from outside Kubernetes: a port-forward to the head pod's
dashboard port (8265) and the Ray auth token from the cluster's Secret.

KubeRay's token mode (``spec.authOptions.mode: token``) keeps the token under the key
``auth_token`` of a Secret named after the RayCluster, unless ``authOptions.secretName`` names
another (KubeRay's ``configureTokenAuth``; its kubectl plugin reads the same Secret).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

from raytrain.errors import KubeError, KubeNotFound
from raytrain.kube.client import Kube, Target
from raytrain.kube.objects import RayCluster

DASHBOARD_PORT = 8265
TOKEN_KEY = "auth_token"


def token_secret_name(cluster: dict[str, Any]) -> Optional[str]:
    """The Secret holding the cluster's Ray auth token; None when token auth is off."""
    auth = (cluster.get("spec") or {}).get("authOptions") or {}
    if auth.get("mode") != "token":
        return None
    return auth.get("secretName") or cluster["metadata"]["name"]


async def read_token(kube: Kube, cluster: dict[str, Any]) -> Optional[str]:
    """The Ray auth token of a RayCluster (None when the cluster does not use token auth)."""
    secret_name = token_secret_name(cluster)
    if secret_name is None:
        return None
    ns = cluster["metadata"].get("namespace") or kube.namespace
    secret = await kube.get("v1", "secrets", secret_name, ns)
    if secret is None:
        raise KubeError(
            f"RayCluster {cluster['metadata']['name']} uses token auth but its Secret {secret_name} is not in {ns} yet",
            "KubeRay creates it when it reconciles the cluster: wait for `raytrain cluster status` to say ready",
        )
    if TOKEN_KEY in (secret.get("stringData") or {}):
        return str(secret["stringData"][TOKEN_KEY])
    raw = (secret.get("data") or {}).get(TOKEN_KEY)
    if raw is None:
        raise KubeError(f"Secret {secret_name} in {ns} has no {TOKEN_KEY} key", f"recreate it with the token under {TOKEN_KEY}")
    return base64.b64decode(raw).decode().strip()


async def head_pod(kube: Kube, name: str) -> dict[str, Any]:
    """The cluster's ready head pod."""
    pods = await kube.list("v1", "pods", kube.namespace, selector=f"ray.io/cluster={name},ray.io/node-type=head")
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        conds = (pod.get("status") or {}).get("conditions") or []
        if labels.get("ray.io/cluster") == name and labels.get("ray.io/node-type") == "head" and any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in conds
        ):
            return pod
    raise KubeError(f"RayCluster {name} in {kube.namespace} has no ready head pod",
                    f"wait for it: `raytrain cluster status {name} -n {kube.namespace}`")


async def endpoint(kube: Kube, name: str) -> tuple[dict[str, Any], dict[str, Any], Optional[str]]:
    """(RayCluster, head pod, token) of a cluster, checked before any port is opened."""
    await kube.require_kuberay()
    cluster = await kube.get(RayCluster.version, RayCluster.endpoint, name, kube.namespace)
    if cluster is None:
        raise KubeNotFound(f"RayCluster {name} not found in namespace {kube.namespace}",
                           "check --cluster and -n; `kubectl get rayclusters -A` lists them")
    return cluster, await head_pod(kube, name), await read_token(kube, cluster)


@contextmanager
def port_forward(cluster: str, namespace: Optional[str] = None, *, target: Optional[Target] = None,
                 local_port: int = 0) -> Iterator[tuple[str, Optional[str]]]:
    """``with port_forward("raytrain", "raytrain-dev") as (url, token):`` the Jobs API of the
    cluster's head at ``url`` (http://127.0.0.1:PORT) and its auth token (None without token
    auth), for as long as the block runs. The forward runs in a thread of its own."""
    target = target or Target(namespace=namespace)
    if namespace is not None:
        target.namespace = namespace
    ready = threading.Event()
    result: dict[str, Any] = {}
    loop_box: dict[str, Any] = {}

    async def main() -> None:
        from kr8s.asyncio.objects import Pod
        from kr8s.asyncio.portforward import PortForward

        stop = asyncio.Event()
        loop_box["loop"], loop_box["stop"] = asyncio.get_running_loop(), stop
        kube = await Kube.connect(target)
        try:
            _, pod, token = await endpoint(kube, cluster)
            forward = PortForward(Pod(pod, api=kube.api), DASHBOARD_PORT, local_port=local_port or "auto")
            port = await forward.async_start()
            result["value"] = (f"http://127.0.0.1:{port}", token)
            ready.set()
            await stop.wait()
            await forward.async_stop()
        finally:
            await kube.close()

    def thread_main() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            result["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=thread_main, name=f"port-forward-{cluster}", daemon=True)
    thread.start()
    ready.wait()
    if "error" in result:
        raise result["error"]
    try:
        yield result["value"]
    finally:
        loop, stop = loop_box.get("loop"), loop_box.get("stop")
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def connect(cluster: str, namespace: Optional[str] = None, *, target: Optional[Target] = None,
            echo: Callable[[str], None] = print, local_port: int = 8265) -> int:
    """Keep a port-forward to the cluster's Jobs API open until Ctrl-C."""
    with port_forward(cluster, namespace, target=target, local_port=local_port) as (url, token):
        ns = (target.namespace if target and target.namespace else namespace) or "(context default)"
        echo(f"Jobs API of RayCluster {cluster} ({ns}) at {url}; Ctrl-C closes it")
        echo(f"  export RAY_ADDRESS={url}")
        if token is not None:
            echo("  export RAY_AUTH_MODE=token RAY_AUTH_TOKEN=$(kubectl get secret "
                 f"{cluster} -n {ns} -o jsonpath='{{.data.auth_token}}' | base64 -d)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            echo("closed")
    return 0


def cluster_endpoint(cluster: str, target: Target) -> tuple[dict[str, Any], Optional[str]]:
    """(live RayCluster, token) without opening a forward: for preflight against the live cluster."""

    async def main():
        kube = await Kube.connect(target)
        try:
            obj, _, token = await endpoint(kube, cluster)
            return obj, token
        finally:
            await kube.close()

    return asyncio.run(main())
