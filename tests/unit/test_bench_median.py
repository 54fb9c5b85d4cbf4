"""A repeated benchmark phase reports its median run, whole, with every run's rate beside it
(bench/throughput.py), and the table names the runs (bench/report.py)."""

from __future__ import annotations

from bench.report import _runs
from bench.throughput import median_of


def test_the_median_run_is_reported_whole_with_every_rate() -> None:
    runs = [
        {"eps": 9_000, "cpu_us_per_event": 100.0},
        {"eps": 7_000, "cpu_us_per_event": 130.0},
        {"eps": 8_000, "cpu_us_per_event": 115.0},
    ]
    got = median_of(runs)
    assert got == {"eps": 8_000, "cpu_us_per_event": 115.0, "eps_runs": [9_000, 7_000, 8_000]}
    assert "eps_runs" not in runs[2]  # the runs themselves are left as they were


def test_an_even_count_takes_the_lower_middle_and_one_run_is_itself() -> None:
    assert median_of([{"eps": 4}, {"eps": 1}, {"eps": 3}, {"eps": 2}])["eps"] == 2
    assert median_of([{"eps": 5, "x": 1}]) == {"eps": 5, "x": 1}


def test_the_table_names_the_runs_of_a_repeated_phase_only() -> None:
    phases = {"ceiling": {"eps": 20_000, "eps_runs": [21_000, 19_000, 20_000]}, "one": {"eps": 1}}
    assert _runs(phases, "ceiling") == " (median of 3 runs: 21,000 / 19,000 / 20,000 events/s)"
    assert _runs(phases, "one") == ""
    assert _runs(phases, "missing") == ""
