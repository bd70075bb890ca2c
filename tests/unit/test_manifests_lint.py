"""Each lint rule on its own, on top of the (lint-clean) base cluster."""

from __future__ import annotations

import pytest

from tests.unit.manifests_support import base_cluster, base_pvc
from raytrain.errors import ManifestError
from raytrain.manifests.documents import Document
from raytrain.manifests.lint import RULES, lint_documents
from raytrain.manifests.validate import validate_paths


def _lint(cluster: dict, *extra: dict, skip=()) -> list:
    docs = [Document("c.yaml", 0, cluster), Document("c.yaml", 1, base_pvc())]
    docs += [Document("c.yaml", 2 + i, d) for i, d in enumerate(extra)]
    return lint_documents(docs, skip=skip)


def _worker(c, i):
    return c["spec"]["workerGroupSpecs"][i]


def _ray(c, i):
    return _worker(c, i)["template"]["spec"]["containers"][0]


def _head_ray(c):
    return c["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]


def test_base_cluster_is_lint_clean():
    assert _lint(base_cluster()) == []


def _nodeport_service(c):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dash"},
            "spec": {"type": "NodePort", "selector": {"ray.io/cluster": "raytrain"}, "ports": [{"port": 8265}]}}


def _set(fn):
    def mutate(c):
        fn(c)
        return ()
    return mutate


CASES = {
    "replicas-range": _set(lambda c: _worker(c, 0).update(minReplicas=5, maxReplicas=4)),
    "gpu-toleration": _set(lambda c: _worker(c, 1)["template"]["spec"].pop("tolerations")),
    "gpu-requests-limits": _set(lambda c: _ray(c, 2)["resources"]["requests"].update({"nvidia.com/gpu": "4"})),
    "checkpoint-mount": _set(lambda c: _ray(c, 2).update(volumeMounts=[{"name": "dshm", "mountPath": "/dev/shm"}])),
    "head-resources": _set(lambda c: c["spec"]["headGroupSpec"]["rayStartParams"].update({"num-cpus": "4"})),
    "ray-version": _set(lambda c: c["spec"].update(rayVersion="2.9.0")),
    "autoscaling-off": _set(lambda c: c["spec"].update(enableInTreeAutoscaling=False)),
    "num-gpus-mismatch": _set(lambda c: _worker(c, 2)["rayStartParams"].update({"num-gpus": "4"})),
    "dev-shm": _set(lambda c: _head_ray(c).update(volumeMounts=[{"name": "checkpoints", "mountPath": "/mnt/checkpoints"}])),
    "dashboard-exposed": lambda c: (c["spec"].pop("authOptions"), (_nodeport_service(c),))[1],
}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires_alone_and_can_be_skipped(rule_id):
    cluster = base_cluster()
    extra = CASES[rule_id](cluster)
    findings = _lint(cluster, *extra)
    assert findings, f"{rule_id} did not fire"
    assert {f.rule for f in findings} == {rule_id}, [f.format() for f in findings]
    assert all(f.severity == RULES[rule_id].severity and f.fix == RULES[rule_id].fix for f in findings)
    assert _lint(cluster, *extra, skip=[rule_id]) == []


def test_checkpoint_claim_not_rwx_points_at_the_claim():
    pvc = base_pvc()
    pvc["spec"]["accessModes"] = ["ReadWriteOnce"]
    docs = [Document("c.yaml", 0, base_cluster()), Document("c.yaml", 1, pvc)]
    [finding] = lint_documents(docs)
    assert (finding.rule, finding.kind, finding.index, finding.path) == ("checkpoint-rwx", "PersistentVolumeClaim", 1, "spec.accessModes")


def test_every_rule_has_a_case():
    assert set(RULES) == set(CASES) | {"checkpoint-rwx"}


def test_lint_applies_to_a_rayjob_cluster_spec():
    rayjob = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "j"},
              "spec": {"entrypoint": "x", "rayClusterSpec": base_cluster()["spec"]}}
    rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"] = 9
    findings = lint_documents([Document("j.yaml", 0, rayjob)])
    assert [(f.rule, f.path) for f in findings] == [("replicas-range", "spec.rayClusterSpec.workerGroupSpecs[0].replicas")]


def test_unknown_skip_id_is_a_user_error_with_a_suggestion():
    with pytest.raises(ManifestError, match="--skip dev-shn: no such rule") as info:
        validate_paths(["clusters/base/pvc.yaml"], skip=["dev-shn"])
    assert "dev-shm" in info.value.hint
