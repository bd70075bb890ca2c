"""Failure handling on a real multi-node Ray cluster on this machine (tests.integration.multinode):
worker node loss and grow-back, driver loss, damaged checkpoints, async checkpoints, storage
that is not shared, preemption announced by a drain, and a full volume.

The runs use tests.integration.slow_task, whose steps sleep for a known time, so that a kill
lands mid-training without loading the shared CPUs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raytrain.runtime import checkpoint as store
from tests.conftest import BIN, REPO
from tests.integration.helpers import kill_group, result_of, start_until, write_spec_data
from tests.integration.multinode import Cluster

pytestmark = pytest.mark.integration

TASK = "tests.integration.slow_task:SlowTask"


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def nodes(cluster):
    """Worker nodes added by a test are killed when it ends, pass or fail."""
    try:
        yield cluster
    finally:
        cluster.remove_all_nodes()


def env_for(cluster: Cluster) -> dict[str, str]:
    env = cluster.env()
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO), RAY_TRAIN_PREEMPTION_POLL_INTERVAL_S="1")
    env.pop("RAYTRAIN_STORAGE_PATH", None)
    return env


def slow_spec(path: Path, name: str, *, workers=2, max_steps=200, every=20, step_s=0.05, width=64,
              **extra) -> Path:
    data = {
        "name": name,
        "train": {"task": TASK, "max_steps": max_steps, "batch_size": 8, "report_every_n_steps": 5,
                  "config": {"step_s": step_s, "width": width}},
        "scaling": {"workers": workers},
        "checkpoint": {"every_n_steps": every, "keep": None},
        "failure": {"max_failures": 2},
    }
    return write_spec_data(path, data, **extra)


def run_cmd(cluster: Cluster, spec: Path, storage: Path) -> list[str]:
    return [sys.executable, "-m", "raytrain.run", str(spec), "--address", cluster.address, "--storage", str(storage)]


def read_until(proc: subprocess.Popen, lines: list[str], marker: str, timeout: float = 180) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return line
    kill_group(proc)
    raise AssertionError(f"{marker!r} never appeared; output:\n" + "\n".join(lines[-60:]))


def finish(proc: subprocess.Popen, lines: list[str], timeout: float = 240) -> str:
    try:
        rest, _ = proc.communicate(timeout=timeout)
    finally:
        kill_group(proc)
    return "\n".join(lines) + "\n" + rest


def assert_all_checkpoints_verify(run_dir: Path) -> list[str]:
    names = sorted(p.name for p in run_dir.glob("checkpoint_*") if p.is_dir())
    assert names, f"no checkpoints in {run_dir}"
    for name in names:
        store.verify_checkpoint_dir(run_dir / name)
    assert not list(run_dir.glob(".staging-*")), "a staging directory was left behind"
    return names


def test_worker_node_loss_resumes_from_the_newest_checkpoint_and_grows_back(nodes, tmp_path):
    nodes.add_node()
    victim = nodes.add_node()
    spec = slow_spec(tmp_path / "loss.yaml", "loss", workers=[1, 2], max_steps=600,
                     scaling__elastic_resize_interval_s=3)
    storage = tmp_path / "s"
    proc, lines = start_until(run_cmd(nodes, spec, storage), "checkpoint step 60", env=env_for(nodes))
    killed_at = victim.kill(signal.SIGKILL)
    read_until(proc, lines, "restarted with 1 workers")
    read_until(proc, lines, "recovered: first step after the restore")
    nodes.add_node()  # capacity returns
    output = finish(proc, lines)
    assert proc.returncode == 0, output[-4000:]

    result = result_of(storage, "loss")
    assert result["status"] == "succeeded" and result["steps"] == 600, result
    failure = result["failures"][0]
    assert failure["what"] == "worker failure" and failure["workers_before"] == 2 and failure["workers"] == 1
    assert any(victim.node_id[:8] in n for n in failure["lost_nodes"]), failure
    assert failure["resumed_step"] >= 60 and failure["resumed_from"].endswith(f"checkpoint_{failure['resumed_step']:08d}")
    assert 0 <= failure["steps_lost"] <= 20, f"lost {failure['steps_lost']} steps with every_n_steps 20"
    assert failure["time"] <= killed_at + 0.1, "the failure is dated after the kill"
    assert killed_at - failure["time"] < 1.5, "the last sign of life is too long before the kill"
    kill_to_step = failure["first_step_at"] - killed_at
    assert 0 < kill_to_step < 90 and abs(failure["recovery_s"] - kill_to_step) < 1.5, (failure, killed_at)
    counts = [w["workers"] for w in result["worker_count_history"]]
    assert counts[:3] == [2, 1, 2], f"worker counts {counts}: expected 2, then 1 after the kill, then 2 again"
    assert result["resizes"] and result["resizes"][0]["workers"] == 2
    assert_all_checkpoints_verify(storage / "loss")
    print(f"\nnode kill: recovery {failure['recovery_s']} s (kill -> first step {kill_to_step:.2f} s), "
          f"{failure['steps_lost']} steps lost")


def test_driver_loss_then_the_same_spec_resumes_losing_at_most_every_n_steps(nodes, tmp_path):
    """Also the MLflow run of issue 8: one run across the resume, no gaps, no duplicates."""
    from mlflow import MlflowClient

    nodes.add_node(num_cpus=2)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    spec = slow_spec(tmp_path / "drv.yaml", "drv", workers=2, max_steps=120,
                     tracking={"mlflow": {"tracking_uri": uri, "experiment": "raytrain-test"}})
    storage = tmp_path / "s"
    env = env_for(nodes)
    proc, lines = start_until(run_cmd(nodes, spec, storage), "checkpoint step 40", env=env)
    read_until(proc, lines, "step 55/")
    kill_group(proc)  # the driver dies; Ray ends the job's trainer and workers with it
    last_seen = max(int(l.split("step ")[1].split("/")[0]) for l in lines if "] step " in l)

    again = subprocess.run(run_cmd(nodes, spec, storage), cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=240)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    result = result_of(storage, "drv")
    resumed = result["resumed"]
    assert resumed and resumed["step"] >= 40, resumed
    assert last_seen - resumed["step"] <= 20, f"saw step {last_seen}, resumed at {resumed['step']}"
    assert resumed["steps_lost"] == max(0, resumed["last_recorded_step"] - resumed["step"]) <= 20, resumed
    assert result["status"] == "succeeded" and result["steps"] == 120
    steps = [json.loads(l)["step"] for l in (storage / "drv" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)), f"metrics.jsonl repeats or reorders steps: {steps}"
    assert steps == list(range(5, 121, 5)), f"metrics.jsonl has gaps: {steps}"
    assert_all_checkpoints_verify(storage / "drv")

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("raytrain-test").experiment_id])
    assert len(runs) == 1, f"expected one MLflow run across the resume, found {len(runs)}"
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["train.max_steps"] == "120" and run.data.params["name"] == "drv"
    assert run.data.tags["raytrain.run_name"] == "drv" and "ray.version" in run.data.tags
    assert run.data.tags["raytrain.last_checkpoint"].endswith("checkpoint_00000120")
    history = [m.step for m in client.get_metric_history(run.info.run_id, "loss")]
    assert sorted(history) == list(range(5, 121, 5)), f"MLflow loss history has gaps or duplicates: {history}"


def test_resume_skips_a_damaged_newest_checkpoint_with_a_warning_naming_it(nodes, tmp_path):
    """Truncated here; flipped bytes, a missing or unreadable manifest: tests/unit/test_checkpoint_store.py."""
    nodes.add_node(num_cpus=2)
    spec = slow_spec(tmp_path / "dmg.yaml", "dmg", workers=1, max_steps=60, step_s=0.01)
    storage = tmp_path / "s"
    env = env_for(nodes)
    first = subprocess.run(run_cmd(nodes, spec, storage), cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=240)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    state = storage / "dmg" / "checkpoint_00000060" / "state.pt"
    state.write_bytes(state.read_bytes()[:1000])

    spec = slow_spec(tmp_path / "dmg.yaml", "dmg", workers=1, max_steps=80, step_s=0.01)
    again = subprocess.run(run_cmd(nodes, spec, storage), cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=240)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "warning: skipping checkpoint_00000060" in again.stdout, again.stdout[-3000:]
    assert "does not match its manifest" in again.stdout
    assert "checkpoint_00000040 (step 40)" in again.stdout, again.stdout[-3000:]
    assert result_of(storage, "dmg")["steps"] == 80
    assert "checkpoint_00000060" in assert_all_checkpoints_verify(storage / "dmg"), "step 60 was not rewritten"


def test_async_checkpoints_block_the_loop_less_than_they_take_to_write(nodes, tmp_path):
    nodes.add_node(num_cpus=2)
    storage = tmp_path / "s"
    env = env_for(nodes)
    figures = {}
    for mode in ("sync", "async"):
        spec = slow_spec(tmp_path / f"{mode}.yaml", f"ck-{mode}", workers=1, max_steps=40, every=10,
                         step_s=0.02, width=1024, checkpoint__mode=mode)
        out = subprocess.run(run_cmd(nodes, spec, storage), cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=240)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        result = result_of(storage, f"ck-{mode}")
        ckpts = result["checkpoints"]
        assert [c["step"] for c in ckpts] == [10, 20, 30, 40], ckpts
        assert all(c["mode"] == mode and c["bytes"] > 10e6 and c["blocked_s"] is not None for c in ckpts), ckpts
        metrics = [json.loads(l) for l in (storage / f"ck-{mode}" / "metrics.jsonl").read_text().splitlines()]
        assert {m["step"] for m in metrics if "checkpoint_blocked_s" in m} == {10, 20, 30, 40}
        assert_all_checkpoints_verify(storage / f"ck-{mode}")
        figures[mode] = (sorted(c["blocked_s"] for c in ckpts)[2], sorted(c["write_s"] for c in ckpts)[2])
    print(f"\nmedian (blocked s, write s): {figures}")
    sync_blocked, sync_write = figures["sync"]
    async_blocked, async_write = figures["async"]
    assert sync_blocked >= sync_write, "sync mode must wait for the write"
    assert async_blocked < async_write, f"async blocked {async_blocked} s for a {async_write} s write"


def test_storage_not_shared_between_nodes_fails_at_start_naming_the_nodes(nodes, tmp_path):
    """Simulated: the second node runs in its own mount namespace (unshare -m) with another,
    empty directory bind-mounted over the storage path, so that the same path holds different
    files on the two nodes, as with a node-local disk instead of a shared volume."""
    storage, elsewhere = tmp_path / "s", tmp_path / "node-local"
    storage.mkdir()
    elsewhere.mkdir()
    nodes.add_node()
    odd = nodes.add_node(prefix=["unshare", "-m", "--propagation", "private", "sh", "-c",
                                 f'mount --bind "{elsewhere}" "{storage}" && exec "$@"', "sh"])
    spec = slow_spec(tmp_path / "ns.yaml", "ns", workers=2, max_steps=100,
                     scaling__placement_strategy="STRICT_SPREAD", failure__max_failures=0)
    started = time.time()
    out = subprocess.run(run_cmd(nodes, spec, storage), cwd=REPO, env=env_for(nodes), capture_output=True,
                         text=True, timeout=240)
    assert out.returncode != 0, out.stdout[-3000:]
    error = next((l for l in out.stderr.splitlines() if l.startswith("error: ")), "")
    fix = next((l.strip() for l in out.stderr.splitlines() if l.strip().startswith("fix: ")), "")
    assert "is not shared by the nodes of this run" in error, out.stderr[-3000:]
    assert odd.node_id[:8] in error and "ReadWriteMany" in fix, (error, fix)
    assert "Traceback" not in out.stderr
    assert "training started" not in out.stdout and not list((storage / "ns").glob("checkpoint_*"))
    assert time.time() - started < 120


def test_preemption_announced_by_a_drain_writes_a_last_checkpoint_and_continues_on_what_is_left(nodes, tmp_path):
    """Ray 2.60 learns of a preemption only through a drain with a deadline (what the autoscaler
    does for a spot reclaim; on Kubernetes a preStop hook can run `ray drain-node`). The test
    drains the node as that would, then SIGTERMs the node's processes at the deadline."""
    nodes.add_node()
    victim = nodes.add_node()
    spec = slow_spec(tmp_path / "pre.yaml", "pre", workers=[1, 2], max_steps=300, every=50)
    storage = tmp_path / "s"
    env = env_for(nodes)
    proc, lines = start_until(run_cmd(nodes, spec, storage), "checkpoint step 50", env=env)
    read_until(proc, lines, "step 60/")
    deadline_s = 8
    drain = subprocess.run([str(BIN / "ray"), "drain-node", "--address", nodes.address, "--node-id", victim.node_id,
                            "--reason", "DRAIN_NODE_REASON_PREEMPTION", "--reason-message", "spot reclaim (test)",
                            "--deadline-remaining-seconds", str(deadline_s)], env=env, capture_output=True,
                           text=True, timeout=60)
    drained_at = time.time()
    assert drain.returncode == 0, drain.stdout + drain.stderr
    announced = read_until(proc, lines, "preemption of node(s)", timeout=30)
    jit_step = int(announced.split("announced at step ")[1].split()[0])
    read_until(proc, lines, f"checkpoint step {jit_step} ", timeout=30)
    assert time.time() < drained_at + deadline_s, "the last checkpoint came after the deadline"
    time.sleep(max(0.0, drained_at + deadline_s - time.time()))
    victim.kill(signal.SIGTERM)
    read_until(proc, lines, "restarted with 1 workers", timeout=120)
    output = finish(proc, lines)
    assert proc.returncode == 0, output[-4000:]
    result = result_of(storage, "pre")
    failure = result["failures"][0]
    assert failure["what"] == "preemption" and failure["preemption"]["step"] == jit_step, failure
    assert failure["resumed_step"] >= jit_step and failure["steps_lost"] <= 50, failure
    assert result["status"] == "succeeded" and result["steps"] == 300
    assert_all_checkpoints_verify(storage / "pre")


def test_a_full_volume_fails_with_a_clear_error_and_keeps_the_previous_checkpoints(nodes, tmp_path):
    """A real 8 MiB tmpfs as the volume; each checkpoint is about 3.2 MB, so the third does not fit."""
    storage = tmp_path / "small"
    storage.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(storage)],
                             capture_output=True, text=True)
    assert mounted.returncode == 0, f"cannot mount a tmpfs here (needs root): {mounted.stderr}"
    try:
        nodes.add_node(num_cpus=2)
        spec = slow_spec(tmp_path / "full.yaml", "full", workers=1, max_steps=60, every=10, step_s=0.01,
                         width=512, failure__max_failures=0)
        out = subprocess.run(run_cmd(nodes, spec, storage), cwd=REPO, env=env_for(nodes), capture_output=True,
                             text=True, timeout=240)
        assert out.returncode != 0, out.stdout[-3000:]
        error = next((l for l in out.stderr.splitlines() if l.startswith("error: ")), "")
        assert "no space left on the volume; the previous checkpoints are intact" in error, out.stderr[-3000:]
        assert "checkpoint.storage_path" in error and "Traceback" not in out.stderr
        print(f"\n{error}\n" + subprocess.run(["df", "-k", str(storage)], capture_output=True, text=True).stdout)
        kept = assert_all_checkpoints_verify(storage / "full")
        assert kept == ["checkpoint_00000010", "checkpoint_00000020"], kept
        assert result_of(storage, "full")["status"] == "failed"
    finally:
        subprocess.run(["umount", "-l", str(storage)], capture_output=True)
