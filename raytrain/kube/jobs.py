"""``raytrain job apply/status/delete``: the RayJob that ``raytrain job render`` writes, created
on the cluster and followed to a terminal state."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Callable

from raytrain.errors import KubeError, KubeNotFound, RayJobFailed
from raytrain.kube.client import Kube, Target
from raytrain.kube.objects import JobState, RayCluster, RayJob, job_state


class Jobs:
    def __init__(self, kube: Kube, echo: Callable[[str], None] = print, poll_s: float = 2.0):
        self.kube = kube
        self.echo = echo
        self.poll_s = poll_s

    async def apply(self, spec_path: str | Path, cluster_selector: str, *, overrides: list[str] = (),
                    wait: bool = True, timeout_s: float = 0.0, **render: Any) -> dict[str, Any]:
        from raytrain.manifests.render import render_rayjob
        from raytrain.spec import load_spec

        spec = load_spec(spec_path, list(overrides))
        obj = render_rayjob(spec, spec_path, cluster_selector=cluster_selector, namespace=self.kube.namespace,
                            overrides=list(overrides), **render)
        await self.kube.require_kuberay()
        if await self.kube.get(RayCluster.version, RayCluster.endpoint, cluster_selector, self.kube.namespace) is None:
            raise KubeNotFound(f"--cluster-selector {cluster_selector}: no RayCluster of that name in {self.kube.namespace}",
                               "apply one first (`raytrain cluster apply clusters/overlays/dev`) or fix the name and -n")
        name = obj["metadata"]["name"]
        if await self.kube.get(RayJob.version, RayJob.endpoint, name, self.kube.namespace) is not None:
            raise KubeError(f"RayJob {name} already exists in {self.kube.namespace}",
                            f"`raytrain job delete {name} -n {self.kube.namespace}` first; a new RayJob of the same "
                            "run resumes from its newest checkpoint")
        await self.kube.request("POST", self.kube.path(RayJob.version, RayJob.endpoint, self.kube.namespace),
                                body=obj, params={"fieldManager": "raytrain"}, what=f"rayjobs/{name}")
        self.echo(f"RayJob/{name} created in {self.kube.namespace} (cluster {cluster_selector})")
        if not wait:
            return {"name": name, "state": JobState.PENDING.value, "detail": "not followed (--no-wait)"}
        return await self.follow(name, timeout_s)

    async def follow(self, name: str, timeout_s: float = 0.0) -> dict[str, Any]:
        """Poll the RayJob until it succeeds or fails; a failure raises RayJobFailed."""
        deadline = time.monotonic() + timeout_s if timeout_s else None
        shown = None
        while True:
            obj = await self.get(name)
            state, detail = job_state(obj)
            if detail != shown:
                self.echo(f"{name}: {state.value} ({detail})")
                shown = detail
            if state is JobState.FAILED:
                raise RayJobFailed(f"RayJob {name} failed: {detail}",
                                   f"see the logs: `kubectl logs -n {self.kube.namespace} -l job-name={name}`; "
                                   "submitting it again resumes from the newest checkpoint")
            if state is JobState.SUCCEEDED:
                return {"name": name, "state": state.value, "detail": detail}
            if deadline is not None and time.monotonic() >= deadline:
                raise KubeError(f"RayJob {name} still {state.value} after {timeout_s:g} s ({detail})",
                                f"it keeps running; follow it with `raytrain job status {name} -n {self.kube.namespace}`")
            await asyncio.sleep(self.poll_s)

    async def get(self, name: str) -> dict[str, Any]:
        await self.kube.require_kuberay()
        obj = await self.kube.get(RayJob.version, RayJob.endpoint, name, self.kube.namespace)
        if obj is None:
            raise KubeNotFound(f"RayJob {name} not found in namespace {self.kube.namespace}",
                               "check the name and -n; `kubectl get rayjobs -A` lists them")
        return obj

    async def status(self, name: str) -> dict[str, Any]:
        obj = await self.get(name)
        state, detail = job_state(obj)
        st = obj.get("status") or {}
        return {"name": name, "namespace": self.kube.namespace, "state": state.value, "detail": detail,
                "cluster": st.get("rayClusterName"), "job_id": st.get("jobId"),
                "start_time": st.get("startTime"), "end_time": st.get("endTime")}

    async def delete(self, name: str) -> bool:
        await self.kube.require_kuberay()
        return await self.kube.delete(RayJob.version, RayJob.endpoint, name, self.kube.namespace)


def run(target: Target, work: Callable[[Jobs], Any], echo: Callable[[str], None] = print, poll_s: float = 2.0) -> Any:
    async def main():
        kube = await Kube.connect(target)
        try:
            return await work(Jobs(kube, echo=echo, poll_s=poll_s))
        finally:
            await kube.close()

    return asyncio.run(main())
