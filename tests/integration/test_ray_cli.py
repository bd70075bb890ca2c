"""`ray job submit --working-dir . -- python -m raytrain.run ...` with Ray's own CLI alone."""

from __future__ import annotations

import pytest

from tests.conftest import BIN, REPO
from tests.integration.helpers import result_of, run

pytestmark = pytest.mark.integration


def test_ray_job_submit_runs_raytrain(ray_head, tmp_path):
    cmd = [str(BIN / "ray"), "job", "submit", "--address", ray_head.dashboard, "--working-dir", str(REPO),
           "--", "python", "-m", "raytrain.run", "jobs/digits.yaml", "--storage", str(tmp_path),
           "--set", "train.epochs=4"]
    out = run(cmd, env=ray_head.env())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "digits finished: 88 steps" in out.stdout
    assert result_of(tmp_path, "digits")["status"] == "succeeded"


def test_ray_job_submit_without_token_mode_is_refused(ray_head, tmp_path):
    """What the README tells plain `ray job submit` users: without RAY_AUTH_MODE=token, 401."""
    env = ray_head.env()
    env.pop("RAY_AUTH_MODE")
    out = run([str(BIN / "ray"), "job", "list", "--address", ray_head.dashboard], env=env, timeout=120)
    assert out.returncode != 0
    assert "401" in out.stdout + out.stderr or "nauthorized" in out.stdout + out.stderr, out.stdout + out.stderr
