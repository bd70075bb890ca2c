"""A local mirror cluster for a test: started on free ports in its own temp dir, stopped even on
failure, and checked to leave no process behind."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Iterator

from raytrain.local import procs
from raytrain.local.cluster import LocalCluster, down, up

MANIFESTS = Path(__file__).resolve().parent / "manifests"


def ps_lines(marker: str) -> list[str]:
    """`ps` lines (zombies aside) that mention ``marker``: what a user would see left over."""
    out = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if marker in l and " Z" not in l[:12]]


@contextlib.contextmanager
def mirror(tmp: Path, manifest: str = "mirror-small.yaml", **kwargs) -> Iterator[LocalCluster]:
    state = tmp / "state"
    kwargs.setdefault("volume", tmp / "volume")
    lc = None
    try:
        lc = up(MANIFESTS / manifest, state_dir=state, log=lambda m: None, **kwargs)
        yield lc
    finally:
        recorded = LocalCluster.load(state)
        temp_dir = (lc or recorded).temp_dir if (lc or recorded) else None
        down(state, log=lambda m: None)
        if temp_dir:
            left = procs.cluster_pids(temp_dir)
            assert not left, f"processes of {temp_dir} left behind after down: {sorted(left)}"
            assert not ps_lines(temp_dir), f"ps still shows {temp_dir}: {ps_lines(temp_dir)}"
