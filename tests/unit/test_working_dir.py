"""The working_dir shipped with a job: excludes and the size limit (no cluster)."""

from __future__ import annotations

import pytest

from raytrain.errors import WorkingDirError
from raytrain.submit.workdir import measure


def _project(tmp_path):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "x.yaml").write_text("name: x\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "big.bin").write_bytes(b"\0" * 3_000_000)
    for skipped in (".git", ".venv", ".raytrain", "__pycache__"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "blob").write_bytes(b"\0" * 5_000_000)
    return tmp_path


def test_default_excludes_are_not_counted(tmp_path):
    wd = measure(_project(tmp_path), limit_bytes=4_000_000)
    assert [name for name, _ in wd.biggest] == ["data", "jobs"]
    assert set(wd.runtime_env()["excludes"]) >= {".git", ".venv", ".raytrain", "__pycache__"}


def test_over_the_limit_names_the_biggest_entries(tmp_path):
    with pytest.raises(WorkingDirError) as err:
        measure(_project(tmp_path), limit_bytes=1_000_000)
    assert "data (2.9 MiB)" in err.value.message
    assert "working_dir_excludes" in err.value.hint


def test_spec_excludes_bring_it_under_the_limit(tmp_path):
    wd = measure(_project(tmp_path), ["data/"], limit_bytes=1_000_000)
    assert wd.total_bytes < 1_000 and "data/" in wd.excludes
