"""Training end to end on real local Ray clusters: accuracy, the run record, retention,
exact resume, resume policy, Ctrl-C, user code, elastic workers."""

from __future__ import annotations

import json
import signal

import pytest
import torch

from tests.conftest import REPO, processes_under
from tests.integration.helpers import (
    final_params,
    kill_group,
    python_module,
    raytrain,
    result_of,
    start_until,
    write_spec,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """The shipped demo job, run once as `raytrain run jobs/digits.yaml --json`."""
    storage = tmp_path_factory.mktemp("digits") / "storage"
    out = raytrain("run", "jobs/digits.yaml", "--storage", str(storage), "--json")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return storage, out


def test_digits_reaches_held_out_accuracy(digits_run):
    storage, out = digits_run
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["final_metrics"]["val_accuracy"] >= 0.95, result["final_metrics"]
    assert "digits finished: 660 steps" in out.stdout
    assert "[digits] step 50/660" in out.stdout, "no progress lines"


def test_result_json_holds_the_run_record(digits_run):
    storage, out = digits_run
    result = result_of(storage, "digits")
    assert result == json.loads(out.stdout.strip().splitlines()[-1]), "--json differs from result.json"
    assert result["status"] == "succeeded" and result["steps"] == 660 and result["total_steps"] == 660
    for key in ("final_metrics", "best_metrics", "last_checkpoint", "best_checkpoint", "wall_time_s",
                "worker_count_history", "failures_survived", "versions", "spec"):
        assert key in result, f"result.json lacks {key}"
    assert set(result["versions"]) == {"raytrain", "ray", "torch", "python"}
    assert result["versions"]["ray"] == "2.60.0"
    assert result["worker_count_history"][0]["workers"] == 2
    assert result["spec"]["name"] == "digits" and result["spec"]["scaling"]["workers"] == 2
    assert result["last_checkpoint"].endswith("checkpoint_00000660")
    evals = [json.loads(line) for line in (storage / "digits" / "metrics.jsonl").read_text().splitlines()]
    at_checkpoints = [e["val_accuracy"] for e in evals if "val_accuracy" in e and (e["step"] % 100 == 0 or e["step"] == 660)]
    assert result["best_metrics"]["val_accuracy"] == max(at_checkpoints), "best is not the best-scored checkpoint"


def test_keep_is_honoured(digits_run):
    storage, _ = digits_run
    kept = sorted(p.name for p in (storage / "digits").glob("checkpoint_*") if p.is_dir())
    assert len(kept) == 2, f"keep: 2 but found {kept}"
    assert "checkpoint_00000660" in kept


def test_resume_never_refuses_an_existing_run_and_touches_nothing(digits_run, tmp_path):
    storage, _ = digits_run
    run_dir = storage / "digits"
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in run_dir.rglob("*")}
    out = raytrain("run", "jobs/digits.yaml", "--storage", str(storage), "--set", "checkpoint.resume=never")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "checkpoint.resume: never, but run 'digits' already has checkpoints" in out.stderr
    assert "--new-run" in out.stderr and "Traceback" not in out.stderr
    after = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in run_dir.rglob("*")}
    assert after == before, "the old run was modified"


def test_exact_resume_after_the_driver_is_killed(ray_head, tmp_path):
    """Kill the job's driver after a checkpoint, run again: same parameters as uninterrupted."""
    spec = write_spec(tmp_path / "exact.yaml", name="exact", train__epochs=None, train__max_steps=400,
                      train__eval_every_n_steps=None, train__report_every_n_steps=50,
                      checkpoint__every_n_steps=100, checkpoint__keep=None, checkpoint__score_metric=None)
    env = ray_head.env()
    base = python_module("raytrain.run", str(spec), "--address", ray_head.address)

    from tests.integration.helpers import run

    whole = run(base + ["--storage", str(tmp_path / "a")], env=env)
    assert whole.returncode == 0, whole.stdout[-3000:] + whole.stderr[-3000:]

    proc, lines = start_until(base + ["--storage", str(tmp_path / "b")], "checkpoint step 100", env=env)
    kill_group(proc)  # the driver dies; Ray ends the job's trainer and workers with it
    assert not (tmp_path / "b" / "exact" / "result.json").exists(), "the run finished before the kill"

    again = run(base + ["--storage", str(tmp_path / "b")], env=env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming from" in again.stdout, again.stdout
    resumed_step = int(again.stdout.split("resuming from")[1].split("(step ")[1].split(")")[0])
    assert 100 <= resumed_step < 400

    a = final_params(tmp_path / "a" / "exact" / "checkpoint_00000400")
    b = final_params(tmp_path / "b" / "exact" / "checkpoint_00000400")
    for name in a:
        rel = (a[name] - b[name]).norm() / max(a[name].norm(), 1e-12)
        assert rel <= 1e-6, f"{name}: relative difference {rel:.3g} after resuming from step {resumed_step}"
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "exact" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)), f"metrics.jsonl repeats or reorders steps: {steps}"


def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(tmp_path):
    spec = write_spec(tmp_path / "cc.yaml", name="ctrlc", train__epochs=None, train__max_steps=3000,
                      train__eval_every_n_steps=None, train__report_every_n_steps=100,
                      checkpoint__every_n_steps=100, checkpoint__score_metric=None)
    storage = tmp_path / "s"
    from tests.conftest import BIN

    proc, lines = start_until([str(BIN / "raytrain"), "run", str(spec), "--storage", str(storage)],
                              "checkpoint step 100")
    temp_dir = next(l for l in lines if "temp dir" in l).split("temp dir ")[1].split(")")[0]
    proc.send_signal(signal.SIGINT)
    try:
        rest, _ = proc.communicate(timeout=120)
    finally:
        kill_group(proc)
    output = "\n".join(lines) + rest
    assert proc.returncode == 130, output[-3000:]
    assert "interrupted: run the same command again to resume" in output
    assert result_of(storage, "ctrlc")["status"] == "interrupted"
    assert not processes_under(temp_dir), "Ray processes of the interrupted run are still running"

    again = raytrain("run", str(spec), "--storage", str(storage), "--set", "train.max_steps=400")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming from" in again.stdout and result_of(storage, "ctrlc")["status"] == "succeeded"


def test_user_task_example_trains(ray_head, tmp_path):
    out = raytrain("run", "jobs/examples/sine.yaml", "--address", ray_head.address,
                   "--storage", str(tmp_path), env=ray_head.env())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = result_of(tmp_path, "sine")
    assert result["final_metrics"]["val_rmse"] < 0.2, result["final_metrics"]


def test_raw_loop_example_checkpoints_with_raytrain_helpers(ray_head, tmp_path):
    out = raytrain("run", "jobs/examples/raw_loop.yaml", "--address", ray_head.address,
                   "--storage", str(tmp_path), env=ray_head.env())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = result_of(tmp_path, "raw-loop")
    assert result["steps"] == 60 and result["final_metrics"]["loss"] < 0.1
    state = torch.load(tmp_path / "raw-loop" / "checkpoint_00000060" / "state.pt", weights_only=False)
    assert state["step"] == 60


def test_charlm_trains_with_elastic_workers(tmp_path):
    out = raytrain("run", "jobs/charlm.yaml", "--storage", str(tmp_path), "--set", "train.max_steps=40",
                   "--set", "train.eval_every_n_steps=40", "--set", "checkpoint.every_n_steps=20",
                   "--set", "train.report_every_n_steps=10")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = result_of(tmp_path, "charlm")
    assert result["spec"]["scaling"]["workers"] == [1, 2]
    assert all(1 <= w["workers"] <= 2 for w in result["worker_count_history"])
    assert result["final_metrics"]["val_loss"] < 5.0  # from ~5.5 (uniform over 256 bytes)
    assert result["final_metrics"]["val_perplexity"] > 1.0
