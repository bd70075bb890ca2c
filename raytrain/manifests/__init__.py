"""KubeRay manifests: reading, schema validation against the CRDs, lint rules, RayJob
rendering from a job spec, and the preflight check of a job against a cluster.

Imports only ``raytrain.spec`` and ``raytrain.errors`` of raytrain; jsonschema and
kubernetes-validate are imported when validation runs.
"""

from raytrain.manifests.cluster import (
    CHECKPOINT_MOUNT,
    RAY_VERSION,
    Cluster,
    Group,
    Mount,
    image_ray_version,
    load_cluster,
    read_cluster,
)
from raytrain.manifests.documents import Document, load_paths
from raytrain.manifests.findings import Finding
from raytrain.manifests.lint import RULES, Rule, lint_documents
from raytrain.manifests.preflight import Check, preflight
from raytrain.manifests.render import render_rayjob, render_text, to_yaml
from raytrain.manifests.validate import validate_paths

__all__ = [
    "CHECKPOINT_MOUNT",
    "Check",
    "Cluster",
    "Document",
    "Finding",
    "Group",
    "Mount",
    "RAY_VERSION",
    "RULES",
    "Rule",
    "image_ray_version",
    "lint_documents",
    "load_cluster",
    "load_paths",
    "preflight",
    "read_cluster",
    "render_rayjob",
    "render_text",
    "to_yaml",
    "validate_paths",
]
