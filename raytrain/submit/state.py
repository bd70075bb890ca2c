"""A job's lifecycle and the resume-or-new decision, as plain data (no Ray here).

``JobState`` mirrors Ray's ``JobStatus``; ``decide_start`` is the one place that decides
whether a submitted spec resumes its run, starts a new one, or is refused.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from raytrain.errors import JobError, RunExistsError, UserInputError


class JobState(str, enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED)

    @property
    def exit_code(self) -> int:
        """What `raytrain logs -f` exits with: 0 succeeded, 1 failed, 3 stopped, 4 still running."""
        return {JobState.SUCCEEDED: 0, JobState.FAILED: 1, JobState.STOPPED: 3}.get(self, 4)

    @classmethod
    def of(cls, status: object) -> "JobState":
        return cls(str(getattr(status, "value", status)))


_ALLOWED = {
    JobState.PENDING: {JobState.PENDING, JobState.RUNNING, JobState.FAILED, JobState.STOPPED},
    JobState.RUNNING: {JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED},
}


def transition(current: JobState, observed: JobState) -> JobState:
    """The next state seen by a watcher; a terminal state never changes, nor goes back."""
    if current.terminal:
        return current
    if observed not in _ALLOWED[current]:
        # A watcher can miss states between polls (PENDING -> SUCCEEDED); moving forward is fine.
        if observed.terminal or observed is JobState.RUNNING:
            return observed
        return current
    return observed


def has_checkpoints(run_dir: Path) -> bool:
    """Whether a run directory holds anything a new attempt could resume from."""
    if not run_dir.is_dir():
        return False
    if (run_dir / "checkpoint_manager_snapshot.json").exists():
        return True
    return any(p.is_dir() and p.name.startswith("checkpoint_") for p in run_dir.iterdir())


def run_completed(run_dir: Path) -> bool:
    """The run wrote its result.json, i.e. its last attempt finished."""
    path = run_dir / "result.json"
    if not path.is_file():
        return False
    try:
        json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class StartDecision:
    mode: str  # "fresh" | "resume" | "new" | "unknown"
    note: str


def decide_start(
    run: str,
    run_dir: Optional[Path],
    last_state: Optional[JobState],
    last_job: Optional[str] = None,
    resume: bool = False,
    new_run: bool = False,
    policy: str = "auto",
) -> StartDecision:
    """Resume, start over, or refuse; never let a new run silently mix into an old one.

    ``run_dir`` is None when the storage is not visible from this machine (a remote cluster):
    then the runtime on the cluster applies the spec's ``checkpoint.resume`` (``policy``).
    "new" means: submit under a new run name (the old run stays as it is).
    """
    if resume and new_run:
        raise UserInputError("--resume and --new-run contradict each other", "pass one of them")
    if last_state is not None and not last_state.terminal:
        raise JobError(
            f"run {run!r} is already {last_state.value.lower()} as job {last_job}",
            f"follow it with `raytrain logs {last_job} -f`, stop it with `raytrain stop {last_job}`, "
            "or submit under another name (--set name=...)",
        )
    if run_dir is None:
        if new_run:
            return StartDecision("new", f"starting run {run!r} over (--new-run)")
        return StartDecision(
            "unknown",
            f"storage of run {run!r} is not visible from here; the job resumes it if it has "
            "checkpoints (checkpoint.resume)",
        )
    if not has_checkpoints(run_dir):
        if new_run:
            return StartDecision("new", f"new run {run!r} at {run_dir}")
        return StartDecision("fresh", f"new run {run!r} at {run_dir}")
    if new_run:
        return StartDecision("new", f"run {run!r} has checkpoints at {run_dir}; starting over (--new-run)")
    if resume:
        return StartDecision("resume", f"resuming run {run!r} from its newest checkpoint in {run_dir}")
    if policy == "never":
        raise RunExistsError(
            f"run {run!r} already has checkpoints at {run_dir} and its spec says checkpoint.resume: never",
            "pass --new-run to start a new run, or --resume to continue this one",
        )
    failed = last_state in (JobState.FAILED, JobState.STOPPED) if last_state else not run_completed(run_dir)
    if failed:
        why = f"last attempt {last_state.value}" if last_state else "last attempt did not finish"
        return StartDecision("resume", f"resuming run {run!r} ({why}) from its newest checkpoint in {run_dir}")
    why = f"last attempt {last_state.value}" if last_state else "it finished"
    raise RunExistsError(
        f"run {run!r} already has checkpoints at {run_dir} ({why})",
        "pass --resume to continue it, --new-run to start it over, or --set name=<new name>",
    )
