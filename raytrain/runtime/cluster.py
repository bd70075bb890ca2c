"""Reaching a Ray cluster from the driver: connect to one (with its token) or start an
embedded local one on free ports in a temp dir, and always stop what was started."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterator, Optional

TOKEN_FILE = Path.home() / ".ray" / "auth_token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def enable_token_auth_if_available() -> bool:
    """Ray 2.60 clients send the cluster token only with RAY_AUTH_MODE=token set client-side;
    set it when a token is at hand (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)."""
    if os.environ.get("RAY_AUTH_MODE"):
        return os.environ["RAY_AUTH_MODE"].lower() == "token"
    token_path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", TOKEN_FILE))
    if os.environ.get("RAY_AUTH_TOKEN") or token_path.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"
        return True
    return False


def inside_ray_job() -> bool:
    return bool(os.environ.get("RAY_JOB_ID") or os.environ.get("RAY_ADDRESS"))


@contextlib.contextmanager
def ray_session(
    address: Optional[str],
    *,
    num_cpus: int,
    num_gpus: int = 0,
    log_to_driver: bool = False,
    runtime_env: Optional[dict] = None,
) -> Iterator[str]:
    """Connect to ``address`` (or the job's cluster), or start a local cluster for the run.

    Yields a short description of where the run happens. A cluster started here is shut
    down on exit, even when the run fails or is interrupted.
    """
    import ray

    address = address or os.environ.get("RAY_ADDRESS")
    common = dict(log_to_driver=log_to_driver, runtime_env=runtime_env, configure_logging=True,
                  logging_level=logging.WARNING)
    if address:
        enable_token_auth_if_available()
        ray.init(address=address, **common)
        try:
            yield f"Ray cluster at {address}"
        finally:
            ray.shutdown()
        return

    temp_dir = tempfile.mkdtemp(prefix="rt-", dir="/tmp")  # short: Ray's socket paths are capped
    try:
        ray.init(
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            include_dashboard=True,
            dashboard_port=free_port(),
            _temp_dir=temp_dir,
            **common,
        )
        try:
            yield f"local Ray cluster ({num_cpus} CPUs{f', {num_gpus} GPUs' if num_gpus else ''}, temp dir {temp_dir})"
        finally:
            ray.shutdown()
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
