"""The checkpoint store the training loop calls: what a checkpoint holds on disk, how it is
verified, and the helpers a raw ``train.loop`` uses (save_checkpoint, load_checkpoint, report).

A checkpoint directory holds ``state.pt`` and ``raytrain_manifest.json`` (size and sha256 of
every file). Ray Train copies the directory to ``<storage>/<run>/checkpoint_<step>`` and only
records it in its snapshot once the copy is complete; raytrain verifies the manifest again
before resuming from it.
"""

from __future__ import annotations

import copy
import errno
import gc
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Optional

from raytrain.errors import CheckpointError

MANIFEST = "raytrain_manifest.json"
STATE_FILE = "state.pt"

# Set on each worker by the runtime before the loop starts (see runtime.trainer).
_CONTEXT: dict[str, Any] = {}


def checkpoint_dir_name(step: int) -> str:
    return f"checkpoint_{step:08d}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint_dir(state: dict[str, Any], directory: Path, step: int) -> None:
    """Write ``state.pt`` and its manifest into ``directory``, every file fsynced."""
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    # A path, not a file object: torch then writes through its own C++ writer, about twice
    # as fast as through Python's write(); the hash re-read comes from the page cache.
    torch.save(state, directory / STATE_FILE)
    _fsync_path(directory / STATE_FILE)
    files = {}
    for path in sorted(directory.iterdir()):
        if path.name != MANIFEST and path.is_file():
            files[path.name] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    manifest = {"step": step, "created": time.time(), "files": files}
    tmp = directory / (MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / MANIFEST)
    _fsync_path(directory)


STAGING_PREFIX = ".staging-"


def commit_checkpoint(state: dict[str, Any], run_dir: Path, name: str, step: int) -> Path:
    """Write a checkpoint so that ``<run_dir>/<name>`` appears only once it is complete.

    Ray Train 2.60 copies a reported checkpoint straight into its final directory with
    ``pyarrow.fs.copy_files`` (no temporary name, no fsync), so a crash or a full disk
    mid-copy leaves a partial ``checkpoint_*`` behind. Here the files are written and
    fsynced under a hidden staging name, then renamed into place and the rename made
    durable. A failed write removes the staging directory and leaves older checkpoints
    untouched.
    """
    run_dir = Path(run_dir)
    final = run_dir / name
    staging = run_dir / f"{STAGING_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
    try:
        write_checkpoint_dir(state, staging, step)
        if final.exists():  # left by an attempt that died after this step: never complete
            stale = run_dir / f"{STAGING_PREFIX}replaced-{name}-{uuid.uuid4().hex[:8]}"
            os.rename(final, stale)
            shutil.rmtree(stale, ignore_errors=True)
        os.rename(staging, final)
        _fsync_path(run_dir)
    except Exception as exc:  # torch.save reports a failed write as RuntimeError, not OSError
        code = _errno_of(exc, run_dir)  # before the cleanup frees space again
        if code is None:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    else:
        return final
    # Out of the except block, so that the failed exception and its frames (which hold
    # torch's open writer, and with it the space of the deleted partial file) are freed.
    gc.collect()
    shutil.rmtree(staging, ignore_errors=True)
    reason = {errno.ENOSPC: "no space left on the volume", errno.EDQUOT: "disk quota exceeded",
              errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
              errno.EROFS: "the volume is read-only"}.get(code, os.strerror(code))
    raise CheckpointError(
        f"checkpoint.storage_path: writing {name} to {run_dir} failed: {reason}; "
        "the previous checkpoints are intact",
        "free space on (or grant write access to) the checkpoint volume, or point "
        "checkpoint.storage_path at one that has it; a rerun resumes from the newest complete checkpoint",
    )


def _errno_of(exc: BaseException, run_dir: Path) -> Optional[int]:
    """The errno behind a failed write. torch.save reports one as a RuntimeError without
    it ("unexpected pos ...", "file write failed"), so the volume itself is asked then."""
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno:
            return seen.errno
        seen = seen.__cause__ or seen.__context__
    try:
        st = os.statvfs(run_dir)
    except OSError as probe:
        return probe.errno
    if st.f_flag & os.ST_RDONLY:
        return errno.EROFS
    if st.f_bavail * st.f_frsize < (1 << 20):
        return errno.ENOSPC
    if not os.access(run_dir, os.W_OK):
        return errno.EACCES
    return None


def remove_stale_staging(run_dir: Path) -> list[str]:
    """Delete staging directories that a killed writer left behind."""
    removed = []
    for path in Path(run_dir).glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    return removed


def verify_checkpoint_dir(directory: Path) -> dict[str, Any]:
    """Check every file against the manifest; return the manifest or raise CheckpointError."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise CheckpointError(
            f"{directory}: no {MANIFEST}; the checkpoint is partial or not raytrain's",
            "resume from an earlier checkpoint, or set checkpoint.resume: never for a fresh run",
        )
    try:
        manifest = json.loads(manifest_path.read_text())
        files = dict(manifest["files"])
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(
            f"{directory}: {MANIFEST} is unreadable (partial or corrupt)", "resume from an earlier checkpoint"
        ) from None
    for name, meta in files.items():
        path = directory / name
        if not path.is_file() or path.stat().st_size != meta["size"] or _sha256(path) != meta["sha256"]:
            raise CheckpointError(
                f"{directory}: {name} does not match its manifest (missing, truncated or changed)",
                "resume from an earlier checkpoint",
            )
    return manifest


def read_checkpoint_dir(directory: Path) -> dict[str, Any]:
    import torch

    verify_checkpoint_dir(directory)
    return torch.load(Path(directory) / STATE_FILE, map_location="cpu", weights_only=False)


def _rank() -> int:
    import ray.train

    return ray.train.get_context().get_world_rank()


def _push(sink, record: dict[str, Any]) -> None:
    if sink is not None:
        sink.push.remote({"time": time.time(), **record})


def push_progress(record: dict[str, Any]) -> None:
    """Send a record to the driver's progress sink (rank 0 only; fire and forget)."""
    sink = _CONTEXT.get("progress")
    if sink is not None and _rank() == 0:
        _push(sink, record)


_HEARTBEAT_S = 0.5
_last_beat = [0.0]


def heartbeat(step: int) -> None:
    """Tell the driver the loop is alive at ``step`` (at most every 0.5 s; always the first
    step of an attempt), so that a failure's time and its recovery time are measured to
    within half a second instead of to the last report."""
    now = time.time()
    first = _CONTEXT.get("beats", 0) == 0
    if first or now - _last_beat[0] >= _HEARTBEAT_S:
        _CONTEXT["beats"] = _CONTEXT.get("beats", 0) + 1
        _last_beat[0] = now
        push_progress({"event": "step", "step": step, "first": first})


def preemption_pending(step: int) -> bool:
    """Whether Ray Train has seen a drain (preemption) of a node of this run.

    A collective: every worker must call it at the same steps. Ray learns of a
    preemption when the node is drained with a deadline (``ray drain-node --reason
    DRAIN_NODE_REASON_PREEMPTION``, what the autoscaler does for a spot reclaim); a bare
    SIGTERM or kill of a node is a plain node failure that Ray cannot announce.
    """
    import ray.train

    info = ray.train.get_preemption_info()
    if info is None:
        return False
    push_progress({"event": "preemption", "step": step, "deadline_ms": info.deadline_ms,
                   "ranks": info.preempted_ranks, "nodes": info.preempted_node_ids})
    return True


def report(metrics: dict[str, Any]) -> None:
    """Report metrics without a checkpoint.

    Metrics go to the driver through raytrain's progress sink only. A ``ray.train.report``
    per metrics line would cost a barrier across the workers and, because each worker's
    result queue holds one entry that the controller drains every 2 s
    (``RAY_TRAIN_HEALTH_CHECK_INTERVAL_S``), a wait of up to 2 s whenever reports come
    faster than that; Ray Train only needs the reports that carry checkpoints.
    """
    push_progress({"event": "report", **metrics})
    _telemetry("on_report", metrics)


def _telemetry(method: str, *args: Any) -> None:
    telemetry = _CONTEXT.get("telemetry")
    if telemetry is not None:
        getattr(telemetry, method)(*args)


def _detached(state: Any) -> Any:
    """A copy of ``state`` that later optimizer steps cannot change (tensors cloned to CPU)."""
    import torch

    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {k: _detached(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_detached(v) for v in state) if not hasattr(state, "_fields") else state
    return copy.deepcopy(state)


def save_checkpoint(state: dict[str, Any], metrics: dict[str, Any], step: int) -> float:
    """Write a checkpoint of ``state`` (rank 0's) and report ``metrics`` with it.

    Every worker calls this at the same step; only rank 0's state is written, atomically
    (see ``commit_checkpoint``). With ``checkpoint.mode: async`` the state is copied in
    memory and written by Ray Train's upload thread while training goes on. Returns the
    seconds the caller was blocked, which also go to the metrics as checkpoint_blocked_s.
    """
    import ray.train
    from ray.train import Checkpoint, CheckpointUploadMode

    started = time.perf_counter()
    name = checkpoint_dir_name(step)
    metrics = {**metrics, "step": step}
    mode = _CONTEXT.get("checkpoint_mode", "sync")
    upload_mode = CheckpointUploadMode.ASYNC if mode == "async" else CheckpointUploadMode.SYNC
    if _rank() == 0:
        run_dir = Path(_CONTEXT["run_dir"])
        sink = _CONTEXT.get("progress")
        if mode == "async":
            state = _detached(state)
        placeholder = tempfile.mkdtemp(prefix="raytrain-ckpt-")

        def upload(_checkpoint, dir_name: str):
            os.rmdir(placeholder)
            t0 = time.perf_counter()
            final = commit_checkpoint(state, run_dir, dir_name, step)
            write_s, num_bytes = time.perf_counter() - t0, sum(f.stat().st_size for f in final.iterdir())
            _push(sink, {"event": "checkpoint", "step": step, "name": dir_name, "mode": mode,
                         "write_s": write_s, "bytes": num_bytes})
            _telemetry("on_checkpoint", write_s, num_bytes)
            return Checkpoint.from_directory(str(final))

        ray.train.report(metrics, checkpoint=Checkpoint.from_directory(placeholder), checkpoint_dir_name=name,
                         checkpoint_upload_mode=upload_mode, checkpoint_upload_fn=upload,
                         delete_local_checkpoint_after_upload=False)
    else:
        ray.train.report(metrics, checkpoint=None, checkpoint_dir_name=name, checkpoint_upload_mode=upload_mode)
    blocked = time.perf_counter() - started
    push_progress({"event": "report", **metrics, "checkpoint_blocked_s": round(blocked, 4)})
    _telemetry("on_report", {**metrics, "checkpoint_blocked_s": blocked})
    return blocked


def checkpoint_step(directory: Path) -> int:
    try:
        return int(Path(directory).name.split("_", 1)[1])
    except (IndexError, ValueError):
        return -1


def newest_complete_checkpoint(run_dir: Path, warn=None) -> Optional[Path]:
    """The newest ``checkpoint_<step>`` of a run whose files match its manifest.

    Ray Train records a checkpoint in its snapshot some time after the copy completes, so a
    run killed in between would lose it if resume trusted the snapshot alone; and a partial
    or corrupt newest checkpoint must not stop a resume while an older complete one exists.
    """
    candidates = [d for d in Path(run_dir).glob("checkpoint_*") if d.is_dir() and checkpoint_step(d) >= 0]
    for directory in sorted(candidates, key=checkpoint_step, reverse=True):
        try:
            verify_checkpoint_dir(directory)
            return directory
        except CheckpointError as exc:
            if warn:
                warn(f"skipping {directory.name}: {exc.message}")
    return None


def load_checkpoint() -> Optional[dict[str, Any]]:
    """The state of this run's newest complete checkpoint, else of ``checkpoint.resume: PATH``.

    Every worker calls it and reads the same directory on the shared storage.
    """
    import ray.train

    def warn(message: str) -> None:
        push_progress({"event": "warning", "message": message})

    run_dir = _CONTEXT.get("run_dir")
    directory = newest_complete_checkpoint(Path(run_dir), warn) if run_dir else None
    if directory is None:
        ckpt = ray.train.get_checkpoint()  # storage raytrain cannot list (e.g. a custom filesystem)
        if ckpt is not None:
            with ckpt.as_directory() as local:
                state = read_checkpoint_dir(Path(local))
            state["_resumed_from"] = ckpt.path
            return state
        directory = _CONTEXT.get("resume_from")
    if not directory:
        return None
    state = read_checkpoint_dir(Path(directory))
    state["_resumed_from"] = str(directory)
    return state
