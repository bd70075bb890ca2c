"""Checking, when the workers start, that every node sees the same files under the storage path.

Ray Train 2.60 notices storage that is not shared only when a worker on another node uploads
its first checkpoint (``StorageContext._check_validation_file``), and not at all when
raytrain writes the checkpoint itself. Here every worker writes a marker into the run
directory, all of them look for everyone's markers, and the run stops at once with an error
that names the nodes that cannot see each other.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from raytrain.errors import StorageError

MARKER_DIR = ".raytrain-storage-check"


def _all_gather(obj: Any, world: int) -> list[Any]:
    import torch.distributed as dist

    if world == 1 or not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return out


def worker_identity() -> dict[str, str]:
    import ray

    return {"node_id": ray.get_runtime_context().get_node_id(), "ip": ray.util.get_node_ip_address()}


def check_shared_storage(run_dir: Path, rank: int, world: int) -> list[dict[str, Any]]:
    """Fail with StorageError unless every worker sees every other worker's marker.

    Returns each rank's node identity (rank order), which the start record carries.
    """
    me = {"rank": rank, **worker_identity()}
    token = _all_gather(uuid.uuid4().hex[:12] if rank == 0 else None, world)[0]
    marker_dir = Path(run_dir) / MARKER_DIR / token
    try:
        marker_dir.mkdir(parents=True, exist_ok=True)
        (marker_dir / f"rank-{rank}").write_text(f"{me['node_id']} {me['ip']}\n")
        write_error = None
    except OSError as exc:
        write_error = exc.strerror or str(exc)
    everyone = _all_gather(me, world)  # also a barrier: every marker is written by now
    missing = [] if write_error else [p["rank"] for p in everyone if not (marker_dir / f"rank-{p['rank']}").exists()]
    views = _all_gather({"rank": rank, "missing": missing, "write_error": write_error}, world)
    _all_gather(None, world)  # nobody removes the markers before everyone has looked
    if rank == 0:
        shutil.rmtree(marker_dir, ignore_errors=True)
        try:
            os.rmdir(marker_dir.parent)
        except OSError:
            pass
    problems = []
    for view in views:
        who = everyone[view["rank"]]
        if view["write_error"]:
            problems.append(f"rank {view['rank']} on {who['ip']} cannot write there ({view['write_error']})")
        elif view["missing"]:
            others = sorted({f"{everyone[r]['ip']} (node {everyone[r]['node_id'][:8]})" for r in view["missing"]})
            problems.append(
                f"rank {view['rank']} on {who['ip']} (node {who['node_id'][:8]}) does not see the files "
                f"written by ranks {view['missing']} on {', '.join(others)}"
            )
    if problems:
        raise StorageError(
            f"checkpoint.storage_path: {Path(run_dir).parent} is not shared by the nodes of this run: "
            + "; ".join(problems),
            "mount the same shared volume (ReadWriteMany) at that path on every node, or point "
            "checkpoint.storage_path (--storage, RAYTRAIN_STORAGE_PATH) at one",
        )
    return everyone
