"""raytrain bench's report writers: where results go, the JSON record, the Markdown tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raytrain.bench import failures, parity, report


def test_results_dir_is_date_then_machine(tmp_path):
    assert report.results_dir(tmp_path, "vm-2cpu", "2026-12-04") == tmp_path / "2026-12-04-vm-2cpu"


def test_machine_name_has_the_cpu_count():
    import os

    assert report.machine_name().endswith(f"-{os.cpu_count()}cpu")


def test_write_json_round_trips_and_stringifies_paths(tmp_path):
    path = report.write_json(tmp_path / "a" / "r.json", {"x": 1.5, "where": Path("/tmp/x")})
    assert json.loads(path.read_text()) == {"x": 1.5, "where": "/tmp/x"}


def test_markdown_table_shape_and_number_format():
    text = report.markdown_table(["a", "b", "c"], [[1, 2.345, 12345.6], ["x|y", 0.5, "z"]])
    lines = text.splitlines()
    assert lines[0] == "| a | b | c |"
    assert lines[1] == "|---|---|---|"
    assert lines[2] == "| 1 | 2.35 | 12,346 |"
    assert lines[3] == "| x\\|y | 0.50 | z |"


def test_markdown_table_rejects_a_short_row():
    with pytest.raises(ValueError, match="columns"):
        report.markdown_table(["a", "b"], [[1]])


def test_spread_is_median_then_range():
    assert report.spread({"median": 2.0, "min": 1.0, "max": 3.5}, "{:.1f}") == "2.0 [1.0–3.5]"


def _parity_result():
    samples = []
    for rep, (a, b, wa, wb) in enumerate([(95.0, 100.0, 50.0, 10.0), (99.0, 100.0, 48.0, 12.0)]):
        samples += [{"model": "mlp", "kind": "raytrain", "repetition": rep, "samples_per_s": a, "wall_s": wa,
                     "time_to_first_step_s": 30.0},
                    {"model": "mlp", "kind": "torchrun", "repetition": rep, "samples_per_s": b, "wall_s": wb,
                     "time_to_first_step_s": 5.0}]
    return {"configs": {"mlp": {"workers": 2, "batch_size": 64, "warmup_steps": 50, "threads": 1}},
            "machine": {"cpu_count": 2, "cpu": "test cpu", "versions": {"torch": "t", "ray": "r"}},
            "summary": parity.summarize(samples), "samples": samples}


def test_parity_summary_pairs_ratios_and_overheads_by_repetition():
    s = _parity_result()["summary"]["mlp"]
    assert s["throughput_ratio"]["median"] == pytest.approx((0.95 + 0.99) / 2)
    assert s["setup_overhead_s"]["min"] == pytest.approx(36.0)
    assert s["setup_overhead_s"]["max"] == pytest.approx(40.0)


def test_parity_markdown_reports_missed_targets_by_how_much():
    text = parity.markdown(_parity_result())
    row = text.splitlines()[2]
    assert row.startswith("| mlp | 2 | 64 | 2 |")
    assert "missed by 0.010" in row  # median ratio 0.97 against 0.98
    assert "missed by 28.0 s" in row  # median overhead 38 s against 10 s


def test_checkpoint_summary_and_markdown():
    writes = [{"try": 1, "bytes": 2**30, "fs": "ext4", "commit_s": 2.0, "dd_s": 1.0, "hash_s": 0.5,
               "restore_s": 4.0, "ratio_to_dd": 0.5}]
    blocked = {"sync": {"checkpoints": [{"blocked_s": 1.0}, {"blocked_s": 3.0}]},
               "async": {"checkpoints": [{"blocked_s": 0.02}, {"blocked_s": None}]}}
    s = failures.checkpoint_summary(writes, blocked)
    assert s["write_gib_s"]["median"] == pytest.approx(0.5)
    assert s["restore_gib_s"]["median"] == pytest.approx(0.25)
    assert s["async_blocked_share_of_sync"] == pytest.approx(0.01)
    text = failures.checkpoint_markdown({"summary": s, "writes": writes,
                                         "config": {"bytes": 2**30, "dir": "/d", "repeat": 1}})
    assert "≥ 0.8: missed" in text
    assert "≤ 0.05: met" in text


def test_plots_are_written_as_png(tmp_path):
    samples = [{"model": "mlp", "kind": k, "samples_per_s": 1.0, "wall_s": 2.0} for k in ("raytrain", "torchrun")]
    p = report.plot_parity(tmp_path / "p.png", samples)
    rows = [{"mode": "weak", "workers": n, "samples_per_s": 10.0 * n, "efficiency": 1.0} for n in (1, 2)]
    s = report.plot_scaling(tmp_path / "s.png", rows)
    for path in (p, s):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_raytrain_phases_come_from_when_its_progress_lines_arrived():
    from raytrain.bench import runners

    lines = [(105.0, "[p] 2 workers on a local Ray cluster (2 CPUs)"), (120.0, "[p] training started with 2 workers"),
             (130.0, "[p] step 10/20")]
    sample = {"time_to_first_step_s": 28.0, "records": [{"time": 130.0}, {"time": 135.0}]}
    ph = runners.phases(lines, launched=100.0, ended=140.0, sample=sample)
    assert ph == {"cli_import_and_cluster_start_s": 5.0, "controller_and_worker_start_s": 15.0,
                  "worker_setup_to_first_step_s": 8.0, "first_to_last_step_s": 7.0, "after_last_step_s": 5.0}
    table = parity.phases_markdown([{"model": "mlp", "kind": "raytrain", "phases_s": ph, "wall_s": 40.0}])
    assert "| mlp | raytrain | 5.00 | 15 | 8.00 | 7.00 | 5.00 |  | 40 |" in table
