"""The arithmetic of raytrain bench: throughput windows, ratios, scaling efficiency, parsing."""

from __future__ import annotations

import math

import pytest

from raytrain.bench import scaling, stats


def _records(rates, every=10, step_time=None):
    return [{"step": every * (i + 1), "samples_per_s": r, "time": 100.0 + i,
             "step_time_s": step_time or 0.1} for i, r in enumerate(rates)]


def test_steady_throughput_leaves_out_warmup_windows():
    recs = _records([10.0, 1000.0, 1000.0])  # the first window (steps 1-10) is slow warm-up
    assert stats.steady_throughput(recs, global_batch=8, warmup_steps=10) == pytest.approx(1000.0)


def test_steady_throughput_is_total_samples_over_total_time_not_mean_of_rates():
    # two equal-sample windows at 100 and 300 samples/s: 160 samples in 0.8 + 0.2667 s = 150/s, not 200/s
    recs = _records([100.0, 300.0])
    assert stats.steady_throughput(recs, global_batch=8, warmup_steps=0) == pytest.approx(150.0)


def test_steady_throughput_uses_each_windows_own_length():
    recs = [{"step": 10, "samples_per_s": 100.0}, {"step": 40, "samples_per_s": 400.0}]
    # 80 samples in 0.8 s, 240 samples in 0.6 s
    assert stats.steady_throughput(recs, global_batch=8, warmup_steps=0) == pytest.approx(320 / 1.4)


def test_steady_throughput_refuses_when_only_warmup_was_reported():
    with pytest.raises(ValueError, match="warm-up"):
        stats.steady_throughput(_records([1.0, 2.0]), global_batch=8, warmup_steps=20)


def test_time_to_first_step_subtracts_the_rest_of_the_first_window():
    recs = [{"step": 10, "samples_per_s": 1.0, "time": 120.0, "step_time_s": 0.5}]
    assert stats.time_to_first_step(recs, launched_at=100.0) == pytest.approx(20.0 - 9 * 0.5)


def test_summary_median_spread_and_stdev():
    s = stats.summary([3.0, 1.0, 2.0, 10.0])
    assert (s["median"], s["min"], s["max"], s["n"]) == (2.5, 1.0, 10.0, 4)
    assert s["stdev"] == pytest.approx(math.sqrt(((1 - 4) ** 2 + (2 - 4) ** 2 + (3 - 4) ** 2 + (10 - 4) ** 2) / 3))


def test_summary_of_one_value_has_zero_stdev_and_of_none_raises():
    assert stats.summary([5.0])["stdev"] == 0.0
    with pytest.raises(ValueError):
        stats.summary([])


def test_paired_ratios_pair_by_repetition():
    assert stats.paired_ratios([90.0, 200.0], [100.0, 200.0]) == [0.9, 1.0]
    with pytest.raises(ValueError, match="pair"):
        stats.paired_ratios([1.0], [1.0, 2.0])


def test_scaling_efficiency_is_relative_to_one_worker():
    eff = stats.scaling_efficiency({1: 100.0, 2: 180.0, 4: 200.0})
    assert eff == {1: 1.0, 2: pytest.approx(0.9), 4: pytest.approx(0.5)}


def test_scaling_efficiency_from_a_base_above_one_scales_the_base_per_worker():
    assert stats.scaling_efficiency({2: 200.0, 4: 300.0})[4] == pytest.approx(0.75)


@pytest.mark.parametrize("text,want", [("1,2", [1, 2]), ("4, 1 ,2", [1, 2, 4]), ("3", [3])])
def test_parse_workers(text, want):
    assert stats.parse_workers(text) == want


@pytest.mark.parametrize("text", ["", "0,1", "1,1", "a,2", "-1"])
def test_parse_workers_rejects(text):
    with pytest.raises(ValueError, match="--workers"):
        stats.parse_workers(text)


@pytest.mark.parametrize("text,want", [("1GiB", 2**30), ("512MiB", 2**29), ("2GB", 2 * 10**9), ("0.5GiB", 2**29),
                                       ("1000", 1000)])
def test_parse_size(text, want):
    assert stats.parse_size(text) == want


@pytest.mark.parametrize("text", ["GiB", "1TiB", "-1GiB", "0"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError):
        stats.parse_size(text)


def test_scaling_plan_keeps_global_batch_for_strong_runs_and_does_not_repeat_the_top_one():
    assert scaling.plan_runs([1, 2, 4], 16) == [("weak", 1, 16), ("weak", 2, 16), ("weak", 4, 16),
                                                 ("strong", 1, 64), ("strong", 2, 32)]


def test_scaling_rows_compute_weak_and_strong_efficiency_and_allreduce_share():
    samples = [
        {"mode": "weak", "workers": 1, "batch_size": 10, "samples_per_s": 100.0, "time_to_first_step_s": 30.0},
        {"mode": "weak", "workers": 2, "batch_size": 10, "samples_per_s": 160.0, "time_to_first_step_s": 32.0},
        {"mode": "strong", "workers": 1, "batch_size": 20, "samples_per_s": 120.0, "time_to_first_step_s": 31.0},
    ]
    rows = {(r["mode"], r["workers"]): r for r in scaling.rows(samples, [1, 2], {2: {"median_s": 0.025}})}
    assert rows[("weak", 2)]["efficiency"] == pytest.approx(0.8)
    assert rows[("strong", 2)]["efficiency"] == pytest.approx(160 / 240)  # the top strong run is the weak one
    assert rows[("weak", 2)]["step_time_s"] == pytest.approx(20 / 160)
    assert rows[("weak", 2)]["allreduce_share"] == pytest.approx(0.025 / (20 / 160))
    assert rows[("weak", 1)]["allreduce_s"] == 0.0
