"""Reading manifests: files, multi-document YAML, directories, kustomize, job specs among them."""

from __future__ import annotations

import pytest

from tests.unit.manifests_support import REPO
from raytrain.errors import ManifestError
from raytrain.manifests import documents
from raytrain.manifests.documents import load_paths
from raytrain.manifests.validate import validate_paths


def test_multi_document_file_keeps_document_indexes(tmp_path):
    f = tmp_path / "two.yaml"
    f.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n")
    docs = load_paths([f])
    assert [(d.index, d.name) for d in docs] == [(0, "a"), (2, "b")]


def test_directory_is_walked_and_kustomize_dirs_are_rendered():
    docs = load_paths([REPO / "clusters"])
    sources = {d.source.split("clusters/", 1)[1] for d in docs}
    assert sources == {"base", "overlays/dev", "overlays/prod", "overlays/staging", "rbac", "monitoring"}


def test_kustomize_dir_needs_kubectl_or_kustomize(monkeypatch):
    monkeypatch.setattr(documents.shutil, "which", lambda name: None)
    with pytest.raises(ManifestError, match="neither kubectl nor kustomize is installed") as info:
        load_paths([REPO / "clusters/overlays/prod"])
    assert "kubectl kustomize" in info.value.hint


def test_missing_path_is_a_user_error():
    with pytest.raises(ManifestError, match="nope.yaml: no such file or directory"):
        load_paths(["nope.yaml"])


def test_yaml_syntax_error_is_a_finding_with_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("apiVersion: v1\nkind: [\n")
    [finding] = validate_paths([f])
    assert finding.rule == "yaml" and "line" in finding.message and finding.format().startswith(f"{f}[0]: ")


def test_valid_job_spec_among_paths_has_no_findings():
    assert validate_paths([REPO / "jobs/digits.yaml"]) == []


def test_invalid_job_spec_becomes_a_finding(tmp_path):
    spec = tmp_path / "job.yaml"
    spec.write_text("name: x\ntrain: {task: digits, epochs: 0}\n")
    [finding] = validate_paths([spec])
    assert finding.rule == "job-spec"
    assert finding.format().startswith(f"{spec}: train.epochs: ")


def test_set_overrides_apply_to_job_specs():
    [finding] = validate_paths([REPO / "jobs/digits.yaml"], overrides=["scaling.workers=0"])
    assert finding.rule == "job-spec" and "scaling.workers" in finding.message


def test_mapping_that_is_neither_object_nor_spec_is_reported(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("foo: 1\n")
    [finding] = validate_paths([f])
    assert "neither a Kubernetes object" in finding.message
