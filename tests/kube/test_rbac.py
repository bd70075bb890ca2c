"""clusters/rbac/ validates like every manifest and grants exactly what raytrain.kube.rbac says."""

from __future__ import annotations

from raytrain.kube.rbac import ROLES, SUBMITTER_SECRETS, role_granting
from raytrain.manifests.documents import load_paths
from raytrain.manifests.validate import validate_paths
from tests.unit.manifests_support import REPO

RBAC = REPO / "clusters/rbac"


def test_rbac_validates_without_errors_or_warnings():
    findings = [f.format() for f in validate_paths([RBAC]) if f.severity != "info"]
    assert findings == [], "\n".join(findings)


def test_roles_grant_exactly_the_rules_the_code_names():
    roles = {d.name: d.data for d in load_paths([RBAC]) if d.kind == "Role"}
    assert set(roles) == set(ROLES)
    for name, role in roles.items():
        granted: dict[str, set[str]] = {}
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for res in rule["resources"]:
                    key = f"{res}.{group}" if group else res
                    if key == "secrets":
                        assert name == "raytrain-submitter" and tuple(rule["resourceNames"]) == SUBMITTER_SECRETS
                        assert rule["verbs"] == ["get"]
                        continue
                    granted.setdefault(key, set()).update(rule["verbs"])
        assert granted == {k: set(v) for k, v in ROLES[name].items()}, name


def test_no_role_grants_wildcards_or_cluster_scope():
    for d in load_paths([RBAC]):
        assert d.kind in ("Role", "RoleBinding"), f"{d.kind}/{d.name}: only namespaced RBAC belongs here"
        for rule in (d.data.get("rules") or []):
            assert "*" not in rule["verbs"] and "*" not in rule["resources"], f"{d.name}: wildcard rule {rule}"


def test_a_refused_patch_of_rayclusters_names_the_cluster_admin_role():
    assert role_granting("patch", "rayclusters.ray.io") == "raytrain-cluster-admin"
    assert role_granting("create", "pods/portforward") == "raytrain-submitter"
    assert role_granting("escalate", "roles.rbac.authorization.k8s.io") is None
