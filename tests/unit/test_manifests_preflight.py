"""Preflight: does a job fit a cluster? One behaviour per test."""

from __future__ import annotations

import yaml

from tests.unit.manifests_support import REPO, base_cluster, base_pvc
from raytrain.manifests.preflight import preflight
from raytrain.spec import validate_spec


def _spec(**scaling) -> object:
    return validate_spec({"name": "t", "train": {"task": "digits", "max_steps": 10}, "scaling": scaling})


def _write(tmp_path, cluster=None, pvc=None):
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump_all([cluster or base_cluster(), pvc or base_pvc()]))
    return path


def _by_id(checks) -> dict:
    return {c.id: c for c in checks}


def _small_workdir(tmp_path):
    d = tmp_path / "wd"
    d.mkdir(exist_ok=True)
    (d / "train.py").write_text("print(1)\n")
    return d


def test_small_job_fits_the_prod_overlay(tmp_path):
    checks = _by_id(preflight(_spec(workers=2), REPO / "clusters/overlays/prod", working_dir=_small_workdir(tmp_path)))
    assert {c.status for c in checks.values()} == {"PASS"}, checks
    assert set(checks) == {"fit", "storage", "claim-rwx", "upload", "ray-version", "autoscaling"}


def test_gpu_job_fits_the_gpu_groups(tmp_path):
    checks = _by_id(preflight(_spec(workers=24, use_gpu=True), _write(tmp_path), working_dir=_small_workdir(tmp_path)))
    assert checks["gpu"].status == "PASS" and checks["fit"].status == "PASS"
    assert "room for 24" in checks["fit"].message  # 8 × 1 + 2 × 8


def test_fixed_count_that_cannot_be_placed_fails(tmp_path):
    checks = _by_id(preflight(_spec(workers=25, use_gpu=True), _write(tmp_path), working_dir=_small_workdir(tmp_path)))
    assert checks["fit"].status == "FAIL" and "at most 24" in checks["fit"].message and checks["fit"].fix


def test_elastic_range_that_partly_fits_warns_with_the_reachable_max(tmp_path):
    checks = _by_id(preflight(_spec(workers=[4, 40], use_gpu=True), _write(tmp_path), working_dir=_small_workdir(tmp_path)))
    assert checks["fit"].status == "WARN" and "only 24" in checks["fit"].message


def test_gpu_job_on_a_cluster_without_gpus_fails(tmp_path):
    cluster = base_cluster()
    cluster["spec"]["workerGroupSpecs"] = cluster["spec"]["workerGroupSpecs"][:1]
    checks = _by_id(preflight(_spec(workers=1, use_gpu=True), _write(tmp_path, cluster), working_dir=_small_workdir(tmp_path)))
    assert checks["gpu"].status == "FAIL" and "gpu-1x" in checks["gpu"].fix
    assert checks["fit"].status == "FAIL"


def test_strict_pack_counts_one_pod_only(tmp_path):
    spec = _spec(workers=9, placement_strategy="STRICT_PACK", resources_per_worker={"CPU": 1})
    checks = _by_id(preflight(spec, _write(tmp_path), working_dir=_small_workdir(tmp_path)))
    assert checks["fit"].status == "PASS"  # gpu-8x pods have 96 CPUs
    spec = _spec(workers=97, placement_strategy="STRICT_PACK", resources_per_worker={"CPU": 1})
    assert _by_id(preflight(spec, _write(tmp_path), working_dir=_small_workdir(tmp_path)))["fit"].status == "FAIL"


def test_volume_missing_in_one_group_fails_naming_it(tmp_path):
    cluster = base_cluster()
    ray = cluster["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    ray["volumeMounts"] = [m for m in ray["volumeMounts"] if m["name"] != "checkpoints"]
    checks = _by_id(preflight(_spec(workers=2), _write(tmp_path, cluster), working_dir=_small_workdir(tmp_path)))
    assert checks["storage"].status == "FAIL" and checks["storage"].message.endswith("in: cpu")


def test_non_rwx_claim_fails(tmp_path):
    pvc = base_pvc()
    pvc["spec"]["accessModes"] = ["ReadWriteOnce"]
    checks = _by_id(preflight(_spec(workers=2), _write(tmp_path, pvc=pvc), working_dir=_small_workdir(tmp_path)))
    assert checks["claim-rwx"].status == "FAIL" and "ReadWriteOnce" in checks["claim-rwx"].message


def test_claim_outside_the_manifests_warns(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(base_cluster()))
    checks = _by_id(preflight(_spec(workers=2), path, working_dir=_small_workdir(tmp_path)))
    assert checks["claim-rwx"].status == "WARN"


def test_storage_path_outside_the_volume_fails(tmp_path):
    spec = validate_spec({"name": "t", "train": {"task": "digits", "max_steps": 1}, "checkpoint": {"storage_path": "/data/runs"}})
    checks = _by_id(preflight(spec, _write(tmp_path), working_dir=_small_workdir(tmp_path)))
    assert checks["storage"].status == "FAIL" and "/data/runs" in checks["storage"].message


def test_upload_too_big_fails_naming_the_biggest_and_the_excludes(tmp_path):
    wd = _small_workdir(tmp_path)
    (wd / "data").mkdir()
    with open(wd / "data" / "blob.bin", "wb") as f:  # sparse: fast to make, counts its full size
        f.truncate(120 * 2**20)
    (wd / ".git").mkdir()
    with open(wd / ".git" / "pack", "wb") as f:
        f.truncate(500 * 2**20)  # .git is excluded by default
    check = _by_id(preflight(_spec(workers=1), _write(tmp_path), working_dir=wd))["upload"]
    assert check.status == "FAIL"
    assert "data/blob.bin" in check.message and "data/" in check.fix


def test_gitignored_and_excluded_files_do_not_count(tmp_path):
    wd = _small_workdir(tmp_path)
    with open(wd / "big.ckpt", "wb") as f:
        f.truncate(150 * 2**20)
    (wd / ".gitignore").write_text("*.ckpt\n")
    assert _by_id(preflight(_spec(workers=1), _write(tmp_path), working_dir=wd))["upload"].status == "PASS"


def test_other_ray_version_fails(tmp_path):
    cluster = base_cluster()
    cluster["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"] = "rayproject/ray:2.41.0"
    check = _by_id(preflight(_spec(workers=1), _write(tmp_path, cluster), working_dir=_small_workdir(tmp_path)))["ray-version"]
    assert check.status == "FAIL" and "cpu: 2.41.0" in check.message
