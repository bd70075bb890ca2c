"""The Python API for notebooks and scripts: connect, submit, watch, read results.

    c = raytrain.connect("http://127.0.0.1:8265")        # or: with raytrain.local_cluster(DIR) as c:
    job = c.submit("jobs/digits.yaml", set={"train.epochs": 5})
    job.wait()                                           # a progress bar (tqdm.auto)
    job.metrics(); job.plot(); job.result()

The CLI's submit/logs/jobs/stop are a thin skin over the same calls.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from raytrain.errors import ClusterError, RaytrainError, UserInputError


def default_address(state_dir: Optional[str | Path] = None) -> tuple[str, Optional[Any]]:
    """--address's fallbacks: $RAY_API_SERVER_ADDRESS, an http $RAY_ADDRESS, the local mirror."""
    for var in ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS"):
        value = os.environ.get(var, "")
        if value.startswith(("http://", "https://")):
            return value, None
    from raytrain.local.cluster import current, default_state_dir

    lc = current(state_dir)
    if lc is not None:
        return lc.dashboard_url, lc
    where = Path(state_dir) if state_dir else default_state_dir()
    raise UserInputError(
        f"no cluster to talk to: no --address, no http $RAY_ADDRESS, no local cluster in {where}",
        "start one with `raytrain up --local clusters/...`, or pass --address http://HOST:8265",
    )


def _override_items(values: Optional[Mapping[str, Any]]) -> list[str]:
    items = []
    for key, value in (values or {}).items():
        text = value if isinstance(value, str) else json.dumps(value)
        items.append(f"{key}={text}")
    return items


class Client:
    """One cluster's Jobs API; ``storage`` is where its runs are visible from here, if anywhere."""

    def __init__(self, address: Optional[str] = None, token_file: Optional[str] = None,
                 storage: Optional[str] = None, state_dir: Optional[str | Path] = None):
        from raytrain.submit.jobs import JobsClient

        self.local = None
        if address is None:
            address, self.local = default_address(state_dir)
        else:
            from raytrain.local.cluster import current

            lc = current(state_dir)
            if lc is not None and lc.dashboard_url.rstrip("/") == address.rstrip("/"):
                self.local = lc
        self.storage = storage or (self.local.volume if self.local else None)
        self.jobs_api = JobsClient(address, token_file)
        self.address = self.jobs_api.address

    def close(self) -> None:
        """End the port-forward that ``connect(cluster=...)`` opened (nothing otherwise)."""
        forward = getattr(self, "_forward", None)
        if forward is not None:
            self._forward = None
            forward.__exit__(None, None, None)

    def __repr__(self) -> str:
        kind = f"local mirror {self.local.name}" if self.local else "cluster"
        return f"<raytrain.Client {kind} at {self.address}>"

    def submit_spec(
        self,
        spec_path: str | Path,
        overrides: list[str] = (),  # type: ignore[assignment]
        resume: bool = False,
        new_run: bool = False,
        working_dir: Optional[str | Path] = None,
        storage: Optional[str] = None,
    ):
        """Preflight against the mirror's manifest (when local), then submit; a Submission."""
        if self.local:
            self.preflight(spec_path, list(overrides))
        return self.jobs_api.submit_spec(
            spec_path, list(overrides), resume=resume, new_run=new_run,
            storage=storage or self.storage, working_dir=working_dir,
        )

    def preflight(self, spec_path: str | Path, overrides: list[str]) -> list:
        """Does the job fit the manifest this mirror was made from? Refuse it if not."""
        from raytrain.errors import JobError
        from raytrain.manifests.cluster import load_cluster
        from raytrain.manifests.preflight import check_fit
        from raytrain.spec import load_spec

        spec = load_spec(spec_path, overrides)
        cluster, _ = load_cluster(self.local.manifest)
        # Only the fit: the mirror's stand-in volume replaces the manifest's storage checks.
        checks = check_fit(spec, cluster)
        for c in checks:
            if c.status == "FAIL":
                raise JobError(f"{spec_path}: preflight against {self.local.manifest}: {c.message}",
                               c.fix or "change scaling.workers or the cluster's worker groups")
            if c.status == "WARN":
                print(f"preflight: {c.message}", file=sys.stderr)
        return checks

    def submit(
        self,
        spec_path: str | Path,
        set: Optional[Mapping[str, Any]] = None,  # noqa: A002 - the CLI's --set
        resume: bool = False,
        new_run: bool = False,
        working_dir: Optional[str | Path] = None,
        storage: Optional[str] = None,
    ) -> "Job":
        sub = self.submit_spec(spec_path, _override_items(set), resume=resume, new_run=new_run,
                               working_dir=working_dir, storage=storage)
        return Job(self, sub.submission_id, sub.run, sub.storage, spec_path=str(spec_path),
                   overrides=dict(set or {}))

    def job(self, job_id: str) -> "Job":
        row = self.jobs_api.info(job_id)
        return Job(self, job_id, row.run, row.storage or self.storage)

    def jobs(self) -> list["Job"]:
        return [Job(self, r.submission_id, r.run, r.storage or self.storage) for r in self.jobs_api.list()]

    def status(self):
        """The local mirror's nodes, demand and jobs (only for a local cluster)."""
        if not self.local:
            raise ClusterError("status of a remote cluster is not available here", "use the Ray dashboard")
        from raytrain.local.cluster import status

        return status(self.local.state_dir)


class Job:
    """A submitted job: its state, logs, progress, metrics and result."""

    def __init__(self, client: Client, job_id: str, run: str, storage: Optional[str],
                 spec_path: Optional[str] = None, overrides: Optional[dict] = None):
        self.client = client
        self.id = job_id
        self.run = run
        self.storage = storage
        self._total_steps = _total_steps(spec_path, overrides) if spec_path else None

    def __repr__(self) -> str:
        return f"<raytrain.Job {self.id} run={self.run}>"

    @property
    def run_dir(self) -> Path:
        if not self.storage:
            raise ClusterError(f"the storage of run {self.run!r} is not visible from here",
                               "pass storage= to connect()/submit() (the mounted checkpoint volume)")
        return Path(self.storage) / self.run

    def status(self) -> str:
        return self.client.jobs_api.state(self.id).value

    def logs(self, follow: bool = False) -> str:
        if not follow:
            return self.client.jobs_api.logs(self.id)
        self.client.jobs_api.follow(self.id, write=lambda s: (sys.stdout.write(s), sys.stdout.flush()))
        return self.client.jobs_api.logs(self.id)

    def stop(self) -> bool:
        return self.client.jobs_api.stop(self.id)

    def wait(self, timeout_s: Optional[float] = None, progress: bool = True, poll_s: float = 1.0) -> str:
        """Block until the job ends, with a progress bar of steps; return the final status."""
        from raytrain.submit.state import JobState, transition

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self._total_steps, desc=self.run, unit="step", dynamic_ncols=True)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        state = JobState.PENDING
        try:
            while True:
                state = transition(state, self.client.jobs_api.state(self.id))
                if bar is not None:
                    self._update_bar(bar, state)
                if state.terminal or (deadline is not None and time.monotonic() > deadline):
                    break
                time.sleep(poll_s)
        finally:
            if bar is not None:
                bar.close()
        return state.value

    def _update_bar(self, bar, state) -> None:
        from raytrain.submit.jobs import last_metrics

        m = None
        with contextlib.suppress(RaytrainError):
            m = last_metrics(self.run_dir / "metrics.jsonl")
        if m and isinstance(m.get("step"), (int, float)):
            if bar.total is None and isinstance(m.get("total_steps"), int):
                bar.total = m["total_steps"]
            bar.n = int(m["step"])
            post = {"status": state.value}
            for key in ("loss", "val_accuracy", "samples_per_s", "workers"):
                if isinstance(m.get(key), (int, float)):
                    post[key] = round(m[key], 4) if isinstance(m[key], float) else m[key]
            bar.set_postfix(post, refresh=False)
        else:
            bar.set_postfix({"status": state.value}, refresh=False)
        bar.refresh()

    def metrics(self):
        """Every reported metric of the run, one row per report (a pandas DataFrame)."""
        import pandas as pd

        path = self.run_dir / "metrics.jsonl"
        rows = []
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            raise ClusterError(f"{path}: no metrics yet", "wait for the first report, or check the job's logs") from None
        for line in lines:
            with contextlib.suppress(ValueError):
                rows.append(json.loads(line))
        return pd.DataFrame(rows)

    def plot(self):
        """Loss and throughput against step (matplotlib); returns the figure."""
        import matplotlib.pyplot as plt

        df = self.metrics()
        fig, (ax_loss, ax_tput) = plt.subplots(1, 2, figsize=(11, 3.8))
        for col in ("loss", "val_loss"):
            if col in df and df[col].notna().any():
                d = df[["step", col]].dropna()
                ax_loss.plot(d["step"], d[col], label=col, marker="." if col == "val_loss" else None)
        ax_loss.set_xlabel("step")
        ax_loss.set_ylabel("loss")
        ax_loss.legend()
        if "samples_per_s" in df:
            d = df[["step", "samples_per_s"]].dropna()
            ax_tput.plot(d["step"], d["samples_per_s"], color="tab:green")
        ax_tput.set_xlabel("step")
        ax_tput.set_ylabel("samples/s")
        fig.suptitle(f"{self.run} ({self.id})")
        fig.tight_layout()
        return fig

    def result(self) -> dict:
        """The run's result.json (final and best metrics, checkpoints, versions)."""
        path = self.run_dir / "result.json"
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise ClusterError(f"{path}: no result yet (job {self.status()})", "wait for the job: job.wait()") from None


def _total_steps(spec_path: str, overrides: Optional[dict]) -> Optional[int]:
    from raytrain.spec import load_spec

    with contextlib.suppress(RaytrainError):
        return load_spec(spec_path, _override_items(overrides)).train.max_steps
    return None


def connect(address: Optional[str] = None, token_file: Optional[str] = None,
            storage: Optional[str] = None, *, cluster: Optional[str] = None,
            namespace: Optional[str] = None, context: Optional[str] = None,
            kubeconfig: Optional[str] = None) -> Client:
    """A client for the cluster at ``address`` (default: $RAY_ADDRESS, else this dir's local mirror).

    With ``cluster=`` (a RayCluster on Kubernetes), a port-forward to its Jobs API is opened
    and kept open for the notebook's session (``client.close()`` ends it), and the token is
    read from the cluster's Secret.
    """
    if cluster is None:
        return Client(address, token_file=token_file, storage=storage)
    if address is not None:
        raise RaytrainError("give address or cluster, not both", "cluster= opens its own port-forward")
    from raytrain.kube.client import Target
    from raytrain.kube.forward import port_forward

    forward = port_forward(cluster, target=Target(kubeconfig=kubeconfig, context=context, namespace=namespace))
    url, token = forward.__enter__()
    if token:
        os.environ["RAY_AUTH_TOKEN"] = token
    client = Client(url, token_file=token_file, storage=storage)
    client._forward = forward
    return client


@contextlib.contextmanager
def local_cluster(manifest: str | Path, scale: Optional[float] = None, groups: tuple[str, ...] = (),
                  volume: Optional[str | Path] = None, idle_timeout_s: Optional[float] = None,
                  state_dir: Optional[str | Path] = None, quiet: bool = False) -> Iterator[Client]:
    """Start a local mirror of ``manifest``, yield a client for it, stop it on exit (even on error)."""
    from raytrain.local.cluster import down, up

    state_dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="raytrain-local-"))
    volume = Path(volume) if volume else Path.cwd() / ".raytrain" / "storage"
    log = (lambda m: None) if quiet else print
    try:
        lc = up(manifest, scale=scale, groups=groups, volume=volume, state_dir=state_dir,
                idle_timeout_s=idle_timeout_s, log=log)
        yield Client(lc.dashboard_url, state_dir=state_dir)
    finally:
        down(state_dir, log=log)
