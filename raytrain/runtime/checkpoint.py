"""The checkpoint store the training loop calls: what a checkpoint holds on disk, how it is
verified, and the helpers a raw ``train.loop`` uses (save_checkpoint, load_checkpoint, report).

A checkpoint directory holds ``state.pt`` and ``raytrain_manifest.json`` (size and sha256 of
every file). Ray Train copies the directory to ``<storage>/<run>/checkpoint_<step>`` and only
records it in its snapshot once the copy is complete; raytrain verifies the manifest again
before resuming from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
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


def write_checkpoint_dir(state: dict[str, Any], directory: Path, step: int) -> None:
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    torch.save(state, directory / STATE_FILE)
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


def verify_checkpoint_dir(directory: Path) -> dict[str, Any]:
    """Check every file against the manifest; return the manifest or raise CheckpointError."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise CheckpointError(
            f"{directory}: no {MANIFEST}; the checkpoint is partial or not raytrain's",
            "resume from an earlier checkpoint, or set checkpoint.resume: never for a fresh run",
        )
    manifest = json.loads(manifest_path.read_text())
    for name, meta in manifest["files"].items():
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


def push_progress(record: dict[str, Any]) -> None:
    """Send a record to the driver's progress sink (rank 0 only; fire and forget)."""
    sink = _CONTEXT.get("progress")
    if sink is not None and _rank() == 0:
        sink.push.remote({"time": time.time(), **record})


def report(metrics: dict[str, Any]) -> None:
    """Report metrics without a checkpoint; every worker calls it at the same steps."""
    import ray.train

    ray.train.report(dict(metrics))
    push_progress({"event": "report", **metrics})


def save_checkpoint(state: dict[str, Any], metrics: dict[str, Any], step: int) -> None:
    """Write a checkpoint of ``state`` (rank 0's) and report ``metrics`` with it.

    Every worker calls this at the same step; only rank 0's state is written.
    """
    import ray.train
    from ray.train import Checkpoint

    name = checkpoint_dir_name(step)
    metrics = {**metrics, "step": step}
    if _rank() == 0:
        with tempfile.TemporaryDirectory(prefix="raytrain-ckpt-") as tmp:
            started = time.perf_counter()
            write_checkpoint_dir(state, Path(tmp), step)
            ray.train.report(metrics, checkpoint=Checkpoint.from_directory(tmp), checkpoint_dir_name=name)
            seconds = time.perf_counter() - started
        push_progress({"event": "checkpoint", "step": step, "name": name, "write_s": seconds})
    else:
        ray.train.report(metrics, checkpoint=None, checkpoint_dir_name=name)
    push_progress({"event": "report", **metrics})


def load_checkpoint() -> Optional[dict[str, Any]]:
    """The state of the newest checkpoint of this run (or of ``checkpoint.resume: PATH``)."""
    import ray.train

    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as directory:
            state = read_checkpoint_dir(Path(directory))
        state["_resumed_from"] = ckpt.path
        return state
    explicit = _CONTEXT.get("resume_from")
    if explicit:
        state = read_checkpoint_dir(Path(explicit))
        state["_resumed_from"] = str(explicit)
        return state
    return None
