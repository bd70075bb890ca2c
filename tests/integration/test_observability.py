"""Training metrics reach Prometheus through Ray's metrics export; the dashboard names only
what is really exported; MLflow keeps one run, without gaps or duplicates, across a resume."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from raytrain.runtime.telemetry import METRICS
from tests.integration.helpers import kill_group, python_module, run, start_until, write_spec
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


def test_mlflow_keeps_one_run_without_gaps_or_duplicates_across_a_resume(ray_head, tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    spec = write_spec(tmp_path / "t.yaml", name="tracked", train__epochs=None, train__max_steps=400,
                      train__eval_every_n_steps=200, train__report_every_n_steps=50,
                      checkpoint__every_n_steps=100, checkpoint__score_metric=None,
                      tracking={"mlflow": {"tracking_uri": uri, "experiment": "raytrain-test"}})
    cmd = python_module("raytrain.run", str(spec), "--address", ray_head.address, "--storage", str(tmp_path / "s"))
    proc, _ = start_until(cmd, "checkpoint step 100", env=ray_head.env())
    kill_group(proc)  # interrupted after a checkpoint
    again = run(cmd, env=ray_head.env())
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming from" in again.stdout

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("raytrain-test")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, f"expected one MLflow run across the resume, found {len(runs)}"
    run_ = runs[0]
    assert run_.info.status == "FINISHED"
    assert run_.data.params["train.max_steps"] == "400" and run_.data.params["name"] == "tracked"
    assert run_.data.tags["raytrain.run_name"] == "tracked" and "ray.version" in run_.data.tags
    assert run_.data.tags["raytrain.last_checkpoint"].endswith("checkpoint_00000400")
    steps = [m.step for m in client.get_metric_history(run_.info.run_id, "loss")]
    assert steps == list(range(50, 401, 50)), f"loss history has gaps or duplicates: {steps}"
    val = [m.step for m in client.get_metric_history(run_.info.run_id, "val_accuracy")]
    assert val == [200, 400], val
    result = json.loads((tmp_path / "s" / "tracked" / "result.json").read_text())
    assert result["status"] == "succeeded"
