"""The job's working_dir: the project directory, minus what never belongs on a cluster.

The size is measured with Ray's own traversal (same exclude patterns, same .gitignore
handling) so that the limit raytrain enforces is the size Ray would upload.
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from raytrain.errors import WorkingDirError

DEFAULT_EXCLUDES = (".git", ".venv", ".raytrain", "__pycache__")
MAX_WORKING_DIR_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class WorkingDir:
    root: Path
    excludes: tuple[str, ...]
    total_bytes: int
    biggest: tuple[tuple[str, int], ...]  # top-level entries, largest first

    def runtime_env(self) -> dict:
        return {"working_dir": str(self.root), "excludes": list(self.excludes)}


def project_root(spec_path: Path) -> Path:
    """The git work tree that holds the spec, else the current directory."""
    try:
        out = subprocess.run(
            ["git", "-C", str(spec_path.resolve().parent), "rev-parse", "--show-toplevel"],
            capture_output=True, text=True, timeout=10,
        )
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    return Path.cwd()


def git_commit(root: Path) -> Optional[str]:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=10,
        )
        if out.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        )
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def measure(
    root: str | Path,
    extra_excludes: Iterable[str] = (),
    limit_bytes: int = MAX_WORKING_DIR_BYTES,
) -> WorkingDir:
    """Size the working_dir as Ray would upload it; refuse it above ``limit_bytes``."""
    from ray._private import ray_constants
    from ray._private.runtime_env.packaging import _dir_travel, _get_excludes

    quiet_ray_packaging()
    root = Path(root).resolve()
    if not root.is_dir():
        raise WorkingDirError(f"{root}: working directory does not exist", "pass an existing project directory")
    excludes = tuple(dict.fromkeys([*DEFAULT_EXCLUDES, *extra_excludes]))
    include_gitignore = os.environ.get(ray_constants.RAY_RUNTIME_ENV_IGNORE_GITIGNORE, "0") != "1"
    sizes: dict[str, int] = {}

    def handler(path: Path) -> None:
        if path.is_file() and not path.is_symlink():
            top = path.relative_to(root).parts[0]
            sizes[top] = sizes.get(top, 0) + path.stat().st_size

    _dir_travel(root, [_get_excludes(root, list(excludes))], handler, include_gitignore=include_gitignore)
    biggest = tuple(sorted(sizes.items(), key=lambda kv: -kv[1]))
    wd = WorkingDir(root, excludes, sum(sizes.values()), biggest)
    if wd.total_bytes > limit_bytes:
        top = ", ".join(f"{name} ({_mib(size)})" for name, size in biggest[:5])
        raise WorkingDirError(
            f"{root}: working_dir is {_mib(wd.total_bytes)}, over the {_mib(limit_bytes)} limit; "
            f"biggest: {top}",
            "add them to runtime_env.working_dir_excludes in the spec (or .gitignore), "
            "or keep data on the storage volume",
        )
    return wd


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def quiet_ray_packaging() -> None:
    """Ray logs every ignored file of the upload at INFO; raytrain prints its own summary."""
    for name in ("ray._private.runtime_env.packaging", "ray._private.runtime_env.working_dir",
                 "ray.dashboard.modules.dashboard_sdk", "ray.dashboard.modules.job.sdk"):
        logging.getLogger(name).setLevel(logging.ERROR)
