"""The Kubernetes layer against kmock's emulated API server over real HTTP, through kr8s."""

from __future__ import annotations

import base64
import copy
import json

import pytest
import yaml

from raytrain import cli
from raytrain.errors import ClusterNotReady, KubeConfigError, KubeForbidden, KubeRayMissing, KubeUnreachable
from raytrain.kube import clusters, forward, jobs
from raytrain.kube.client import FIELD_MANAGER, Target, check_kubeconfig
from raytrain.kube.objects import ClusterState, JobState, cluster_state, job_state
from tests.kube.support import Operator, write_kubeconfig
from tests.unit.manifests_support import REPO

DEV = str(REPO / "clusters/overlays/dev")
RC = "ray.io/v1/rayclusters"


def rendered(path=DEV):
    from raytrain.manifests.documents import load_paths
    return {f"{d.kind}/{d.name}": d.data for d in load_paths([path])}


def apply(server, paths=(DEV,), lines=None, **kw):
    out = [] if lines is None else lines
    return clusters.run(server.target(namespace=None), lambda c: c.apply(list(paths), **kw), echo=out.append, poll_s=0.01)


def with_kube_commands(monkeypatch):
    """Until raytrain.cli lists raytrain.kube.commands itself."""
    if "raytrain.kube.commands" not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", [*cli.COMMAND_MODULES, "raytrain.kube.commands"])


def cli_main(monkeypatch, capsys, *argv):
    with_kube_commands(monkeypatch)
    code = cli.main(list(argv))
    return code, capsys.readouterr()


def bad_image(spec_of_rc):
    return "nope" in json.dumps(spec_of_rc["spec"])


def test_apply_creates_every_object_exactly_as_rendered_with_field_manager(server):
    with Operator(server):
        result = apply(server, timeout_s=5)
    assert result.state == "ready"
    em = server.emulator
    for key, obj in rendered().items():
        kind, name = key.split("/")
        if kind == "Namespace":
            assert em.namespaces[name] == obj
            continue
        plural = {"PersistentVolumeClaim": "persistentvolumeclaims", "ResourceQuota": "resourcequotas", "LimitRange": "limitranges",
                  "PodMonitor": "podmonitors", "NetworkPolicy": "networkpolicies", "RayCluster": "rayclusters"}[kind]
        live = em.get(plural, "raytrain-dev", name)
        assert live is not None, f"{key} was not created"
        live["metadata"].pop("generation", None)
        live.pop("status", None)
        assert live == obj, f"{key} differs from the rendered manifest"
    patches = [(p, ct) for m, p, ct in em.log if m == "PATCH" and "/status" not in p]
    assert all(ct == "application/apply-patch+yaml" for _, ct in patches), patches
    applied = [r for r in em.requests if r.method == "PATCH" and "apply-patch" in (r.headers.get("Content-Type") or "")]
    assert applied and all(r.params.get("fieldManager") == FIELD_MANAGER for r in applied)


def test_namespace_and_claim_are_applied_before_the_raycluster(server):
    with Operator(server):
        apply(server, timeout_s=5)
    order = [p for m, p, _ in server.emulator.log if m == "PATCH" and "/status" not in p and "configmaps" not in p]
    assert order[0] == "/api/v1/namespaces/raytrain-dev"
    assert "persistentvolumeclaims" in order[1]
    assert order[-1].endswith("/rayclusters/raytrain")


def test_second_apply_changes_nothing(server):
    with Operator(server):
        apply(server, timeout_s=5)
        before = server.emulator.get("rayclusters", "raytrain-dev", "raytrain")
        n_patches = sum(1 for m, p, _ in server.emulator.log if m == "PATCH")
        lines = []
        result = apply(server, lines=lines, timeout_s=5)
    assert result.changed == [] and len(result.unchanged) == 7
    assert server.emulator.get("rayclusters", "raytrain-dev", "raytrain") == before
    assert sum(1 for m, p, _ in server.emulator.log if m == "PATCH" and "/status" not in p) == n_patches - 1  # minus the operator's status patches
    assert "RayCluster/raytrain unchanged" in lines


def test_wait_follows_conditions_from_provisioning_to_ready_with_a_status_line(server):
    lines = []
    with Operator(server, delay_s=0.1):
        result = apply(server, lines=lines, timeout_s=5)
    assert result.state == "ready"
    status = [line for line in lines if line.startswith("raytrain: ")]
    assert status[0].startswith("raytrain: provisioning | head not ready")
    assert status[-1] == "raytrain: ready | head ready | cpu 0/0 | gpu-1x 0/0 | gpu-8x 0/0"
    cm = server.emulator.get("configmaps", "raytrain-dev", "raytrain-raytrain-last-good")
    assert json.loads(cm["data"]["raycluster.json"])["spec"] == rendered()["RayCluster/raytrain"]["spec"]


def test_replica_failure_rolls_back_to_the_last_good_spec_and_reports_pod_events(server, tmp_path):
    good = rendered()["RayCluster/raytrain"]
    bad = copy.deepcopy(good)
    bad["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"] = "rayproject/ray:nope"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with Operator(server, decide=lambda rc: "fail" if bad_image(rc) else "ready"):
        apply(server, timeout_s=5)
        with pytest.raises(ClusterNotReady) as err:
            apply(server, paths=[str(tmp_path / "bad.yaml")], timeout_s=5)
    message = err.value.message
    assert "ReplicaFailure" in message and "rolled back to the last ready spec: the rollback is ready" in message
    assert 'Failed to pull image "rayproject/ray:nope"' in message
    live = server.emulator.get("rayclusters", "raytrain-dev", "raytrain")
    assert live["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"] == "rayproject/ray:2.60.0-py311"


def test_no_rollback_keeps_the_failing_spec(server, tmp_path):
    bad = copy.deepcopy(rendered()["RayCluster/raytrain"])
    bad["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"] = "rayproject/ray:nope"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with Operator(server, decide=lambda rc: "fail" if bad_image(rc) else "ready"):
        apply(server, timeout_s=5)
        with pytest.raises(ClusterNotReady, match="--no-rollback"):
            apply(server, paths=[str(tmp_path / "bad.yaml")], timeout_s=5, rollback=False)
    live = server.emulator.get("rayclusters", "raytrain-dev", "raytrain")
    assert live["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"] == "rayproject/ray:nope"


def test_timeout_without_a_ready_spec_to_return_to_is_reported(server):
    with Operator(server, decide=lambda rc: "stuck"):
        with pytest.raises(ClusterNotReady) as err:
            apply(server, timeout_s=0.3)
    assert "not ready after 0.3 s" in err.value.message
    assert "no earlier ready spec is recorded" in err.value.message


def test_dry_run_shows_the_diff_and_changes_nothing(server, tmp_path):
    with Operator(server):
        apply(server, timeout_s=5)
    changed = copy.deepcopy(rendered()["RayCluster/raytrain"])
    changed["spec"]["workerGroupSpecs"][0]["maxReplicas"] = 3
    (tmp_path / "rc.yaml").write_text(yaml.safe_dump(changed))
    lines = []
    apply(server, paths=[str(tmp_path / "rc.yaml")], lines=lines, dry_run=True)
    text = "\n".join(lines)
    assert "-    maxReplicas: 2" in text and "+    maxReplicas: 3" in text
    assert server.emulator.get("rayclusters", "raytrain-dev", "raytrain")["spec"]["workerGroupSpecs"][0]["maxReplicas"] == 2


def test_delete_keeps_the_checkpoint_claim_unless_asked(server):
    with Operator(server):
        apply(server, timeout_s=5)
    done = clusters.run(server.target("raytrain-dev"), lambda c: c.delete("raytrain"), echo=lambda _: None)
    assert server.emulator.get("rayclusters", "raytrain-dev", "raytrain") is None
    assert server.emulator.get("persistentvolumeclaims", "raytrain-dev", "raytrain-checkpoints") is not None
    assert any("raytrain-checkpoints kept" in line for line in done)


def test_delete_volume_deletes_the_claim(server):
    with Operator(server):
        apply(server, timeout_s=5)
    clusters.run(server.target("raytrain-dev"), lambda c: c.delete("raytrain", delete_volume=True), echo=lambda _: None)
    assert server.emulator.get("persistentvolumeclaims", "raytrain-dev", "raytrain-checkpoints") is None


def test_scale_patches_only_the_group(server):
    with Operator(server):
        apply(server, timeout_s=5)
    clusters.run(server.target("raytrain-dev"), lambda c: c.scale("raytrain", "gpu-1x", 1, 4), echo=lambda _: None)
    groups = server.emulator.get("rayclusters", "raytrain-dev", "raytrain")["spec"]["workerGroupSpecs"]
    assert [(g["groupName"], g["minReplicas"], g["maxReplicas"]) for g in groups] == [("cpu", 0, 2), ("gpu-1x", 1, 4), ("gpu-8x", 0, 0)]
    assert groups[1]["replicas"] == 1


def test_scale_unknown_group_names_the_groups(server):
    with Operator(server):
        apply(server, timeout_s=5)
    with pytest.raises(Exception, match="use one of: cpu, gpu-1x, gpu-8x"):
        clusters.run(server.target("raytrain-dev"), lambda c: c.scale("raytrain", "tpu", 1, 2), echo=lambda _: None)


def test_kuberay_not_installed_names_the_helm_command(bare_server):
    with pytest.raises(KubeRayMissing) as err:
        apply(bare_server, timeout_s=1)
    assert err.value.exit_code == 1
    assert "helm install kuberay-operator" in err.value.hint
    assert bare_server.emulator.namespaces == {}, "nothing may be applied when ray.io/v1 is not served"


def test_forbidden_names_verb_resource_and_role(server):
    server.emulator.forbid.add(("PATCH", "rayclusters"))
    with pytest.raises(KubeForbidden) as err:
        apply(server, timeout_s=1)
    assert err.value.exit_code == 2
    assert "cannot patch rayclusters.ray.io in namespace raytrain-dev" in err.value.message
    assert "raytrain-cluster-admin" in err.value.hint
    assert "applied before it: Namespace/raytrain-dev" in err.value.message and "not applied: RayCluster/raytrain" in err.value.message


def test_unreachable_api_server_retries_then_fails(tmp_path):
    kubeconfig = write_kubeconfig(tmp_path / "kc", "http://127.0.0.1:9")
    target = Target(kubeconfig=str(kubeconfig), retries=2, backoff_s=0.01)
    with pytest.raises(KubeUnreachable, match="after 3 attempts"):
        clusters.run(target, lambda c: c.status("x"), echo=lambda _: None)


def test_missing_kubeconfig_and_unknown_context(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubeConfigError, match=f"no kubeconfig at {tmp_path}/nope"):
        check_kubeconfig(str(tmp_path / "nope"), None)
    kc = write_kubeconfig(tmp_path / "kc", "http://127.0.0.1:9", context="kind-dev")
    with pytest.raises(KubeConfigError, match=r"--context prod: not in .*contexts there: kind-dev") as err:
        check_kubeconfig(str(kc), "prod")
    assert err.value.exit_code == 2


def test_token_is_read_from_the_clusters_secret(server):
    with Operator(server):
        apply(server, timeout_s=5)
    server.emulator.put("v1/secrets", "raytrain-dev", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "raytrain", "namespace": "raytrain-dev"},
        "data": {"auth_token": base64.b64encode(b"s3cret\n").decode()}})
    obj, token = forward.cluster_endpoint("raytrain", server.target("raytrain-dev"))
    assert token == "s3cret"
    assert obj["metadata"]["name"] == "raytrain"


def test_token_secret_name_follows_auth_options():
    rc = {"metadata": {"name": "c"}, "spec": {"authOptions": {"mode": "token"}}}
    assert forward.token_secret_name(rc) == "c"
    rc["spec"]["authOptions"]["secretName"] = "mine"
    assert forward.token_secret_name(rc) == "mine"
    assert forward.token_secret_name({"metadata": {"name": "c"}, "spec": {}}) is None


def test_job_apply_creates_the_rendered_rayjob_and_follows_it(server, monkeypatch):
    from raytrain.manifests.render import render_rayjob
    from raytrain.spec import load_spec

    with Operator(server):
        apply(server, timeout_s=5)

    async def work(j):
        import asyncio
        task = asyncio.create_task(j.apply("jobs/digits.yaml", "raytrain", timeout_s=5))
        await asyncio.sleep(0.1)
        await j.kube.merge_patch("ray.io/v1", "rayjobs", "digits", "raytrain-dev",
                                 {"status": {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}})
        return await task

    monkeypatch.chdir(REPO)
    result = jobs.run(server.target("raytrain-dev"), work, echo=lambda _: None, poll_s=0.02)
    assert result["state"] == "succeeded"
    sent = [r for r in server.emulator.requests if r.method == "POST" and r.url.path.endswith("/rayjobs")]
    expected = render_rayjob(load_spec("jobs/digits.yaml"), "jobs/digits.yaml", cluster_selector="raytrain", namespace="raytrain-dev")
    assert sent[0].data == expected


@pytest.mark.parametrize("status, state", [
    ({}, JobState.PENDING),
    ({"jobDeploymentStatus": "Initializing"}, JobState.PENDING),
    ({"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"}, JobState.RUNNING),
    ({"jobDeploymentStatus": "Retrying", "jobStatus": "FAILED"}, JobState.RUNNING),
    ({"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}, JobState.SUCCEEDED),
    ({"jobDeploymentStatus": "Complete", "jobStatus": "STOPPED"}, JobState.FAILED),
    ({"jobDeploymentStatus": "Failed", "jobStatus": "FAILED"}, JobState.FAILED),
    ({"jobDeploymentStatus": "ValidationFailed"}, JobState.FAILED),
])
def test_job_state_table(status, state):
    assert job_state({"status": status})[0] is state


def c(type_, status_):
    return {"type": type_, "status": status_}


@pytest.mark.parametrize("obj, state", [
    ({"metadata": {"generation": 2}, "status": {"observedGeneration": 1, "conditions": [c("HeadPodReady", "True"), c("RayClusterProvisioned", "True")]}}, ClusterState.PROVISIONING),
    ({"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": [c("HeadPodReady", "True"), c("RayClusterProvisioned", "True")]}}, ClusterState.READY),
    ({"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": [c("HeadPodReady", "True")]}}, ClusterState.PROVISIONING),
    ({"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": [c("ReplicaFailure", "True"), c("HeadPodReady", "True")]}}, ClusterState.FAILED),
    ({"metadata": {}, "status": {}}, ClusterState.PROVISIONING),
])
def test_cluster_state_table(obj, state):
    assert cluster_state(obj)[0] is state


def test_cli_cluster_status_and_errors_exit_codes(server, monkeypatch, capsys):
    with Operator(server):
        apply(server, timeout_s=5)
    code, out = cli_main(monkeypatch, capsys, "cluster", "status", "raytrain", "-n", "raytrain-dev", "--kubeconfig", str(server.kubeconfig))
    assert code == 0, out.err
    assert "raytrain: ready | head ready" in out.out
    code, out = cli_main(monkeypatch, capsys, "cluster", "status", "nope", "-n", "raytrain-dev", "--kubeconfig", str(server.kubeconfig))
    assert code == 2 and "RayCluster nope not found in namespace raytrain-dev" in out.err


def test_cli_job_group_keeps_render_and_adds_apply(monkeypatch, capsys):
    with_kube_commands(monkeypatch)
    parser = cli.build_parser()
    for argv in (["job", "render", "jobs/digits.yaml", "--cluster-selector", "x"], ["job", "apply", "jobs/digits.yaml", "--cluster-selector", "x"],
                 ["job", "status", "digits"], ["job", "delete", "digits"]):
        assert callable(parser.parse_args(argv).func), argv


def _serve_crd(server, schema):
    import httpx

    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "rayclusters.ray.io"},
           "spec": {"group": "ray.io", "scope": "Namespaced",
                    "names": {"kind": "RayCluster", "plural": "rayclusters", "singular": "raycluster"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": schema}}]}}
    reply = httpx.post(f"{server.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd)
    assert reply.status_code < 300, reply.text


def test_apply_validates_against_the_crd_the_cluster_serves_and_warns_on_skew(server):
    from raytrain.errors import UserInputError
    from raytrain.manifests.crds import shipped_schema

    schema = copy.deepcopy(shipped_schema("RayCluster"))
    groups = schema["properties"]["spec"]["properties"]["workerGroupSpecs"]["items"]["properties"]
    groups["maxReplicas"]["maximum"] = 1  # this cluster's KubeRay allows at most 1 replica per group
    _serve_crd(server, schema)
    lines: list[str] = []
    with pytest.raises(UserInputError, match=r"RayCluster/raytrain: spec.workerGroupSpecs\[0\].maxReplicas: .* by the CRD the cluster serves; nothing was applied"):
        apply(server, lines=lines, timeout_s=5)
    assert any("differs from the one raytrain ships" in line for line in lines), lines
    assert server.emulator.get("rayclusters", "raytrain-dev", "raytrain") is None
    assert server.emulator.get("persistentvolumeclaims", "raytrain-dev", "raytrain-checkpoints") is None


def test_apply_against_the_same_crd_as_bundled_gives_no_skew_warning(server):
    from raytrain.manifests.crds import shipped_schema

    _serve_crd(server, shipped_schema("RayCluster"))
    lines: list[str] = []
    with Operator(server):
        result = apply(server, lines=lines, timeout_s=5)
    assert result.state == "ready"
    assert not any("version skew" in line for line in lines), lines


def test_submit_to_a_cluster_runs_the_preflight_against_the_live_raycluster(server, capsys):
    with Operator(server):
        assert apply(server, timeout_s=5).state == "ready"
        server.emulator.put("v1/secrets", "raytrain-dev", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "raytrain", "namespace": "raytrain-dev"},
            "data": {"auth_token": base64.b64encode(b"s3cret\n").decode()}})
        code = cli.main(["submit", "jobs/digits.yaml", "--cluster", "raytrain", "-n", "raytrain-dev",
                         "--kubeconfig", str(server.kubeconfig), "--set", "scaling.workers=500"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: jobs/digits.yaml: preflight against RayCluster raytrain:"), err
