"""`raytrain up --local / status / down` on real local Ray clusters."""

from __future__ import annotations

import pytest

from raytrain.errors import MirrorError
from raytrain.local import procs
from raytrain.local.cluster import status, up

from .cli import raytrain
from .mirror import MANIFESTS, mirror, ps_lines

pytestmark = pytest.mark.integration


def test_up_mirrors_groups_and_down_stops_only_its_own_cluster(tmp_path):
    with mirror(tmp_path / "a") as a:
        st = status(a.state_dir)
        groups = {g.group: g for g in st.groups}
        assert groups["cpu"].ready == 1, f"minReplicas 1 should start one cpu node: {st.groups}"
        assert groups["gpu-1x"].ready == 0 and groups["gpu-1x"].gpus == 1
        assert st.usage["CPU"][1] == groups["cpu"].cpus, "the head must hold no CPUs"

        with mirror(tmp_path / "b", manifest="mirror-autoscale.yaml") as b:
            b_pids = procs.cluster_pids(b.temp_dir)
            assert b_pids
            out = raytrain("down", "--state-dir", a.state_dir)
            assert out.returncode == 0, out.stderr
            assert not procs.cluster_pids(a.temp_dir), "down left processes of its cluster"
            assert not ps_lines(a.temp_dir)
            assert procs.alive(b_pids) == b_pids, "down of one cluster touched another one"
            st_b = status(b.state_dir)
            assert [g.ready for g in st_b.groups] == [0]


def test_up_twice_from_one_state_dir_is_refused(tmp_path):
    with mirror(tmp_path, manifest="mirror-autoscale.yaml") as lc:
        with pytest.raises(MirrorError, match="already runs"):
            up(MANIFESTS / "mirror-autoscale.yaml", state_dir=lc.state_dir, log=lambda m: None)


def test_status_cli_shows_groups_demand_and_jobs(tmp_path):
    with mirror(tmp_path, manifest="mirror-autoscale.yaml") as lc:
        out = raytrain("status", "--state-dir", lc.state_dir)
        assert out.returncode == 0, out.stderr
        assert "cpu-1x" in out.stdout and "pending demand: none" in out.stdout
        assert "running jobs: none" in out.stdout


def test_bad_manifest_is_one_line_with_the_fix(tmp_path):
    out = raytrain("up", "--local", str(tmp_path / "missing.yaml"), "--state-dir", str(tmp_path / "s"))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "missing.yaml: no such file" in out.stderr and "fix:" in out.stderr


def test_bad_group_flag_is_one_line_with_the_fix(tmp_path):
    out = raytrain("up", "--local", str(MANIFESTS / "mirror-small.yaml"), "--group", "gpu-8x:cpus=1",
                   "--state-dir", str(tmp_path / "s"))
    assert out.returncode == 2, out.stderr
    assert "no such worker group" in out.stderr and "groups are: cpu, gpu-1x" in out.stderr
    assert not (tmp_path / "s" / "cluster.json").exists(), "a refused up must leave no state"
