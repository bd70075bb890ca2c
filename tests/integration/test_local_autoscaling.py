"""Autoscaling end to end on the local mirror: from zero worker nodes to three and back."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from raytrain.local.cluster import status
from raytrain.submit import JobsClient

from .cli import REPO
from .mirror import mirror

pytestmark = pytest.mark.integration


def test_elastic_job_scales_the_mirror_up_to_three_nodes_and_idle_nodes_go_away(tmp_path):
    with mirror(tmp_path, manifest="mirror-autoscale.yaml", idle_timeout_s=10) as lc:
        assert [g.ready for g in status(lc.state_dir).groups] == [0], "min 0: no worker node at start"
        client = JobsClient(lc.dashboard_url)
        t_submit = time.monotonic()
        sub = client.submit_spec(
            REPO / "jobs" / "digits.yaml",
            ["scaling.workers=[1, 3]", "train.epochs=null", "train.max_steps=2500", "name=digits-elastic"],
            storage=lc.volume, working_dir=REPO,
        )
        metrics = Path(lc.volume) / "digits-elastic" / "metrics.jsonl"
        t_demand = t_ready = t_first_step = None
        deadline = time.monotonic() + 540
        state = client.state(sub.submission_id)
        while not state.terminal and time.monotonic() < deadline:
            st = status(lc.state_dir)
            if t_demand is None and (st.demand or st.groups[0].pending or st.groups[0].ready):
                t_demand = time.monotonic()
            if t_ready is None and st.groups[0].ready == 3:
                t_ready = time.monotonic()
            if t_first_step is None and metrics.is_file() and metrics.read_text().strip():
                t_first_step = time.monotonic()
            time.sleep(1)
            state = client.state(sub.submission_id)
        logs = client.logs(sub.submission_id)
        assert state.value == "SUCCEEDED", f"job {state.value}:\n{logs[-3000:]}"
        assert t_demand and t_ready, f"the autoscaler never brought up 3 nodes (demand at {t_demand})"
        result = json.loads((Path(lc.volume) / "digits-elastic" / "result.json").read_text())
        counts = [h["workers"] for h in result["worker_count_history"]]
        assert 3 in counts, f"training never ran with 3 workers: {result['worker_count_history']}"
        print(f"\nsubmit -> first step: {t_first_step - t_submit:.1f} s" if t_first_step else "\nno first step seen")
        print(f"demand -> 3 nodes ready: {t_ready - t_demand:.1f} s; worker counts {counts}")

        t_end = time.monotonic()
        while time.monotonic() < t_end + 120 and status(lc.state_dir).groups[0].ready > 0:
            time.sleep(2)
        left = status(lc.state_dir).groups[0].ready
        assert left == 0, f"{left} idle nodes still up 120 s after the job (idle timeout 10 s)"
        print(f"job end -> idle nodes removed: {time.monotonic() - t_end:.1f} s")
