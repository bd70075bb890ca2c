"""The local mirror: a real Ray cluster on this machine shaped like a RayCluster manifest."""

from raytrain.local.cluster import ClusterStatus, LocalCluster, current, down, gpu_note, status, up
from raytrain.local.manifest import ClusterManifest, WorkerGroup, read_manifest
from raytrain.local.mirror import NodeType, autoscaling_config, parse_group_overrides, plan_node_types

__all__ = [
    "ClusterManifest",
    "ClusterStatus",
    "LocalCluster",
    "NodeType",
    "WorkerGroup",
    "autoscaling_config",
    "current",
    "down",
    "gpu_note",
    "parse_group_overrides",
    "plan_node_types",
    "read_manifest",
    "status",
    "up",
]
