"""`raytrain submit / logs / jobs / stop` through the Ray Jobs API of a real local mirror."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raytrain.submit import JobsClient, JobState

from .cli import REPO, raytrain
from .mirror import mirror

pytestmark = pytest.mark.integration
SPEC = "jobs/digits.yaml"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with mirror(tmp_path_factory.mktemp("submit")) as lc:
        yield lc


def _cli(cluster, *args, env=None):
    return raytrain(*args, "--state-dir", cluster.state_dir, env=env)


def _wait_for(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}")


def test_submit_follow_trains_and_prints_the_whole_log(cluster):
    out = _cli(cluster, "submit", SPEC, "--set", "train.epochs=2", "--set", "name=digits-follow", "-f")
    assert out.returncode == 0, f"job failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    job_id = out.stdout.split()[1]
    full = JobsClient(cluster.dashboard_url).logs(job_id)
    assert full.strip() and full in out.stdout, "followed output is missing lines of the job's full log"
    assert "digits-follow finished" in out.stdout
    run_dir = Path(cluster.volume) / "digits-follow"
    assert (run_dir / "result.json").is_file(), "the job did not write to the mirror's volume"
    assert (run_dir / "metrics.jsonl").read_text().strip()
    info = JobsClient(cluster.dashboard_url).info(job_id)
    assert info.metadata["raytrain_spec_hash"] and info.metadata["raytrain_user"]
    assert info.metadata["raytrain_git_commit"] != ""
    assert job_id.startswith("digits-follow-")


def test_resubmitting_a_finished_run_needs_resume_or_new_run(cluster):
    run_dir = Path(cluster.volume) / "digits-follow"
    if not (run_dir / "result.json").exists():
        pytest.fail("needs the run of test_submit_follow_trains_and_prints_the_whole_log")
    out = _cli(cluster, "submit", SPEC, "--set", "train.epochs=2", "--set", "name=digits-follow")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "already has checkpoints" in out.stderr and "--resume" in out.stderr and "Traceback" not in out.stderr

    out = _cli(cluster, "submit", SPEC, "--set", "train.epochs=2", "--set", "name=digits-follow", "--new-run",
               "--json")
    assert out.returncode == 0, out.stderr
    sub = json.loads(out.stdout.strip().splitlines()[-1])
    assert sub["start"] == "new" and sub["run"].startswith("digits-follow-") and sub["run"] != "digits-follow"
    assert f"name={sub['run']}" in sub["entrypoint"]
    client = JobsClient(cluster.dashboard_url)
    client.stop(sub["submission_id"])
    assert client.wait(sub["submission_id"], timeout_s=120).terminal


def test_jobs_lists_id_run_status_and_last_metrics(cluster):
    out = _cli(cluster, "jobs")
    assert out.returncode == 0, out.stderr
    line = next((l for l in out.stdout.splitlines() if l.startswith("digits-follow-") and "SUCCEEDED" in l), None)
    assert line, f"no succeeded digits-follow job in:\n{out.stdout}"
    assert "step=" in line and "loss=" in line, f"no last metrics in: {line}"


def test_stop_ends_a_running_job_and_logs_exit_code_says_stopped(cluster):
    out = _cli(cluster, "submit", SPEC, "--set", "train.epochs=200", "--set", "name=digits-stop", "--json")
    assert out.returncode == 0, out.stderr
    job_id = json.loads(out.stdout.strip().splitlines()[-1])["submission_id"]
    client = JobsClient(cluster.dashboard_url)
    _wait_for(lambda: client.state(job_id) is JobState.RUNNING, 60, "the job to run")
    out = _cli(cluster, "stop", job_id)
    assert out.returncode == 0 and "STOPPED" in out.stdout, out.stdout + out.stderr
    out = _cli(cluster, "logs", job_id, "-f")
    assert out.returncode == 3, f"logs -f of a stopped job should exit 3, got {out.returncode}"


def test_unknown_job_is_one_line(cluster):
    out = _cli(cluster, "logs", "no-such-job")
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr


def test_missing_token_names_every_place_tried(cluster, tmp_path):
    env = {"HOME": str(tmp_path), "RAY_AUTH_TOKEN": ""}
    out = _cli(cluster, "jobs", "--address", cluster.dashboard_url, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "$RAY_AUTH_TOKEN" in out.stderr and str(tmp_path / ".ray" / "auth_token") in out.stderr


def test_wrong_token_says_where_it_came_from(cluster, tmp_path):
    out = _cli(cluster, "jobs", "--address", cluster.dashboard_url, env={"RAY_AUTH_TOKEN": "not-the-token"})
    assert out.returncode == 2, out.stdout + out.stderr
    assert "rejected the token from $RAY_AUTH_TOKEN" in out.stderr


def test_plain_ray_job_submit_works_against_the_mirror(cluster):
    """`ray job submit --working-dir . -- python -m raytrain.run SPEC` with nothing but Ray's CLI."""
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    ray = str(Path(sys.executable).parent / "ray")
    out = subprocess.run(
        [ray, "job", "submit", "--address", cluster.dashboard_url, "--working-dir", ".",
         "--", "python", "-m", "raytrain.run", SPEC, "--set", "train.epochs=1", "--set", "name=digits-raycli"],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=env,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (Path(cluster.volume) / "digits-raycli" / "result.json").is_file()
