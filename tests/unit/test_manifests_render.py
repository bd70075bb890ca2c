"""RayJob rendering: golden files for every job spec in jobs/, and each option on its own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.unit.manifests_support import REPO
from raytrain.errors import ManifestError
from raytrain.manifests.documents import is_job_spec
from raytrain.manifests.render import render_rayjob, render_text
from raytrain.manifests.schema import validate_object
from raytrain.spec import JobSpec, load_spec

GOLDEN_SELECTOR = "raytrain"  # the RayCluster of clusters/base


def job_specs() -> list[Path]:
    """Every job spec under jobs/ (not the rendered RayJobs)."""
    found = []
    for path in sorted((REPO / "jobs").rglob("*.yaml")):
        rel = path.relative_to(REPO / "jobs")
        if rel.parts[0] == "rendered":
            continue
        if is_job_spec(yaml.safe_load(path.read_text())):
            found.append(path)
    return found


def golden_for(spec_path: Path) -> Path:
    rel = spec_path.relative_to(REPO / "jobs")
    return REPO / "jobs/rendered" / rel.with_suffix(".rayjob.yaml")


def test_jobs_dir_has_the_example_specs():
    names = [p.relative_to(REPO).as_posix() for p in job_specs()]
    assert "jobs/digits.yaml" in names


@pytest.mark.parametrize("spec_path", job_specs(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_golden_rayjob_is_in_sync(spec_path, monkeypatch):
    monkeypatch.chdir(REPO)
    rel = spec_path.relative_to(REPO).as_posix()
    text = render_text(rel, cluster_selector=GOLDEN_SELECTOR)
    golden = golden_for(spec_path)
    if os.environ.get("RAYTRAIN_UPDATE_GOLDENS") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.is_file(), (
        f"{golden.relative_to(REPO)} is missing; run: raytrain job render {rel} --cluster-selector "
        f"{GOLDEN_SELECTOR} -o {golden.relative_to(REPO)}  (or RAYTRAIN_UPDATE_GOLDENS=1 pytest {Path(__file__).name})"
    )
    assert golden.read_text() == text, (
        f"{golden.relative_to(REPO)} is out of date with {rel}; re-render it (RAYTRAIN_UPDATE_GOLDENS=1 pytest {Path(__file__).name})"
    )


def test_no_golden_without_a_spec():
    wanted = {golden_for(p) for p in job_specs()}
    stale = [p for p in (REPO / "jobs/rendered").rglob("*.rayjob.yaml") if p not in wanted]
    assert not stale, f"rendered RayJobs without a job spec: {stale}"


@pytest.fixture
def digits() -> JobSpec:
    return load_spec(REPO / "jobs/digits.yaml")


def _runtime_env(job: dict) -> dict:
    return yaml.safe_load(job["spec"]["runtimeEnvYAML"])


def test_selector_render_targets_the_running_cluster(digits):
    job = render_rayjob(digits, "jobs/digits.yaml", cluster_selector="raytrain")
    spec = job["spec"]
    assert spec["entrypoint"] == "python -m raytrain.run jobs/digits.yaml"
    assert spec["clusterSelector"] == {"ray.io/cluster": "raytrain"}
    assert spec["submissionMode"] == "K8sJobMode"
    assert spec["backoffLimit"] == 2 and spec["activeDeadlineSeconds"] == 86400
    assert "shutdownAfterJobFinishes" not in spec and "rayClusterSpec" not in spec
    assert _runtime_env(job)["env_vars"]["RAYTRAIN_STORAGE_PATH"] == "/mnt/checkpoints"
    assert validate_object(job, "1.32") == []


def test_cluster_render_embeds_the_cluster_and_shuts_it_down(digits):
    job = render_rayjob(digits, "jobs/digits.yaml", cluster_path=REPO / "clusters/overlays/prod", ttl_after_finished_s=60)
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] == 60
    assert [g["groupName"] for g in spec["rayClusterSpec"]["workerGroupSpecs"]] == ["cpu", "gpu-1x", "gpu-8x"]
    assert job["metadata"]["namespace"] == "raytrain-prod"
    assert validate_object(job, "1.32") == []


def test_resolved_spec_travels_with_the_job(digits):
    job = render_rayjob(digits, "jobs/digits.yaml", cluster_selector="raytrain")
    notes = job["metadata"]["annotations"]
    assert JobSpec.model_validate(json.loads(notes["raytrain.dev/resolved-spec"])) == digits
    assert notes["raytrain.dev/spec-path"] == "jobs/digits.yaml"
    assert _runtime_env(job)["env_vars"]["RAYTRAIN_SPEC_HASH"] == notes["raytrain.dev/spec-hash"]


def test_runtime_env_carries_pip_env_vars_and_working_dir_excludes(digits):
    spec = digits.model_copy(deep=True)
    spec.runtime_env.pip = ["einops==0.8.0"]
    spec.runtime_env.env_vars = {"A": "1"}
    spec.runtime_env.working_dir_excludes = ["data/"]
    job = render_rayjob(spec, "jobs/digits.yaml", cluster_selector="c", working_dir="https://example.com/repo.zip")
    env = _runtime_env(job)
    assert env["working_dir"] == "https://example.com/repo.zip"
    assert env["excludes"] == [".git", ".venv", ".raytrain", "data/"]
    assert env["pip"] == ["einops==0.8.0"]
    assert env["env_vars"]["A"] == "1"


def test_absolute_storage_path_of_the_spec_is_kept(digits):
    spec = digits.model_copy(deep=True)
    spec.checkpoint.storage_path = "/mnt/checkpoints/team-a"
    assert _runtime_env(render_rayjob(spec, "j.yaml", cluster_selector="c"))["env_vars"]["RAYTRAIN_STORAGE_PATH"] == "/mnt/checkpoints/team-a"
    spec.checkpoint.storage_path = "./.raytrain/storage"  # a laptop path: the volume wins on the cluster
    assert _runtime_env(render_rayjob(spec, "j.yaml", cluster_selector="c"))["env_vars"]["RAYTRAIN_STORAGE_PATH"] == "/mnt/checkpoints"


def test_http_mode_is_an_option(digits):
    assert render_rayjob(digits, "j.yaml", cluster_selector="c", submission_mode="HTTPMode")["spec"]["submissionMode"] == "HTTPMode"


@pytest.mark.parametrize(
    "options, message",
    [
        ({}, "exactly one of --cluster-selector"),
        ({"cluster_selector": "a", "cluster_path": "b"}, "exactly one of --cluster-selector"),
        ({"cluster_selector": "a", "working_dir": "."}, "cannot upload a local directory"),
        ({"cluster_selector": "a", "submission_mode": "Nope"}, "--submission-mode Nope: unknown"),
    ],
)
def test_bad_render_options_are_user_errors(digits, options, message):
    with pytest.raises(ManifestError, match=message):
        render_rayjob(digits, "jobs/digits.yaml", **options)
