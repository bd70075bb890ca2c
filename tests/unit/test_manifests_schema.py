"""Schema validation: the shipped CRD schemas, every upstream sample, the hand-broken manifests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.unit.manifests_support import REPO, kuberay_dir
from raytrain.errors import ManifestError
from raytrain.manifests import crds
from raytrain.manifests.documents import load_paths
from raytrain.manifests.schema import cel_eval, resolve_kubernetes_version, validate_object
from raytrain.manifests.validate import validate_paths

RAY_KINDS = ("RayCluster", "RayJob", "RayService")
BROKEN = REPO / "tests/unit/data/manifests/broken"
# Upstream samples that are wrong by the CRD, with the reason. None at this KubeRay commit.
SAMPLE_EXCEPTIONS: dict[str, str] = {}


def test_shipped_schemas_equal_the_crds_in_shared():
    crd_dir = kuberay_dir() / "crds"
    for kind, (filename, crd_name) in crds.CRD_KINDS.items():
        shipped = (REPO / "raytrain/manifests/schemas" / filename).read_bytes()
        assert shipped == crds.encode(crds.extract(crd_dir / crd_name)), (
            f"{filename} differs from {crd_name}; run python -m raytrain.manifests.crds {crd_dir}"
        )


def test_attribution_names_the_kuberay_commit_and_license():
    source = (kuberay_dir() / "SOURCE.md").read_text()
    commit = re.search(r"Commit: `([0-9a-f]{40})`", source).group(1)
    attribution = (REPO / "raytrain/manifests/schemas/ATTRIBUTION.md").read_text()
    assert commit in attribution
    assert "Apache License, Version 2.0" in attribution
    assert "https://github.com/ray-project/kuberay" in attribution


def _sample_files() -> list[Path]:
    samples = kuberay_dir() / "samples"
    return sorted(p for p in samples.rglob("*.yaml"))


def test_every_kuberay_sample_passes_the_schema_check():
    checked = 0
    failures = []
    for path in _sample_files():
        rel = path.relative_to(kuberay_dir() / "samples").as_posix()
        for doc in load_paths([path]):
            assert doc.error is None, f"{rel}: {doc.error}"
            if doc.kind not in RAY_KINDS:
                continue
            checked += 1
            problems = validate_object(doc.data, "1.32")
            if problems and rel not in SAMPLE_EXCEPTIONS:
                failures.append(f"{rel}[{doc.index}] {doc.kind}/{doc.name}: {problems}")
    assert not failures, "\n".join(failures)
    assert checked >= 60, f"only {checked} RayCluster/RayJob/RayService samples found under ../shared"


def test_core_kinds_of_the_samples_pass_kubernetes_schemas():
    """At the newest Kubernetes version known (StatefulSet.spec.serviceName was required until 1.32)."""
    version = resolve_kubernetes_version(None)
    failures = []
    for path in _sample_files():
        for doc in load_paths([path]):
            if doc.kind in RAY_KINDS or doc.kind == "RayCronJob":
                continue
            problems = validate_object(doc.data, version)
            if problems:
                failures.append(f"{path.name}[{doc.index}] {doc.kind}: {problems}")
    assert not failures, "\n".join(failures)


def _expectations(path: Path) -> list[tuple[str | None, str, str]]:
    out = []
    for line in path.read_text().splitlines():
        m = re.match(r"^# expect: (?:([A-Z]\w+) )?(\S+) \[(\S+)\]$", line)
        if m:
            out.append(m.groups())
    return out


@pytest.mark.parametrize("path", sorted(BROKEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_broken_manifest_fails_with_the_expected_path_and_rule(path):
    expected = _expectations(path)
    assert expected, f"{path.name} has no '# expect: PATH [RULE]' line"
    findings = [f for f in validate_paths([path]) if f.severity != "info"]
    got = {(f.kind, f.path, f.rule) for f in findings}
    for kind, json_path, rule in expected:
        assert any(p == json_path and r == rule and (kind is None or k == kind) for k, p, r in got), (
            f"{path.name}: expected {json_path} [{rule}], got {sorted(got, key=str)}"
        )
    extra = {(p, r) for _, p, r in got} - {(p, r) for _, p, r in expected}
    assert not extra, f"{path.name}: unexpected findings {extra}"


def test_the_valid_train_cluster_has_no_findings():
    findings = validate_paths([REPO / "tests/unit/data/manifests/train-cluster.yaml"])
    assert findings == []


def test_error_line_reads_file_doc_kind_name_path_message():
    path = "tests/unit/data/manifests/broken/unknown-field.yaml"
    [finding] = validate_paths([path])
    assert finding.format() == (
        f"{path}[0] RayCluster/train: spec.workerGroupSpecs[0].replica: unknown field; did you mean 'replicas'?"
    )


def test_lint_finding_line_ends_with_its_rule_id():
    path = "tests/unit/data/manifests/broken/negative-max-replicas.yaml"
    [finding] = validate_paths([path])
    assert finding.format() == f"{path}[0] RayCluster/train: spec.workerGroupSpecs[1].maxReplicas: -1 is negative [replicas-range]"
    assert finding.fix


def _cluster() -> dict:
    return next(yaml.safe_load_all((REPO / "tests/unit/data/manifests/train-cluster.yaml").read_text()))


def test_defaulted_required_fields_count_as_present():
    doc = _cluster()
    del doc["spec"]["workerGroupSpecs"][0]["minReplicas"]  # required, default 0
    del doc["spec"]["workerGroupSpecs"][0]["maxReplicas"]
    assert validate_object(doc, "1.32") == []


def test_null_values_are_pruned_like_the_api_server_does():
    doc = _cluster()
    doc["spec"]["suspend"] = None
    assert validate_object(doc, "1.32") == []


def test_metadata_name_is_required_and_checked():
    doc = _cluster()
    doc["metadata"] = {"name": "Train_1"}
    assert validate_object(doc, "1.32") == [("metadata.name", "'Train_1' is not a valid name; use lowercase letters, digits and '-'")]
    doc["metadata"] = {}
    assert validate_object(doc, "1.32") == [("metadata.name", "required field is missing")]


def test_int_or_string_accepts_both_and_rejects_others():
    doc = _cluster()
    limits = doc["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]["limits"]
    limits["cpu"] = 4
    assert validate_object(doc, "1.32") == []
    limits["cpu"] = [4]
    [(path, message)] = validate_object(doc, "1.32")
    assert path.endswith("resources.limits.cpu") and "integer or a string" in message


def test_v1alpha1_is_reported_not_silently_passed():
    doc = _cluster()
    doc["apiVersion"] = "ray.io/v1alpha1"
    [(path, message)] = validate_object(doc, "1.32")
    assert path == "apiVersion" and "v1alpha1" in message


def test_unknown_kind_is_not_validated_and_says_so():
    doc = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": {"name": "x"}, "spec": {}}
    assert validate_object(doc, "1.32") is None


@pytest.mark.parametrize(
    "rule, value, expected",
    [
        ("self in ['a', 'b']", "a", True),
        ("self in ['a', 'b']", "c", False),
        ("!((has(self.onSuccess) || has(self.onFailure)) && has(self.deletionRules))", {"onSuccess": {}, "deletionRules": []}, False),
        ("((has(self.onSuccess) && has(self.onFailure)) || has(self.deletionRules))", {"onSuccess": {}}, False),
        ("has(self.jobStatus) || has(self.jobDeploymentStatus)", {"jobStatus": "SUCCEEDED"}, True),
    ],
)
def test_cel_subset_evaluates_kuberay_rules(rule, value, expected):
    assert cel_eval(rule, value) is expected


def test_transition_rules_are_skipped_on_create():
    from raytrain.manifests.schema import _Skip

    with pytest.raises(_Skip):
        cel_eval("self == oldSelf", "x")


def test_kubernetes_version_picks_the_core_schemas_and_rejects_unknown_ones():
    path = BROKEN / "networkpolicy-typo.yaml"
    assert [f.rule for f in validate_paths([path], kubernetes_version="1.30")] == ["schema"]
    with pytest.raises(ManifestError, match="no schemas for that version"):
        validate_paths([path], kubernetes_version="1.2")


def test_core_schema_depends_on_the_kubernetes_version():
    sts = {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "redis"},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "redis"}]}}},
    }
    assert validate_object(sts, "1.32") == [("spec.serviceName", "required field is missing")]
    assert validate_object(sts, resolve_kubernetes_version(None)) == []


def test_missing_shared_dir_fails_loudly(monkeypatch, tmp_path):
    import tests.unit.manifests_support as manifests_support

    monkeypatch.setattr(manifests_support, "KUBERAY", tmp_path / "absent")
    with pytest.raises(pytest.fail.Exception, match="is missing: these tests need KubeRay's CRDs"):
        manifests_support.kuberay_dir()
