"""The job spec: every example loads, and each bad input gives one line with the field and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raytrain.cli import main
from raytrain.errors import SpecError
from raytrain.spec import load_spec, parse_spec, schema_reference
from tests.conftest import REPO, run_cli

GOOD = """
name: t
train: {task: digits, max_steps: 10}
"""


def spec_files() -> list[Path]:
    files = [p for p in sorted((REPO / "jobs").rglob("*.yaml")) if "train:" in p.read_text()]
    assert files, "no job specs found under jobs/"
    return files


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_job_spec_validates(path, capsys):
    assert main(["validate", str(path.relative_to(REPO))]) == 0, capsys.readouterr().err
    assert "0 error(s)" in capsys.readouterr().out


BAD = [
    ("unknown key", "name: t\ntrain: {task: digits, max_stepz: 5}", "train.max_stepz: unknown key; did you mean 'max_steps'?"),
    ("unknown top-level key", "name: t\ntrian: {task: digits}", "trian: unknown key; did you mean 'train'?"),
    ("wrong type", "name: t\ntrain: {task: digits, max_steps: 5, batch_size: many}", "train.batch_size: 'many' is not valid"),
    ("workers min > max", "name: t\ntrain: {task: digits, max_steps: 5}\nscaling: {workers: [3, 1]}", "scaling.workers: min > max in [3, 1]; write [1, 3]"),
    ("negative steps", "name: t\ntrain: {task: digits, max_steps: -5}", "train.max_steps: -5: should be greater than or equal to 1"),
    ("no task", "name: t\ntrain: {max_steps: 5}", "train: give exactly one of task and loop (neither is set)"),
    ("task and loop", "name: t\ntrain: {task: digits, loop: 'a:b', max_steps: 5}", "train: give exactly one of task and loop (both are set)"),
    ("no stopping rule", "name: t\ntrain: {task: digits}", "train: give max_steps or epochs"),
    ("bad run name", "name: My_Run\ntrain: {task: digits, max_steps: 5}", "name: 'My_Run' is not a valid run name"),
    ("missing name", "train: {task: digits, max_steps: 5}", "name: required but missing"),
    ("bad placement", "name: t\ntrain: {task: digits, max_steps: 5}\nscaling: {placement_strategy: TIGHT}", "scaling.placement_strategy: 'TIGHT' is not allowed"),
    ("not yaml", "name: t\ntrain: [unclosed", "not valid YAML"),
    ("not a mapping", "- just\n- a list", "neither a Kubernetes object (apiVersion, kind) nor a job spec"),
]


@pytest.mark.parametrize("text,expected", [(t, e) for _, t, e in BAD], ids=[b[0] for b in BAD])
def test_bad_spec_gives_one_line_with_field_and_fix(tmp_path, capsys, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    first = captured.out.splitlines()[0]
    assert first.startswith(f"{path}"), captured.out
    assert expected in first, f"expected {expected!r} in {first!r}"
    assert "Traceback" not in captured.out + captured.err


def test_task_that_does_not_import_is_refused(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("name: t\ntrain: {task: 'nosuchpkg.mod:Thing', max_steps: 5}")
    assert main(["validate", str(path)]) == 2
    assert "train.task: cannot import module 'nosuchpkg.mod'" in capsys.readouterr().out


def test_unknown_builtin_task_names_the_choices(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("name: t\ntrain: {task: mnist, max_steps: 5}")
    assert main(["validate", str(path)]) == 2
    assert "train.task: unknown built-in task 'mnist'; use one of digits, charlm, synthetic" in capsys.readouterr().out


def test_storage_path_not_writable_is_refused_before_any_cluster_starts(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    out = run_cli("run", "jobs/digits.yaml", "--storage", str(blocker / "storage"))
    assert out.returncode == 2, out.stderr
    assert f"checkpoint.storage_path: {blocker / 'storage'} is not writable" in out.stderr
    assert "Traceback" not in out.stderr and "Started a local Ray instance" not in out.stderr


def test_missing_spec_file_and_debug_traceback(tmp_path):
    out = run_cli("run", str(tmp_path / "nope.yaml"))
    assert out.returncode == 2 and "no such file" in out.stderr and "Traceback" not in out.stderr
    out = run_cli("--debug", "run", str(tmp_path / "nope.yaml"))
    assert out.returncode == 2 and "Traceback" in out.stderr


def test_set_overrides_any_field_with_yaml_values():
    spec = parse_spec(GOOD, overrides=["scaling.workers=[1, 3]", "train.lr=0.5", "runtime_env.env_vars.A=b"])
    assert spec.scaling.workers == (1, 3) and spec.scaling.elastic
    assert spec.train.lr == 0.5 and spec.runtime_env.env_vars == {"A": "b"}
    with pytest.raises(SpecError, match=r"--set 'oops': not KEY=VALUE"):
        parse_spec(GOOD, overrides=["oops"])
    with pytest.raises(SpecError, match=r"train.max_steps: 'x' is not valid"):
        parse_spec(GOOD, overrides=["train.max_steps=x"])


def test_every_field_has_a_description():
    from raytrain.spec import models

    for cls in (models.JobSpec, models.TrainSpec, models.ScalingSpec, models.CheckpointSpec,
                models.FailureSpec, models.RuntimeEnvSpec, models.TrackingSpec, models.MlflowSpec):
        missing = [name for name, f in cls.model_fields.items() if not f.description]
        assert not missing, f"{cls.__name__} fields without a description: {missing}"


def test_schema_command_prints_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"name", "train", "scaling", "checkpoint", "failure", "runtime_env", "tracking"}


def test_readme_spec_reference_is_generated_from_the_schema():
    readme = (REPO / "README.md").read_text()
    begin, end = "<!-- spec-reference:begin -->\n", "<!-- spec-reference:end -->"
    assert begin in readme and end in readme, "README lacks the generated spec reference markers"
    current = readme.split(begin, 1)[1].split(end, 1)[0]
    assert current == schema_reference(), "README spec reference is stale: run `make docs`"


def test_spec_loads_from_file_and_resume_default_is_auto():
    spec = load_spec(REPO / "jobs" / "digits.yaml")
    assert spec.name == "digits" and spec.checkpoint.resume == "auto" and spec.scaling.workers == 2


def test_import_raytrain_stays_light():
    import subprocess
    import sys

    code = "import sys, raytrain, raytrain.cli, raytrain.spec; print('ray' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "False False", out.stdout + out.stderr


def test_set_works_on_every_command_that_takes_a_spec(capsys, tmp_path):
    import yaml

    assert main(["validate", "jobs/digits.yaml", "--set", "train.epochs=3"]) == 0
    assert main(["check", "jobs/digits.yaml", "--cluster", "clusters/overlays/dev", "--set", "scaling.workers=1"]) in (0, 1)
    capsys.readouterr()
    out = tmp_path / "job.yaml"
    assert main(["job", "render", "jobs/digits.yaml", "--cluster-selector", "raytrain", "--set", "train.epochs=3",
                 "-o", str(out)]) == 0
    job = yaml.safe_load(out.read_text())
    assert job["spec"]["entrypoint"].endswith("--set train.epochs=3"), job["spec"]["entrypoint"]
    resolved = json.loads(job["metadata"]["annotations"]["raytrain.dev/resolved-spec"])
    assert resolved["train"]["epochs"] == 3
    assert main(["validate", "jobs/digits.yaml", "--set", "train.epochz=3"]) == 2
    assert "did you mean 'epochs'" in capsys.readouterr().out
