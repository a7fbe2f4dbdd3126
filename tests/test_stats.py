"""Tests for `rft.stats`: the distinct-paths and coverage curves, outcome counts, and the PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rft.distinct import DistinctConfig
from rft.errors import RftError
from rft.pool import pool_runs
from rft.stats import compute_stats, plot_stats, run_stats
from tests.test_pool import write_run

WRONG = ("The answer is 7.\n#### 7", False)


@pytest.fixture
def run(tmp_path: Path) -> Path:
    problems = {
        # distinct after k = 1..4: 1, 1, 2, 2 (the second is a signature duplicate)
        "p1": [("2 * 3 = 6\n#### 6", True), ("so 2 * 3 = 6\n#### 6", True), ("3 + 3 = 6\n#### 6", True), WRONG],
        # first correct at k = 3; the fourth has a wrong step: 0, 0, 1, 1
        "p2": [WRONG, WRONG, ("1 + 5 = 6\n#### 6", True), ("2 * 3 = 7, so 7 - 1 = 6\n#### 6", True)],
        "p3": [WRONG] * 4,  # never solved
    }
    # p1's samples are stored out of index order: the curves must use sample indices, not file order
    return write_run(tmp_path / "run", "m", problems, order={"p1": [3, 2, 1, 0]})


def test_curves_and_outcomes(run: Path) -> None:
    stats = compute_stats(run)
    assert (stats.problems, stats.samples, stats.n) == (3, 12, 4)
    assert stats.distinct_at_k == pytest.approx([1 / 3, 1 / 3, 1, 1])
    assert stats.coverage_at_k == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3])
    assert stats.correct_coverage_at_k == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3])
    assert stats.reasons == {"kept": 3, "wrong_step": 1, "duplicate_signature": 1, "near_duplicate": 0, "cap": 0,
                             "verifier: mismatch": 7}


def test_cap_limits_the_curve(run: Path) -> None:
    stats = compute_stats(run, DistinctConfig(max_per_problem=1))
    assert stats.distinct_at_k == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3])
    assert stats.reasons["cap"] == 1 and stats.reasons["kept"] == 2


def test_run_stats_writes_json_and_a_png_of_the_curves(run: Path, tmp_path: Path) -> None:
    import matplotlib.image

    stats = run_stats(run, out=tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert saved["distinct_at_k"] == pytest.approx([1 / 3, 1 / 3, 1, 1])
    assert saved["reasons"]["duplicate_signature"] == 1
    png = tmp_path / "out" / "stats.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(str(png)).shape[:2] == (400, 1300)

    fig = plot_stats(stats)
    distinct_ax, coverage_ax, reasons_ax = fig.axes
    assert list(distinct_ax.lines[0].get_xdata()) == [1, 2, 3, 4]
    assert list(distinct_ax.lines[0].get_ydata()) == pytest.approx([1 / 3, 1 / 3, 1, 1])
    assert list(coverage_ax.lines[0].get_ydata()) == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3])
    assert [p.get_width() for p in reasons_ax.patches] == [3, 1, 1, 0, 0, 7]


def test_run_stats_defaults_to_the_run_and_prints(run: Path) -> None:
    from rich.console import Console

    console = Console(record=True, width=120)
    run_stats(run, console=console)
    assert (run / "stats.png").exists() and (run / "stats.json").exists()
    assert "distinct paths / problem" in console.export_text()


def test_stats_of_a_pool(run: Path, tmp_path: Path) -> None:
    pooled = tmp_path / "pooled"
    pool_runs([run], pooled)
    run_stats(pooled, out=tmp_path / "pool-stats")
    saved = json.loads((tmp_path / "pool-stats" / "stats.json").read_text())
    assert saved == {"kind": "pool", "paths_per_problem": {"0": 1, "1": 1, "2": 1}}
    assert (tmp_path / "pool-stats" / "stats.png").read_bytes()[:4] == b"\x89PNG"


def test_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(RftError, match="not a run directory"):
        compute_stats(tmp_path)


def test_cli_stats(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rft.cli import main

    assert main(["stats", str(run), "--out", str(tmp_path / "s"), "--max-per-problem", "1"]) == 0
    saved = json.loads((tmp_path / "s" / "stats.json").read_text())
    assert saved["config"]["max_per_problem"] == 1 and saved["reasons"]["cap"] == 1
    assert "coverage" in capsys.readouterr().out
