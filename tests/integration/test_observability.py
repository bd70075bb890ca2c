"""Training metrics reach Prometheus through Ray's metrics export; the dashboard names only
what is really exported."""

from __future__ import annotations

import time
import urllib.request

import pytest

from raytrain.runtime.telemetry import METRICS
from tests.integration.helpers import kill_group, python_module, start_until, write_spec
from tests.unit.test_monitoring import dashboard_queries, metric_names

pytestmark = pytest.mark.integration


def scrape(port: int) -> dict[str, list]:
    """Metric families by name, parsed by prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    families = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family.samples
        if family.type == "counter":  # the parser drops _total from a counter family's name
            families[family.name + "_total"] = family.samples
    return families


def test_training_metrics_are_scraped_with_labels_and_the_dashboard_matches(ray_head, tmp_path):
    spec = write_spec(tmp_path / "m.yaml", name="metrics", train__epochs=None, train__max_steps=3000,
                      train__eval_every_n_steps=None, train__report_every_n_steps=50,
                      checkpoint__every_n_steps=500, checkpoint__score_metric=None)
    cmd = python_module("raytrain.run", str(spec), "--address", ray_head.address, "--storage", str(tmp_path / "s"))
    proc, _ = start_until(cmd, "checkpoint step 500", env=ray_head.env())
    try:
        ours: dict[str, list] = {}
        families: dict[str, list] = {}
        deadline = time.time() + 90
        while time.time() < deadline:
            families = scrape(ray_head.metrics_port)
            ours = {name: [s for s in families.get(f"ray_{name}", []) if s.labels.get("run") == "metrics"]
                    for name in METRICS}
            if all(ours.values()):
                break
            time.sleep(2)
    finally:
        kill_group(proc)
    missing = [name for name, samples in ours.items() if not samples]
    assert not missing, f"not exported while the run trained: {missing}"
    ranks = {s.labels["rank"] for s in ours["raytrain_samples_per_second"]}
    assert ranks == {"0", "1"}, f"per-worker series by rank: {ranks}"
    assert all(s.value > 0 for s in ours["raytrain_samples_per_second"])
    assert all(0 < s.value < 10 for s in ours["raytrain_loss"])
    assert max(s.value for s in ours["raytrain_step"]) >= 500
    assert max(s.value for s in ours["raytrain_workers"]) == 2
    assert max(s.value for s in ours["raytrain_checkpoints_total"]) >= 1
    assert max(s.value for s in ours["raytrain_checkpoint_bytes_total"]) > 1000

    used = set().union(*(metric_names(q) for q in dashboard_queries()))
    not_exported = sorted(n for n in used if n not in families)
    assert not not_exported, f"dashboard queries name metrics nobody exports: {not_exported}"


# MLflow across a resume: test_failures.py::test_driver_loss_then_the_same_spec_resumes_losing_at_most_every_n_steps
