"""The submit layer's rules without a cluster: resume-or-new, job states, tokens, log following."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raytrain.errors import AuthError, JobError, RunExistsError, UserInputError
from raytrain.submit.auth import auth_failure, resolve_token
from raytrain.submit.jobs import follow_logs, last_metrics, new_run_name, normalize_address
from raytrain.submit.state import JobState, decide_start, has_checkpoints, transition


def _run_dir(tmp_path: Path, checkpoints: bool = True, result: bool = False) -> Path:
    run = tmp_path / "digits"
    run.mkdir()
    if checkpoints:
        (run / "checkpoint_000100").mkdir()
    if result:
        (run / "result.json").write_text(json.dumps({"status": "succeeded"}))
    return run


@pytest.mark.parametrize(
    "checkpoints, result, last, resume, new_run, expected",
    [
        (False, False, None, False, False, "fresh"),
        (False, False, None, False, True, "new"),
        (True, False, JobState.FAILED, False, False, "resume"),  # last attempt failed: resume by default
        (True, False, JobState.STOPPED, False, False, "resume"),
        (True, False, None, False, False, "resume"),  # no result.json: the last attempt did not finish
        (True, True, JobState.SUCCEEDED, True, False, "resume"),
        (True, True, JobState.SUCCEEDED, False, True, "new"),
    ],
)
def test_resume_or_new_decision_table(tmp_path, checkpoints, result, last, resume, new_run, expected):
    run_dir = _run_dir(tmp_path, checkpoints, result)
    decision = decide_start("digits", run_dir, last, "digits-1", resume=resume, new_run=new_run)
    assert decision.mode == expected, decision.note


def test_finished_run_with_checkpoints_needs_resume_or_new_run(tmp_path):
    run_dir = _run_dir(tmp_path, checkpoints=True, result=True)
    with pytest.raises(RunExistsError) as err:
        decide_start("digits", run_dir, JobState.SUCCEEDED, "digits-1")
    assert "--resume" in err.value.hint and "--new-run" in err.value.hint
    assert err.value.exit_code == 2


def test_checkpoint_snapshot_alone_counts_as_checkpoints(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    assert not has_checkpoints(run)
    (run / "checkpoint_manager_snapshot.json").write_text("{}")
    assert has_checkpoints(run)


def test_resume_never_policy_refuses_a_default_resume(tmp_path):
    run_dir = _run_dir(tmp_path, checkpoints=True)
    with pytest.raises(RunExistsError, match="resume: never"):
        decide_start("digits", run_dir, JobState.FAILED, "digits-1", policy="never")


def test_a_running_run_is_not_submitted_twice(tmp_path):
    with pytest.raises(JobError, match="already running as job digits-1"):
        decide_start("digits", _run_dir(tmp_path), JobState.RUNNING, "digits-1", resume=True)


def test_resume_and_new_run_contradict():
    with pytest.raises(UserInputError, match="contradict"):
        decide_start("digits", None, None, resume=True, new_run=True)


def test_invisible_storage_leaves_resume_to_the_runtime():
    assert decide_start("digits", None, None).mode == "unknown"
    assert decide_start("digits", None, None, new_run=True).mode == "new"


def test_new_run_name_is_a_valid_new_name():
    from raytrain.spec.models import NAME_RE

    name = new_run_name("a" * 48)
    assert NAME_RE.match(name) and len(name) <= 48 and name.startswith("a" * 32 + "-")


@pytest.mark.parametrize(
    "current, observed, expected",
    [
        (JobState.PENDING, JobState.RUNNING, JobState.RUNNING),
        (JobState.PENDING, JobState.SUCCEEDED, JobState.SUCCEEDED),  # a watcher may miss RUNNING
        (JobState.RUNNING, JobState.PENDING, JobState.RUNNING),  # never goes back
        (JobState.SUCCEEDED, JobState.RUNNING, JobState.SUCCEEDED),  # terminal stays
        (JobState.RUNNING, JobState.FAILED, JobState.FAILED),
    ],
)
def test_job_state_transitions(current, observed, expected):
    assert transition(current, observed) is expected


def test_exit_codes_follow_the_outcome():
    assert [s.exit_code for s in (JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED)] == [0, 1, 3]


def test_token_order_env_then_file_then_default(tmp_path):
    home = tmp_path / "auth_token"
    home.write_text("from-home\n")
    given = tmp_path / "given"
    given.write_text("from-file")
    assert resolve_token(given, env={"RAY_AUTH_TOKEN": "from-env"}, home_token=home).value == "from-env"
    tok = resolve_token(given, env={}, home_token=home)
    assert (tok.value, tok.source) == ("from-file", f"--token-file {given}")
    tok = resolve_token(None, env={}, home_token=home)
    assert (tok.value, tok.source) == ("from-home", str(home))


def test_missing_token_file_is_bad_input(tmp_path):
    with pytest.raises(AuthError, match="--token-file"):
        resolve_token(tmp_path / "nope", env={}, home_token=tmp_path / "none")


def test_401_names_every_place_tried(tmp_path):
    tok = resolve_token(None, env={}, home_token=tmp_path / "none")
    assert tok.value is None
    msg = auth_failure(401, "http://h:8265", tok).message
    assert "$RAY_AUTH_TOKEN" in msg and str(tmp_path / "none") in msg


def test_ray_client_address_is_refused():
    with pytest.raises(UserInputError, match="not the Jobs API"):
        normalize_address("ray://127.0.0.1:10001")
    assert normalize_address("127.0.0.1:8265") == "http://127.0.0.1:8265"


class ScriptedLog:
    """A job whose log stream drops after a few chunks; the full log has lines the stream never sent."""

    def __init__(self):
        self.full = "".join(f"line {i}\n" for i in range(10))
        self.connects = 0
        self.states = iter([JobState.RUNNING, JobState.RUNNING, JobState.SUCCEEDED])

    def stream(self, job_id):
        self.connects += 1
        upto = {1: 3, 2: 6}.get(self.connects, 8)  # each connection restarts at line 0
        for i in range(upto):
            yield f"line {i}\n"
        if self.connects == 1:
            raise ConnectionResetError("websocket dropped")

    def state(self, job_id):
        return next(self.states)

    def logs(self, job_id):
        return self.full


def test_follow_reconnects_and_never_loses_or_repeats_lines():
    log, out, notes = ScriptedLog(), [], []
    final = follow_logs("j", log.stream, log.state, log.logs, out.append, notes.append, reconnect_delay_s=0)
    assert final is JobState.SUCCEEDED
    assert "".join(out) == log.full, "followed output differs from the job's full log"
    assert log.connects == 3
    assert len(notes) == 2 and "dropped" in notes[0]


def test_last_metrics_skips_a_partial_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 10, "loss": 1.5}\n{"step": 20, "loss": 1.2}\n{"step": 3')
    assert last_metrics(path) == {"step": 20, "loss": 1.2}
    assert last_metrics(tmp_path / "missing.jsonl") is None
