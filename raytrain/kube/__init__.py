"""The only part of raytrain that talks to a Kubernetes API server (kr8s underneath).

Imports ``raytrain.errors`` and ``raytrain.manifests`` only; kr8s is imported by the modules
that need it, so ``import raytrain.kube`` stays cheap.
"""

from raytrain.kube.client import FIELD_MANAGER, KUBERAY_INSTALL, Target

__all__ = ["FIELD_MANAGER", "KUBERAY_INSTALL", "Target"]
