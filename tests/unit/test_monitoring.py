"""The Grafana dashboard cannot drift from the metrics the runtime defines."""

from __future__ import annotations

import json
import re

from raytrain.runtime.telemetry import METRICS
from tests.conftest import REPO

DASHBOARD = REPO / "clusters" / "monitoring" / "raytrain-dashboard.json"
PROMQL_FUNCTIONS = {"sum", "max", "min", "avg", "rate", "by", "irate", "increase", "count", "without", "on"}


def dashboard_queries() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    queries += [v["definition"] for v in dash["templating"]["list"] if v.get("definition")]
    return queries


def metric_names(query: str) -> set[str]:
    """Metric names in a PromQL query: identifiers followed by a selector, range or ')'."""
    query = re.sub(r"\{[^}]*\}", "{}", query)  # label matchers hold no metric names
    query = re.sub(r"by \([^)]*\)", "", query)  # nor do grouping labels
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b\s*(?=\{|\[|\)|,|$)", query))
    return {n for n in names if n not in PROMQL_FUNCTIONS and not n.isdigit() and n != "run"}


def test_dashboard_queries_name_only_metrics_the_runtime_defines():
    defined = {f"ray_{name}" for name in METRICS}
    used = set().union(*(metric_names(q) for q in dashboard_queries()))
    ours = {n for n in used if n.startswith("ray_raytrain_")}
    assert ours, "the dashboard queries no raytrain metric"
    assert ours <= defined, f"dashboard names metrics the runtime does not export: {sorted(ours - defined)}"


def test_dashboard_covers_throughput_loss_step_time_checkpoints_workers_failures():
    used = set().union(*(metric_names(q) for q in dashboard_queries()))
    for name in ("run_samples_per_second", "samples_per_second", "loss", "step_time_seconds",
                 "checkpoint_write_seconds", "workers", "failures_total"):
        assert f"ray_raytrain_{name}" in used, f"no panel shows raytrain_{name}"


def test_metric_names_follow_prometheus_conventions():
    for name, (kind, _, labels) in METRICS.items():
        assert name.startswith("raytrain_") and name == name.lower()
        assert name.endswith("_total") == (kind == "counter"), name
        assert "run" in labels


def test_readme_lists_every_metric():
    readme = (REPO / "README.md").read_text()
    missing = [name for name in METRICS if f"`{name}`" not in readme]
    assert not missing, f"README does not list: {missing}"
