"""The connection to a Kubernetes API server: kubeconfig checks, retries, error translation,
discovery and server-side apply, over kr8s's async API.

Every request goes through :meth:`Kube.request`, so every failure reads the same way: one line
that names the verb and resource, and a fix (exit code 2 when the user can fix it, 1 otherwise).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from raytrain.errors import (
    KubeConfigError,
    KubeError,
    KubeForbidden,
    KubeNotFound,
    KubeRayMissing,
    KubeUnreachable,
    ManifestError,
)
from raytrain.kube import rbac

FIELD_MANAGER = "raytrain"
KUBERAY_GROUP_VERSION = "ray.io/v1"
KUBERAY_INSTALL = (
    "helm repo add kuberay https://ray-project.github.io/kuberay-helm/ && "
    "helm install kuberay-operator kuberay/kuberay-operator --namespace kuberay-system --create-namespace"
)
VERBS = {"GET": "get", "POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}


@dataclass
class Target:
    """Which API server and namespace to talk to, and how hard to try."""

    kubeconfig: Optional[str] = None
    context: Optional[str] = None
    namespace: Optional[str] = None
    retries: int = 4
    backoff_s: float = 0.5


def kubeconfig_paths(kubeconfig: Optional[str]) -> list[Path]:
    if kubeconfig:
        return [Path(kubeconfig).expanduser()]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def check_kubeconfig(kubeconfig: Optional[str], context: Optional[str]) -> Optional[str]:
    """The kubeconfig kr8s should read (None: in-cluster service account), or a KubeConfigError
    that says which file was looked for and which contexts it holds."""
    paths = kubeconfig_paths(kubeconfig)
    existing = [p for p in paths if p.is_file()]
    shown = ", ".join(str(p) for p in paths)
    if not existing:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return None
        raise KubeConfigError(
            f"no kubeconfig at {shown}",
            "pass --kubeconfig FILE or set KUBECONFIG; for a local cluster run `kind create cluster` "
            "(see tests/e2e_k8s/README.md)",
        )
    contexts: list[str] = []
    current = None
    for path in existing:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise KubeConfigError(f"{path}: not a readable kubeconfig ({str(exc).splitlines()[0]})", "fix or regenerate the file")
        if not isinstance(data, dict):
            raise KubeConfigError(f"{path}: not a kubeconfig (no mapping at the top)", "fix or regenerate the file")
        contexts += [str(c.get("name")) for c in data.get("contexts") or [] if isinstance(c, dict)]
        current = current or data.get("current-context")
    if context is not None and context not in contexts:
        raise KubeConfigError(
            f"--context {context}: not in {shown} (contexts there: {', '.join(contexts) or 'none'})",
            f"use one of them, e.g. --context {contexts[0]}" if contexts else "add the context with `kubectl config set-context`",
        )
    if context is None and not contexts:
        raise KubeConfigError(f"{shown}: holds no contexts", "add one with `kubectl config set-context` or pass --kubeconfig")
    return os.pathsep.join(str(p) for p in existing)


def _transport_errors() -> tuple[type[BaseException], ...]:
    import httpx
    from kr8s import APITimeoutError

    return (httpx.TransportError, APITimeoutError, OSError)


class Kube:
    """One API server connection; ``namespace`` is the default for namespaced requests."""

    def __init__(self, api: Any, target: Target):
        self.api = api
        self.target = target
        self.namespace: str = target.namespace or api.namespace or "default"
        self._discovery: dict[str, Optional[list[dict[str, Any]]]] = {}

    @classmethod
    async def connect(cls, target: Target) -> "Kube":
        import kr8s.asyncio

        config = check_kubeconfig(target.kubeconfig, target.context)

        async def make():
            try:
                return await kr8s.asyncio.api(kubeconfig=config, context=target.context, namespace=target.namespace)
            except ValueError as exc:  # kr8s: "No such context", "Unable to find valid credentials"
                raise KubeConfigError(f"kubeconfig {config}: {exc}", "check the context and its user credentials") from exc

        api = await retrying(make, target, "connect to the Kubernetes API server")
        return cls(api, target)

    async def close(self) -> None:
        session = getattr(self.api, "_session", None)
        if session is not None:
            await session.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Optional[dict[str, str]] = None,
        content_type: str = "application/json",
        missing_ok: bool = False,
        what: Optional[str] = None,
    ) -> Optional[dict[str, Any]]:
        """One API call on an absolute path (``/apis/ray.io/v1/...``); JSON in, JSON out.

        ``missing_ok`` turns a 404 into ``None``; other failures become RaytrainErrors.
        """
        from kr8s import ServerError

        base, _, rest = path.lstrip("/").partition("/")
        kwargs: dict[str, Any] = {"headers": {"Content-Type": content_type}}
        if body is not None:
            kwargs["content"] = json.dumps(body)
        if params:
            kwargs["params"] = params

        async def once():
            async with self.api.call_api(method, version="", base=f"/{base}", url=rest, **kwargs) as resp:
                return resp.json() if resp.content else {}

        try:
            return await retrying(once, self.target, f"{VERBS.get(method, method)} {what or path}")
        except ServerError as exc:
            code = exc.response.status_code if exc.response is not None else None
            if code == 404 and missing_ok:
                return None
            raise translate(exc, code, method, path, what) from exc

    # ---- discovery ----

    async def served(self, api_version: str) -> Optional[list[dict[str, Any]]]:
        """The resources an API group version serves, or None when it is not served."""
        if api_version not in self._discovery:
            path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            found = await self.request("GET", path, missing_ok=True, what=f"API discovery of {api_version}")
            self._discovery[api_version] = None if found is None else list(found.get("resources") or [])
        return self._discovery[api_version]

    async def require_kuberay(self) -> None:
        if await self.served(KUBERAY_GROUP_VERSION) is None:
            raise KubeRayMissing(
                "the API server does not serve ray.io/v1: the KubeRay operator is not installed",
                f"install it: {KUBERAY_INSTALL}",
            )

    async def resource_for(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) of a kind, from discovery; a clear error when it is not served."""
        if api_version == KUBERAY_GROUP_VERSION:
            await self.require_kuberay()
        resources = await self.served(api_version)
        for r in resources or []:
            if r.get("kind") == kind and "/" not in str(r.get("name")):
                return str(r["name"]), bool(r.get("namespaced"))
        raise KubeError(
            f"{kind} ({api_version}) is not served by this cluster",
            "install the operator that provides it, or remove that object from the manifests",
        )

    def path(self, api_version: str, plural: str, namespace: Optional[str], name: Optional[str] = None, sub: Optional[str] = None) -> str:
        parts = ["/api/v1" if api_version == "v1" else f"/apis/{api_version}"]
        if namespace:
            parts += ["namespaces", namespace]
        parts.append(plural)
        if name:
            parts.append(name)
        if sub:
            parts.append(sub)
        return "/".join(parts)

    # ---- objects ----

    async def get(self, api_version: str, plural: str, name: str, namespace: Optional[str], missing_ok: bool = True) -> Optional[dict]:
        return await self.request("GET", self.path(api_version, plural, namespace, name), missing_ok=missing_ok, what=f"{plural}/{name}")

    async def list(self, api_version: str, plural: str, namespace: Optional[str], selector: Optional[str] = None) -> list[dict]:
        params = {"labelSelector": selector} if selector else None
        found = await self.request("GET", self.path(api_version, plural, namespace), params=params, what=plural)
        return list((found or {}).get("items") or [])

    async def apply(self, obj: dict[str, Any], plural: str, namespaced: bool) -> dict[str, Any]:
        """Server-side apply with field manager ``raytrain`` (forcing conflicts: raytrain owns what it applies)."""
        meta = obj["metadata"]
        path = self.path(obj["apiVersion"], plural, meta.get("namespace") if namespaced else None, meta["name"])
        return await self.request(
            "PATCH", path, body=obj, params={"fieldManager": FIELD_MANAGER, "force": "true"},
            content_type="application/apply-patch+yaml", what=f"{plural}/{meta['name']}",
        ) or {}

    async def merge_patch(self, api_version: str, plural: str, name: str, namespace: Optional[str], patch: dict) -> dict:
        return await self.request(
            "PATCH", self.path(api_version, plural, namespace, name), body=patch,
            params={"fieldManager": FIELD_MANAGER}, content_type="application/merge-patch+json", what=f"{plural}/{name}",
        ) or {}

    async def delete(self, api_version: str, plural: str, name: str, namespace: Optional[str]) -> bool:
        """Delete one object; False when it was not there."""
        found = await self.request(
            "DELETE", self.path(api_version, plural, namespace, name), body={"propagationPolicy": "Foreground"},
            missing_ok=True, what=f"{plural}/{name}",
        )
        return found is not None


async def retrying(call, target: Target, doing: str):
    """Retry transport failures (server unreachable, timeouts) with exponential backoff."""
    errors = _transport_errors()
    for attempt in range(target.retries + 1):
        try:
            return await call()
        except errors as exc:
            if attempt == target.retries:
                raise KubeUnreachable(
                    f"could not {doing}: the API server did not answer after {target.retries + 1} attempts ({type(exc).__name__}: {exc})",
                    "check that the cluster is running and reachable (`kubectl cluster-info`), and the context (--context)",
                ) from exc
            await asyncio.sleep(target.backoff_s * (2 ** attempt))


def translate(exc: Exception, code: Optional[int], method: str, path: str, what: Optional[str]) -> Exception:
    """A RaytrainError for an API error status, naming the verb, the resource and the fix."""
    message = str(exc).splitlines()[0] if str(exc) else f"HTTP {code}"
    resource, namespace, name = _parse_path(path)
    verb = VERBS.get(method, method.lower())
    if method == "GET" and name is None:
        verb = "list"
    where = f" in namespace {namespace}" if namespace else ""
    if code == 403:
        role = rbac.role_granting(verb, resource)
        fix = (f"ask an admin to bind the Role {role} from clusters/rbac/ to you in that namespace "
               f"(kubectl apply -n {namespace or 'NS'} -k clusters/rbac, then edit the RoleBinding's subjects)"
               if role else f"{resource} is not granted by raytrain's Roles in clusters/rbac/; ask an admin for {verb} on it")
        return KubeForbidden(f"forbidden: cannot {verb} {resource}{where} ({message})", fix)
    if code == 401:
        return KubeConfigError(f"unauthorized: the API server rejected the credentials ({message})", "refresh your credentials, e.g. log in to the cloud provider again")
    if code == 404:
        return KubeNotFound(f"{what or resource} not found{where}", "check the name and namespace (-n), e.g. `kubectl get " + resource.split(".")[0] + where.replace(" in namespace ", " -n ") + "`")
    if code in (400, 422):
        return ManifestError(f"the API server rejected {what or resource}: {message}", "fix the field it names in the manifest")
    if code == 409:
        return KubeError(f"conflict on {what or resource}{where}: {message}", "someone else changed it; run the command again")
    return KubeError(f"the API server failed to {verb} {what or resource}{where}: {message}", "check the API server's health (`kubectl get --raw /readyz`)")


def _parse_path(path: str) -> tuple[str, Optional[str], Optional[str]]:
    """(resource as RBAC names it, e.g. rayclusters.ray.io, namespace, name) of an API path."""
    parts = path.strip("/").split("/")
    group = ""
    if parts[0] == "apis":
        group, parts = parts[1], parts[3:]
    else:
        parts = parts[2:]
    namespace = None
    if len(parts) >= 2 and parts[0] == "namespaces" and len(parts) > 2:
        namespace, parts = parts[1], parts[2:]
    plural = parts[0] if parts else ""
    name = parts[1] if len(parts) > 1 else None
    sub = parts[2] if len(parts) > 2 else None
    resource = plural + (f"/{sub}" if sub else "")
    return (f"{resource}.{group}" if group else resource), namespace, name
