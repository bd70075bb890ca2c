"""The checkpoint store without Ray: atomic commit, verification, fallback to the previous
complete checkpoint, and the spec fields that drive failure handling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from raytrain.cli import main
from raytrain.errors import CheckpointError
from raytrain.runtime import checkpoint as store
from raytrain.spec import parse_spec


def commit(run_dir: Path, step: int) -> Path:
    return store.commit_checkpoint({"w": torch.full((64,), float(step)), "step": step}, run_dir,
                                   store.checkpoint_dir_name(step), step)


def test_commit_leaves_only_the_final_directory(tmp_path):
    final = commit(tmp_path, 10)
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint_00000010"]
    manifest = store.verify_checkpoint_dir(final)
    assert manifest["step"] == 10 and set(manifest["files"]) == {"state.pt"}
    assert torch.equal(store.read_checkpoint_dir(final)["w"], torch.full((64,), 10.0))


def test_commit_replaces_a_partial_directory_of_the_same_step(tmp_path):
    partial = tmp_path / "checkpoint_00000010"
    partial.mkdir()
    (partial / "state.pt").write_bytes(b"half")
    commit(tmp_path, 10)
    store.verify_checkpoint_dir(partial)
    assert not list(tmp_path.glob(".staging-*")), "staging left behind"


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_manifest", "bad_manifest", "missing_state"])
def test_resume_falls_back_past_a_damaged_newest_checkpoint_and_names_it(tmp_path, damage):
    commit(tmp_path, 10)
    newest = commit(tmp_path, 20)
    state = newest / "state.pt"
    if damage == "truncate":
        state.write_bytes(state.read_bytes()[:100])
    elif damage == "flip":
        data = bytearray(state.read_bytes())
        data[len(data) // 2] ^= 0xFF
        state.write_bytes(bytes(data))
    elif damage == "no_manifest":
        (newest / store.MANIFEST).unlink()
    elif damage == "bad_manifest":
        (newest / store.MANIFEST).write_text('{"step": 20, "fil')
    else:
        state.unlink()
    warnings: list[str] = []
    assert store.newest_complete_checkpoint(tmp_path, warnings.append) == tmp_path / "checkpoint_00000010"
    assert len(warnings) == 1 and "checkpoint_00000020" in warnings[0], warnings
    with pytest.raises(CheckpointError):
        store.verify_checkpoint_dir(newest)


def test_stale_staging_directories_are_removed_and_never_resumed(tmp_path):
    commit(tmp_path, 10)
    (tmp_path / ".staging-checkpoint_00000020-dead").mkdir()
    assert store.newest_complete_checkpoint(tmp_path).name == "checkpoint_00000010"
    assert store.remove_stale_staging(tmp_path) == [".staging-checkpoint_00000020-dead"]


def test_a_failed_write_leaves_the_previous_checkpoint_and_no_staging(tmp_path, monkeypatch):
    first = commit(tmp_path, 10)
    before = (first / "state.pt").read_bytes()

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "_fsync_path", full_disk)
    with pytest.raises(CheckpointError, match="no space left on the volume; the previous checkpoints are intact"):
        commit(tmp_path, 20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_00000010"]
    assert (first / "state.pt").read_bytes() == before


def test_async_state_copy_is_detached_from_the_live_tensors():
    live = {"model": {"w": torch.zeros(3)}, "rng": [torch.ones(2)], "step": 4}
    copy = store._detached(live)
    live["model"]["w"] += 1
    live["rng"][0] += 1
    assert torch.equal(copy["model"]["w"], torch.zeros(3)) and torch.equal(copy["rng"][0], torch.ones(2))


BASE = "name: t\ntrain: {task: digits, max_steps: 10}\n"


def test_failure_handling_fields_default_to_sync_and_unlimited_preemptions():
    spec = parse_spec(BASE)
    assert spec.checkpoint.mode == "sync"
    assert spec.failure.max_preemptions == -1
    assert spec.scaling.elastic_resize_interval_s == 60.0
    spec = parse_spec(BASE + "checkpoint: {mode: async}\nfailure: {max_preemptions: 2}\n"
                      "scaling: {workers: [1, 2], elastic_resize_interval_s: 5}\n")
    assert (spec.checkpoint.mode, spec.failure.max_preemptions, spec.scaling.elastic_resize_interval_s) == ("async", 2, 5)


@pytest.mark.parametrize("text,expected", [
    ("checkpoint: {mode: later}", "checkpoint.mode: 'later' is not allowed"),
    ("failure: {max_preemptions: -2}", "failure.max_preemptions: -2: should be greater than or equal to -1"),
    ("scaling: {elastic_resize_interval_s: 0}", "scaling.elastic_resize_interval_s: 0"),
])
def test_bad_failure_handling_fields_give_the_field_and_fix(tmp_path, capsys, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(BASE + text + "\n")
    assert main(["validate", str(path)]) == 2
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(str(path)) and expected in first, first
