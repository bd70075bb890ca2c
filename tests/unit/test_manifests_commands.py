"""The validate, job render and check commands through a small argparse harness."""

from __future__ import annotations

import json

import pytest

from tests.unit.manifests_support import REPO, run_cli


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def test_validate_clean_overlay_exits_0(capsys):
    assert run_cli(["validate", "clusters/overlays/prod", "jobs/digits.yaml"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "0 error(s), 0 warning(s)"
    assert "PodMonitor" in out  # not schema-checked, and said so


def test_validate_broken_exits_1_with_one_line_and_fix(capsys):
    assert run_cli(["validate", "tests/unit/data/manifests/broken/negative-max-replicas.yaml"]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("tests/unit/data/manifests/broken/negative-max-replicas.yaml[0] RayCluster/train: "
                        "spec.workerGroupSpecs[1].maxReplicas: -1 is negative [replicas-range]")
    assert lines[1].startswith("  fix: ")


def test_validate_skip_turns_a_rule_off(capsys):
    assert run_cli(["validate", "tests/unit/data/manifests/broken/negative-max-replicas.yaml", "--skip", "replicas-range,dev-shm"]) == 0


def test_validate_warnings_alone_exit_0(capsys):
    assert run_cli(["validate", "tests/unit/data/manifests/broken/no-dev-shm.yaml"]) == 0
    assert capsys.readouterr().out.startswith("warning: ")


def test_validate_json(capsys):
    assert run_cli(["validate", "--json", "tests/unit/data/manifests/broken/unknown-field.yaml"]) == 2
    [finding] = json.loads(capsys.readouterr().out)
    assert finding["path"] == "spec.workerGroupSpecs[0].replica" and finding["rule"] == "schema"


def test_job_render_writes_the_golden(tmp_path, capsys):
    out = tmp_path / "digits.rayjob.yaml"
    assert run_cli(["job", "render", "jobs/digits.yaml", "--cluster-selector", "raytrain", "-o", str(out)]) == 0
    assert out.read_text() == (REPO / "jobs/rendered/digits.rayjob.yaml").read_text()


def test_job_render_needs_selector_or_cluster(capsys):
    with pytest.raises(SystemExit):
        run_cli(["job", "render", "jobs/digits.yaml"])


def test_check_prints_a_table_and_exits_0_when_it_fits(capsys):
    assert run_cli(["check", "jobs/digits.yaml", "--cluster", "clusters/overlays/dev", "--working-dir", "clusters"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "DETAIL"]
    assert all(" PASS " in line for line in lines[1:])


def test_check_exits_1_on_a_fail_and_json_lists_every_check(capsys):
    code = run_cli(["check", "jobs/digits.yaml", "--cluster", "clusters/overlays/dev", "--set", "scaling.use_gpu=true",
                    "--set", "scaling.workers=4", "--json", "--working-dir", "clusters"])
    checks = {c["id"]: c for c in json.loads(capsys.readouterr().out)}
    assert code == 1
    assert checks["fit"]["status"] == "FAIL" and checks["fit"]["fix"]


def test_check_with_a_bad_spec_raises_a_user_error():
    from raytrain.errors import SpecError

    with pytest.raises(SpecError):
        run_cli(["check", "jobs/digits.yaml", "--cluster", "clusters/overlays/dev", "--set", "scaling.workers=0"])
