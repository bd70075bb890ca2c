"""raytrain.local_cluster / raytrain.connect: the notebook API's cluster handling."""

from __future__ import annotations

import pytest

import raytrain
from raytrain.errors import JobError
from raytrain.local import procs
from raytrain.local.cluster import LocalCluster

from .cli import REPO
from .mirror import MANIFESTS, ps_lines

pytestmark = pytest.mark.integration


def test_local_cluster_context_stops_everything_even_after_an_error(tmp_path):
    state = tmp_path / "state"
    seen = {}
    with pytest.raises(RuntimeError, match="boom"):
        with raytrain.local_cluster(MANIFESTS / "mirror-autoscale.yaml", state_dir=state,
                                    volume=tmp_path / "vol", quiet=True) as c:
            lc = LocalCluster.load(state)
            seen["temp_dir"] = lc.temp_dir
            assert c.local is not None and c.storage == str(tmp_path / "vol")
            assert c.jobs() == []
            assert [g.group for g in c.status().groups] == ["cpu-1x"]
            with pytest.raises(JobError, match="preflight against .*mirror-autoscale.yaml") as err:
                c.submit(REPO / "jobs" / "digits.yaml", set={"scaling.workers": 4}, working_dir=REPO)
            assert err.value.exit_code == 2
            again = raytrain.connect(c.address)
            assert again.address == c.address
            raise RuntimeError("boom")
    assert not procs.cluster_pids(seen["temp_dir"]), "local_cluster left processes behind"
    assert not ps_lines(seen["temp_dir"])
    assert LocalCluster.load(state) is None
