"""raytrain: distributed PyTorch training on Ray, from a laptop to a KubeRay GPU cluster.

Kept light: ``import raytrain`` pulls in neither ray nor torch; the names below that need
them are loaded on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "Task": "raytrain.runtime.tasks.base",
    "save_checkpoint": "raytrain.runtime.checkpoint",
    "load_checkpoint": "raytrain.runtime.checkpoint",
    "report": "raytrain.runtime.checkpoint",
    "connect": "raytrain.client",
    "local_cluster": "raytrain.client",
    "Client": "raytrain.client",
    "Job": "raytrain.client",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'raytrain' has no attribute {name!r}")
