"""What raytrain's commands need from the API server, Role by Role, as clusters/rbac/ grants it.

A 403 names the Role that grants the refused verb; a unit test checks that the YAML under
clusters/rbac/ grants exactly these rules, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Optional

# Role name -> {resource (plural.group, "" group for core) -> verbs}
ROLES: dict[str, dict[str, tuple[str, ...]]] = {
    # People who submit jobs: `raytrain submit/connect --cluster`, `job apply/status/delete`,
    # `cluster status`. The auth Secret is readable by name only (the cluster's, see rbac README).
    "raytrain-submitter": {
        "rayclusters.ray.io": ("get", "list"),
        "rayjobs.ray.io": ("get", "list", "create", "delete"),
        "pods": ("get", "list"),
        "pods/portforward": ("create",),
        "services": ("get",),
        "events": ("list",),
    },
    # People who run the cluster: `cluster apply/delete/scale` (server-side apply is patch),
    # the last-good spec kept in a ConfigMap, and the namespaced objects of clusters/.
    "raytrain-cluster-admin": {
        "rayclusters.ray.io": ("get", "list", "patch", "delete"),
        "configmaps": ("get", "patch", "delete"),
        "persistentvolumeclaims": ("get", "patch", "delete"),
        "networkpolicies.networking.k8s.io": ("get", "patch"),
        "resourcequotas": ("get", "patch"),
        "limitranges": ("get", "patch"),
        "podmonitors.monitoring.coreos.com": ("get", "patch"),
        "pods": ("get", "list"),
        "events": ("list",),
    },
}
# Secrets the submitter may read, by name: the token Secret of clusters/base's RayCluster.
SUBMITTER_SECRETS = ("raytrain",)


def role_granting(verb: str, resource: str) -> Optional[str]:
    """The first Role in clusters/rbac/ that grants ``verb`` on ``resource``."""
    if resource == "secrets" and verb == "get":
        return "raytrain-submitter"
    for role, rules in ROLES.items():
        if verb in rules.get(resource, ()):
            return role
    return None
