"""Reading worker groups from RayCluster YAML and planning the mirror's node types (no Ray)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from raytrain.errors import MirrorError
from raytrain.local.manifest import read_manifest
from raytrain.local.mirror import HEAD_TYPE, autoscaling_config, parse_group_overrides, plan_node_types

MANIFESTS = Path(__file__).resolve().parent.parent / "integration" / "manifests"
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "kuberay" / "samples"


def test_worker_groups_replicas_and_limits_are_read():
    m = read_manifest(MANIFESTS / "mirror-small.yaml")
    assert m.name == "mirror-small"
    assert [(g.name, g.min_replicas, g.max_replicas, g.cpus, g.gpus) for g in m.groups] == [
        ("cpu", 1, 2, 8.0, 0),
        ("gpu-1x", 0, 2, 8.0, 1),
    ]
    assert m.idle_timeout_s == 10
    assert m.checkpoint_mount == "/mnt/checkpoints"


def test_cpus_scale_to_the_machine_and_gpus_stay_logical():
    m = read_manifest(MANIFESTS / "mirror-small.yaml")
    types, scale = plan_node_types(m, machine_cpus=2)
    assert scale == 0.25
    assert [(t.group, t.cpus, t.gpus) for t in types] == [("cpu", 2, 0), ("gpu-1x", 2, 1)]
    types, _ = plan_node_types(m, scale=0.1)
    assert [t.cpus for t in types] == [1, 1], "a group with CPUs keeps at least one"


def test_group_overrides_replace_cpus_gpus_min_max():
    m = read_manifest(MANIFESTS / "mirror-small.yaml")
    types, _ = plan_node_types(m, scale=1, overrides=parse_group_overrides(["gpu-1x:cpus=1,gpus=2,min=0,max=3"]))
    gpu = types[1]
    assert (gpu.cpus, gpu.gpus, gpu.min_workers, gpu.max_workers) == (1, 2, 0, 3)


@pytest.mark.parametrize("flag, fix", [
    ("gpu-1x", "NAME:key=value"),
    ("gpu-1x:cpu=1", "cpus=, gpus=, min= or max="),
    ("gpu-1x:cpus=x", "whole number"),
])
def test_bad_group_flags_say_how_to_write_them(flag, fix):
    with pytest.raises(MirrorError) as err:
        parse_group_overrides([flag])
    assert fix in str(err.value)
    assert err.value.exit_code == 2


def test_unknown_group_names_the_known_ones():
    m = read_manifest(MANIFESTS / "mirror-small.yaml")
    with pytest.raises(MirrorError, match="groups are: cpu, gpu-1x"):
        plan_node_types(m, overrides={"gpu-8x": {"cpus": 1}})


def test_autoscaling_config_head_has_no_training_resources():
    m = read_manifest(MANIFESTS / "mirror-small.yaml")
    types, _ = plan_node_types(m, machine_cpus=2)
    cfg = autoscaling_config("m", types, "127.0.0.1:1234", idle_timeout_s=30)
    head = cfg["available_node_types"][HEAD_TYPE]
    assert head["resources"] == {"CPU": 0} and head["max_workers"] == 0
    assert cfg["available_node_types"]["gpu-1x"]["resources"]["GPU"] == 1
    assert cfg["available_node_types"]["cpu"]["min_workers"] == 1
    assert cfg["provider"]["type"] == "fake_multinode"
    assert cfg["provider"]["disable_node_updaters"] is True, "else every fake node 'fails to launch'"
    assert cfg["idle_timeout_minutes"] == 0.5


def test_missing_manifest_and_no_raycluster_are_clear(tmp_path):
    with pytest.raises(MirrorError, match="no such file"):
        read_manifest(tmp_path / "nope.yaml")
    (tmp_path / "cm.yaml").write_text("kind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(MirrorError, match="no RayCluster"):
        read_manifest(tmp_path / "cm.yaml")


def test_kustomize_directory_is_rendered(tmp_path):
    if not (shutil.which("kubectl") or shutil.which("kustomize")):
        pytest.fail("kubectl or kustomize is needed to render a kustomize dir; install kubectl")
    base = tmp_path / "base"
    base.mkdir()
    shutil.copy(MANIFESTS / "mirror-small.yaml", base / "raycluster.yaml")
    (base / "kustomization.yaml").write_text("resources: [raycluster.yaml]\n")
    overlay = tmp_path / "dev"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "resources: [../base]\n"
        "patches:\n"
        "- target: {kind: RayCluster}\n"
        "  patch: |-\n"
        "    - op: replace\n"
        "      path: /spec/workerGroupSpecs/1/maxReplicas\n"
        "      value: 5\n"
    )
    m = read_manifest(overlay)
    assert m.groups[1].max_replicas == 5


def test_upstream_autoscaler_sample_is_read():
    sample = SAMPLES / "ray-cluster.autoscaler.yaml"
    if not sample.exists():
        pytest.fail(f"{sample} is missing: the shared KubeRay samples (../shared/kuberay) are needed")
    m = read_manifest(sample)
    assert [(g.name, g.min_replicas, g.max_replicas, g.cpus) for g in m.groups] == [("small-group", 0, 10, 1.0)]
    assert m.idle_timeout_s == 60
