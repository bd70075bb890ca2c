"""clusters/: the base and overlays render offline, validate clean, and fit their quotas."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.unit.manifests_support import REPO
from raytrain.manifests.cluster import RAY_VERSION, image_ray_version, read_cluster
from raytrain.manifests.quantity import parse_quantity
from raytrain.manifests.validate import validate_paths

OVERLAYS = ["dev", "staging", "prod"]


def _render(path: str) -> list[dict]:
    proc = subprocess.run(["kubectl", "kustomize", str(REPO / path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"kubectl kustomize {path} failed: {proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.mark.parametrize("path", ["clusters/base", *(f"clusters/overlays/{o}" for o in OVERLAYS)])
def test_renders_and_validates_without_errors_or_warnings(path):
    findings = [f.format() for f in validate_paths([REPO / path]) if f.severity != "info"]
    assert findings == [], "\n".join(findings)


def test_prod_renders_offline_with_kubectl_kustomize():
    kinds = sorted(d["kind"] for d in _render("clusters/overlays/prod"))
    assert kinds == ["LimitRange", "Namespace", "NetworkPolicy", "PersistentVolumeClaim", "PodMonitor", "RayCluster", "ResourceQuota"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_sets_namespace_and_pins_ray(overlay):
    docs = _render(f"clusters/overlays/{overlay}")
    rc = next(d for d in docs if d["kind"] == "RayCluster")
    cluster = read_cluster(rc)
    assert cluster.namespace == f"raytrain-{overlay}"
    assert all(d["metadata"].get("namespace") == f"raytrain-{overlay}" for d in docs if d["kind"] != "Namespace")
    assert {image_ray_version(g.image) for g in cluster.groups} == {RAY_VERSION}
    assert cluster.auth_mode == "token" and cluster.autoscaling and cluster.head.ray_resources["CPU"] == 0


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_quota_holds_the_cluster_at_its_largest(overlay):
    docs = _render(f"clusters/overlays/{overlay}")
    cluster = read_cluster(next(d for d in docs if d["kind"] == "RayCluster"))
    hard = next(d for d in docs if d["kind"] == "ResourceQuota")["spec"]["hard"]
    autoscaler = {"cpu": 0.5, "memory": 512 * 2**20}
    total = {"cpu": autoscaler["cpu"], "memory": autoscaler["memory"], "nvidia.com/gpu": 0.0}
    for g in cluster.groups:
        for key in total:
            total[key] += g.max_pods * g.limits.get(key, 0.0)
    assert total["cpu"] <= parse_quantity(hard["limits.cpu"]), (overlay, total)
    assert total["memory"] <= parse_quantity(hard["limits.memory"]), (overlay, total)
    assert total["nvidia.com/gpu"] <= parse_quantity(hard["requests.nvidia.com/gpu"]), (overlay, total)
    pvc = next(d for d in docs if d["kind"] == "PersistentVolumeClaim")
    assert parse_quantity(pvc["spec"]["resources"]["requests"]["storage"]) <= parse_quantity(hard["requests.storage"])


def test_base_groups_have_the_promised_shape():
    cluster = read_cluster(yaml.safe_load((REPO / "clusters/base/raycluster.yaml").read_text()))
    assert [g.name for g in cluster.workers] == ["cpu", "gpu-1x", "gpu-8x"]
    assert [g.gpus for g in cluster.workers] == [0, 1, 8]
    for g in cluster.groups:
        assert g.limits == g.requests, g.name
        assert g.mount_at("/mnt/checkpoints").claim == "raytrain-checkpoints", g.name
    for g in cluster.workers[1:]:
        assert "nvidia.com/gpu.product" in g.node_selector and g.labels["ray.io/accelerator-type"] == "H100"
    assert cluster.head.service_type == "ClusterIP"


def test_network_policy_opens_dashboard_only_to_labelled_namespaces():
    policy = yaml.safe_load((REPO / "clusters/base/networkpolicy.yaml").read_text())
    rules = policy["spec"]["ingress"]
    dashboard = [r for r in rules if any(p["port"] == 8265 for p in r.get("ports", []))]
    assert len(dashboard) == 1
    assert dashboard[0]["from"] == [{"namespaceSelector": {"matchLabels": {"raytrain.dev/client": "true"}}}]
    open_rules = [r for r in rules if "ports" not in r]
    assert open_rules == [{"from": [{"podSelector": {"matchLabels": {"ray.io/cluster": "raytrain"}}}]}]
