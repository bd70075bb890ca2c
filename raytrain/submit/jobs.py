"""The only module that calls the Ray Jobs API.

``JobsClient`` wraps ``ray.job_submission.JobSubmissionClient``: it submits a job spec as
``python -m raytrain.run SPEC`` with the project as working_dir, follows logs without losing
lines, lists and stops jobs, and turns every Ray/HTTP failure into a raytrain error.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import queue
import secrets
import shlex
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

from raytrain.errors import AuthError, ClusterError, JobError, UserInputError
from raytrain.submit import auth as _auth
from raytrain.submit import workdir as _workdir
from raytrain.submit.state import JobState, StartDecision, decide_start, transition

META_PREFIX = "raytrain_"


def normalize_address(address: str) -> str:
    """``host:port`` or ``http(s)://host:port`` of the dashboard; a ``ray://`` one is refused."""
    address = address.strip().rstrip("/")
    if address.startswith(("ray://", "gcs://")):
        raise UserInputError(
            f"{address}: that is a Ray client/GCS address, not the Jobs API",
            "give the dashboard address, e.g. http://127.0.0.1:8265",
        )
    if "://" not in address:
        address = f"http://{address}"
    return address


def new_run_name(run: str) -> str:
    return f"{run[:32].rstrip('-')}-{time.strftime('%Y%m%d-%H%M%S')}"


def new_submission_id(run: str) -> str:
    return f"{run}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Submission:
    submission_id: str
    run: str
    entrypoint: str
    decision: StartDecision
    storage: Optional[str]
    metadata: dict[str, str]
    working_dir: _workdir.WorkingDir


@dataclass
class JobRow:
    submission_id: str
    run: str
    state: JobState
    start_time: Optional[float]
    end_time: Optional[float]
    message: str
    metadata: dict[str, str] = field(default_factory=dict)
    entrypoint: str = ""

    @property
    def duration_s(self) -> Optional[float]:
        if self.start_time is None:
            return None
        return (self.end_time or time.time()) - self.start_time

    @property
    def storage(self) -> Optional[str]:
        return self.metadata.get(f"{META_PREFIX}storage")

    def run_dir(self) -> Optional[Path]:
        if not self.storage or self.run == "-":
            return None
        path = Path(self.storage) / self.run
        return path if path.is_dir() else None

    def last_metrics(self) -> Optional[dict]:
        run_dir = self.run_dir()
        return last_metrics(run_dir / "metrics.jsonl") if run_dir else None


def last_metrics(path: Path) -> Optional[dict]:
    """The last complete JSON line of a metrics.jsonl (a partial last line is skipped)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 65536))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


class JobsClient:
    """A connection to one cluster's Jobs API, with the token resolved once."""

    def __init__(self, address: str, token_file: Optional[str] = None, _client=None):
        self.address = normalize_address(address)
        self.token = _auth.resolve_token(token_file)
        if _client is not None:
            self._client = _client
            return
        _auth.enable_token_mode_for_sdk()
        from ray.job_submission import JobSubmissionClient

        self._client = self._call(lambda: JobSubmissionClient(self.address, headers=self.token.header()))

    # -- errors ---------------------------------------------------------------------------

    def _call(self, fn: Callable, job_id: Optional[str] = None):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - every SDK failure is translated below
            raise self._translate(exc, job_id) from exc

    def _translate(self, exc: Exception, job_id: Optional[str]) -> Exception:
        text = str(exc)
        name = type(exc).__name__
        if name == "AuthenticationError" or "status code 401" in text or "status code 403" in text:
            status = 403 if ("Authentication failed" in text or "403" in text) else 401
            return _auth.auth_failure(status, self.address, self.token)
        if isinstance(exc, ConnectionError) or "Failed to connect" in text or "Connection refused" in text:
            return ClusterError(
                f"{self.address}: no Ray Jobs API answers there",
                "start a cluster (raytrain up --local DIR) or pass --address of a running one",
            )
        if job_id and ("does not exist" in text or "status code 404" in text):
            return JobError(f"job {job_id!r} does not exist on {self.address}", "list jobs with `raytrain jobs`")
        if isinstance(exc, (AuthError, ClusterError, JobError)):
            return exc
        return ClusterError(f"{self.address}: {text.splitlines()[0] if text else name}", "retry with --debug for details")

    # -- submit ---------------------------------------------------------------------------

    def submit_spec(
        self,
        spec_path: str | Path,
        overrides: Iterable[str] = (),
        resume: bool = False,
        new_run: bool = False,
        storage: Optional[str] = None,
        working_dir: Optional[str | Path] = None,
        env_vars: Optional[dict[str, str]] = None,
        submission_id: Optional[str] = None,
        entrypoint_resources: Optional[dict[str, float]] = None,
    ) -> Submission:
        """Submit ``python -m raytrain.run SPEC`` after checking the spec, size and resume rule.

        ``storage`` is the storage path as the job sees it (the mirror's stand-in volume, or
        ``--storage``); it is passed to the job through ``RAYTRAIN_STORAGE_PATH``.
        """
        from raytrain.spec import load_spec, spec_hash

        overrides = list(overrides)
        spec_path = Path(spec_path)
        spec = load_spec(spec_path, overrides)
        root = Path(working_dir).resolve() if working_dir else _workdir.project_root(spec_path)
        try:
            rel_spec = spec_path.resolve().relative_to(root)
        except ValueError:
            raise UserInputError(
                f"{spec_path}: the spec is outside the working directory {root}",
                "move it into the project or pass --working-dir of a directory that holds it",
            ) from None
        wd = _workdir.measure(root, spec.runtime_env.working_dir_excludes)

        env = dict(spec.runtime_env.env_vars)
        env.update(env_vars or {})
        if storage:
            env["RAYTRAIN_STORAGE_PATH"] = storage
        visible_storage = storage or env.get("RAYTRAIN_STORAGE_PATH") or spec.checkpoint.storage_path
        run_dir = None
        if visible_storage and Path(visible_storage).is_absolute() and Path(visible_storage).is_dir():
            run_dir = Path(visible_storage) / spec.name
        last = self.last_job_of_run(spec.name)
        decision = decide_start(
            spec.name, run_dir, last.state if last else None, last.submission_id if last else None,
            resume=resume, new_run=new_run, policy=spec.checkpoint.resume,
        )
        run = spec.name
        if decision.mode == "new":
            # A new name chosen here (not the runtime's --new-run) so the client knows where it lives.
            run = new_run_name(spec.name)
            overrides.append(f"name={run}")
        elif resume and spec.checkpoint.resume == "never":
            overrides.append("checkpoint.resume=auto")

        args = ["python", "-m", "raytrain.run", rel_spec.as_posix()]
        for item in overrides:
            args += ["--set", item]
        entrypoint = " ".join(shlex.quote(a) for a in args)
        sid = submission_id or new_submission_id(run)
        metadata = {
            f"{META_PREFIX}run": run,
            f"{META_PREFIX}spec": rel_spec.as_posix(),
            f"{META_PREFIX}spec_hash": spec_hash(spec),
            f"{META_PREFIX}git_commit": _workdir.git_commit(root) or "none",
            f"{META_PREFIX}user": _user(),
            f"{META_PREFIX}start": decision.mode,
        }
        if visible_storage:
            metadata[f"{META_PREFIX}storage"] = str(visible_storage)
        runtime_env: dict = wd.runtime_env()
        if env:
            runtime_env["env_vars"] = env
        if spec.runtime_env.pip:
            runtime_env["pip"] = list(spec.runtime_env.pip)
        self.submit_entrypoint(entrypoint, sid, runtime_env, metadata, entrypoint_resources)
        return Submission(sid, run, entrypoint, decision, visible_storage, metadata, wd)

    def submit_entrypoint(
        self,
        entrypoint: str,
        submission_id: str,
        runtime_env: Optional[dict] = None,
        metadata: Optional[dict[str, str]] = None,
        entrypoint_resources: Optional[dict[str, float]] = None,
    ) -> str:
        kwargs = dict(entrypoint=entrypoint, submission_id=submission_id, runtime_env=runtime_env or {},
                      metadata=metadata or {})
        if entrypoint_resources:
            kwargs["entrypoint_resources"] = entrypoint_resources

        _workdir.quiet_ray_packaging()

        def go():
            # A head that just started may not have its job agent yet: retry that for a while.
            deadline = time.monotonic() + 60
            while True:
                try:
                    return self._client.submit_job(**kwargs)
                except RuntimeError as exc:
                    if "No available agent" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(2)

        return self._call(go)

    # -- inspect --------------------------------------------------------------------------

    def state(self, job_id: str) -> JobState:
        return JobState.of(self._call(lambda: self._client.get_job_status(job_id), job_id))

    def info(self, job_id: str) -> JobRow:
        return _row(self._call(lambda: self._client.get_job_info(job_id), job_id))

    def logs(self, job_id: str) -> str:
        return self._call(lambda: self._client.get_job_logs(job_id), job_id)

    def list(self) -> list[JobRow]:
        details = self._call(self._client.list_jobs)
        rows = [_row(d) for d in details if getattr(d, "submission_id", None)]
        return sorted(rows, key=lambda r: r.start_time or 0)

    def last_job_of_run(self, run: str) -> Optional[JobRow]:
        rows = [r for r in self.list() if r.run == run]
        return rows[-1] if rows else None

    def stop(self, job_id: str) -> bool:
        return bool(self._call(lambda: self._client.stop_job(job_id), job_id))

    def wait(self, job_id: str, timeout_s: Optional[float] = None, poll_s: float = 1.0) -> JobState:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        state = JobState.PENDING
        while True:
            state = transition(state, self.state(job_id))
            if state.terminal:
                return state
            if deadline is not None and time.monotonic() > deadline:
                return state
            time.sleep(poll_s)

    # -- logs -----------------------------------------------------------------------------

    def stream(self, job_id: str) -> Iterator[str]:
        """One websocket tail of the job's log, from its first line; ends when it drops."""
        self.info(job_id)  # a clear error for an unknown id before opening a socket
        logging.getLogger("ray.dashboard.modules.job.sdk").setLevel(logging.WARNING)
        items: "queue.Queue[object]" = queue.Queue()
        done = object()

        def pump() -> None:
            async def go() -> None:
                async for chunk in self._client.tail_job_logs(job_id):
                    items.put(chunk)

            try:
                asyncio.run(go())
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                items.put(exc)
            finally:
                items.put(done)

        threading.Thread(target=pump, name=f"raytrain-logs-{job_id}", daemon=True).start()
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    def follow(
        self,
        job_id: str,
        write: Callable[[str], object] = sys.stdout.write,
        notify: Callable[[str], object] = lambda msg: print(msg, file=sys.stderr),
        reconnect_delay_s: float = 1.0,
    ) -> JobState:
        return follow_logs(
            job_id, self.stream, self.state, self.logs, write, notify, reconnect_delay_s
        )


def follow_logs(
    job_id: str,
    stream: Callable[[str], Iterable[str]],
    state: Callable[[str], JobState],
    full_logs: Callable[[str], str],
    write: Callable[[str], object],
    notify: Callable[[str], object],
    reconnect_delay_s: float = 1.0,
    max_delay_s: float = 10.0,
) -> JobState:
    """Write the job's log as it grows until the job is terminal; return its final state.

    Every tail starts at the log's first character, so a reconnect skips what was written;
    at the end the full log is fetched and whatever the stream missed is written.
    """
    written = 0
    delay = reconnect_delay_s
    while True:
        pos = 0
        error: Optional[BaseException] = None
        try:
            for chunk in stream(job_id):
                end = pos + len(chunk)
                if end > written:
                    write(chunk[max(0, written - pos):])
                    written = end
                pos = end
                delay = reconnect_delay_s
        except (AuthError, JobError):
            raise
        except Exception as exc:  # noqa: BLE001 - a dropped stream is retried below
            error = exc
        current = state(job_id)
        if current.terminal:
            break
        why = f" ({type(error).__name__}: {str(error).splitlines()[0][:120]})" if error else ""
        notify(f"raytrain: log stream of {job_id} dropped{why}; reconnecting in {delay:.0f}s")
        time.sleep(delay)
        delay = min(delay * 2, max_delay_s)
    full = full_logs(job_id)
    if len(full) > written:
        write(full[written:])
    return current


def _row(d) -> JobRow:
    meta = dict(getattr(d, "metadata", None) or {})
    start = getattr(d, "start_time", None)
    end = getattr(d, "end_time", None)
    return JobRow(
        submission_id=d.submission_id,
        run=meta.get(f"{META_PREFIX}run", "-"),
        state=JobState.of(d.status),
        start_time=start / 1000 if start else None,
        end_time=end / 1000 if end else None,
        message=getattr(d, "message", None) or "",
        metadata=meta,
        entrypoint=getattr(d, "entrypoint", "") or "",
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "unknown"
