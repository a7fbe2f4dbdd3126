"""Statistics of a run: distinct correct paths and coverage versus samples per problem, with a plot.

For k = 1..n, using the first k samples of each problem (by sample index), `run_stats` computes the
mean number of distinct correct paths per problem (the RFT paper's figure), the coverage (fraction
of problems with at least one kept path, and with at least one verified-correct sample), and the
counts of every reason a sample was not kept (verifier reasons, then ``wrong_step``,
``duplicate_signature``, ``near_duplicate``, ``cap``). One pass over ``samples.jsonl``: selection is
incremental, so the state after a problem's first k samples is the selection over those k.
Writes ``stats.json`` and ``stats.png`` (matplotlib, Agg). On a pooled folder (``rft pool``) it shows
the pool report and plots per-model contributions and kept paths per problem.

    rft stats runs/gsm8k          # prints a table, writes runs/gsm8k/stats.json and stats.png
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rft.distinct import REASONS, Candidate, DistinctConfig, DistinctSet, problem_groups, verdict_of
from rft.errors import RftError
from rft.jsonl import read_jsonl, write_json
from rft.pool import REPORT, ModelStats, PoolReport, render_report
from rft.store import CONFIG, SAMPLES, read_config

STATS_JSON, STATS_PNG = "stats.json", "stats.png"


@dataclass
class RunStats:
    """Curves and counts of one run; ``*_at_k[k - 1]`` is the value using the first k samples.

    Attributes:
        run: The run directory.
        problems: Problems with at least one sample.
        samples: Samples read.
        n: Largest k (samples per problem).
        distinct_at_k: Mean distinct correct paths per problem.
        coverage_at_k: Fraction of problems with at least one kept (distinct, checked) path.
        correct_coverage_at_k: Fraction of problems with at least one verified-correct sample.
        reasons: ``kept`` plus the count of every reason a sample was not kept, over all n samples.
        config: The `DistinctConfig` used.
    """

    run: str
    problems: int = 0
    samples: int = 0
    n: int = 0
    distinct_at_k: list[float] = field(default_factory=list)
    coverage_at_k: list[float] = field(default_factory=list)
    correct_coverage_at_k: list[float] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "run", **asdict(self)}


def compute_stats(run: str | Path, config: DistinctConfig | None = None) -> RunStats:
    """The `RunStats` of a run directory, streaming its samples once."""
    config = config or DistinctConfig()
    run = Path(run)
    if not (run / SAMPLES).exists():
        raise RftError(f"{run} is not a run directory (no {SAMPLES}) nor a pool (no {REPORT}); "
                       f"create one with `rft generate` or `rft pool`")
    n = 0
    if (run / CONFIG).exists():
        n = int((read_config(run).get("sampling") or {}).get("n") or 0)
    cap = config.max_per_problem
    distinct: list[int] = []     # distinct[k - 1]: sum over problems of kept paths after k samples
    covered: list[int] = []      # problems with >= 1 kept path after k samples
    correct_cov: list[int] = []  # problems with >= 1 verified-correct sample among the first k
    reasons: Counter[str] = Counter()
    stats = RunStats(run=str(run), config=config.to_dict())
    where = str(run / SAMPLES)
    for group in problem_groups(run / SAMPLES):
        paths = DistinctSet(config)
        after: list[int] = []
        first_correct = None
        for j, row in enumerate(group):
            ok, reason = verdict_of(row)
            if ok:
                first_correct = j if first_correct is None else first_correct
                rejected = paths.offer(Candidate.from_row(row, str(run), where))
                if rejected:
                    reasons[rejected] += 1
            else:
                reasons[f"verifier: {reason}"] += 1
            kept = len(paths.clusters)
            after.append(min(kept, cap) if cap else kept)
        final = paths.finish()
        reasons["cap"] += paths.rejected["cap"]
        reasons["kept"] += len(final)
        stats.problems += 1
        stats.samples += len(group)
        while len(distinct) < max(n, len(group)):
            distinct.append(0)
            covered.append(0)
            correct_cov.append(0)
        for k in range(1, len(distinct) + 1):
            value = after[min(k, len(after)) - 1]
            distinct[k - 1] += value
            covered[k - 1] += value > 0
            correct_cov[k - 1] += first_correct is not None and first_correct < k
    p = stats.problems or 1
    stats.n = len(distinct)
    stats.distinct_at_k = [d / p for d in distinct]
    stats.coverage_at_k = [c / p for c in covered]
    stats.correct_coverage_at_k = [c / p for c in correct_cov]
    order = ["kept", *REASONS]
    stats.reasons = {r: reasons[r] for r in order} | {r: c for r, c in sorted(reasons.items()) if r not in order}
    return stats


def plot_stats(stats: RunStats) -> Any:
    """A matplotlib Figure: distinct paths vs k, coverage vs k, and the reasons samples were not kept."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4), layout="constrained")
    ax_distinct, ax_cover, ax_reasons = fig.subplots(1, 3)
    ks = list(range(1, stats.n + 1))
    ax_distinct.plot(ks, stats.distinct_at_k, marker="o", label="distinct correct paths")
    ax_distinct.set(title="Distinct correct paths per problem", xlabel="k (samples per problem)",
                    ylabel="mean paths per problem")
    ax_cover.plot(ks, stats.coverage_at_k, marker="o", label=">= 1 kept path")
    ax_cover.plot(ks, stats.correct_coverage_at_k, marker="s", linestyle="--", label=">= 1 correct sample")
    ax_cover.set(title="Coverage", xlabel="k (samples per problem)", ylabel="fraction of problems", ylim=(0, 1.05))
    ax_cover.legend(loc="lower right")
    names = list(stats.reasons)
    ax_reasons.barh(names, [stats.reasons[r] for r in names])
    ax_reasons.invert_yaxis()
    ax_reasons.set(title=f"Samples by outcome (k = {stats.n})", xlabel="samples")
    return fig


def save_figure(fig: Any, path: str | Path) -> None:
    """Render a Figure to PNG with the Agg backend (no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).print_png(str(path))


def render_stats(stats: RunStats) -> Any:
    """A rich renderable: the curves at a few k, and the outcome counts."""
    from rich.console import Group
    from rich.table import Table

    curves = Table(title=f"{stats.run}: {stats.problems} problems, {stats.samples} samples")
    for col in ("k", "distinct paths / problem", "coverage (kept)", "coverage (correct)"):
        curves.add_column(col, justify="right")
    shown = sorted({k for k in (1, 2, 4, 8, 16, 32, 64, 100, stats.n) if 1 <= k <= stats.n})
    for k in shown:
        curves.add_row(str(k), f"{stats.distinct_at_k[k - 1]:.2f}", f"{stats.coverage_at_k[k - 1]:.1%}",
                       f"{stats.correct_coverage_at_k[k - 1]:.1%}")
    outcomes = Table(title="Samples by outcome")
    outcomes.add_column("outcome")
    outcomes.add_column("samples", justify="right")
    for reason, count in stats.reasons.items():
        outcomes.add_row(reason, str(count))
    return Group(curves, outcomes)


def load_pool_report(folder: str | Path) -> PoolReport:
    """The `PoolReport` saved by ``rft pool`` in ``folder``."""
    data = json.loads((Path(folder) / REPORT).read_text(encoding="utf-8"))
    report = PoolReport(runs=data["runs"], config=data["config"])
    for key in ("problems", "problems_with_paths", "samples", "duplicate_samples", "correct", "kept",
                "rejected", "verifier"):
        setattr(report, key, data[key])
    report.models = {m: ModelStats(**s) for m, s in data["models"].items()}
    report.overlap = data["overlap"]["matrix"]
    return report


def plot_pool(report: PoolReport, paths_per_problem: list[int]) -> Any:
    """A matplotlib Figure: per-model contributions and the distribution of kept paths per problem."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_models, ax_hist = fig.subplots(1, 2)
    names = list(report.models)
    width = 0.2
    for i, key in enumerate(("correct", "distinct", "unique", "kept")):
        xs = [j + (i - 1.5) * width for j in range(len(names))]
        ax_models.bar(xs, [getattr(report.models[m], key) for m in names], width, label=key)
    ax_models.set_xticks(range(len(names)), names, rotation=15)
    ax_models.set(title="Paths contributed per model", ylabel="paths")
    ax_models.legend()
    top = max(paths_per_problem, default=0)
    ax_hist.hist(paths_per_problem, bins=range(0, top + 2), align="left")
    ax_hist.set(title="Kept paths per problem", xlabel="paths", ylabel="problems")
    return fig


def run_stats(run: str | Path, config: DistinctConfig | None = None, out: str | Path | None = None,
              console: Any = None) -> RunStats | PoolReport:
    """Compute, print and save the statistics of a run (or pooled) directory.

    Args:
        run: A run directory (``rft generate``) or a pooled folder (``rft pool``).
        config: Distinct-path settings for a run (ignored for a pool, which used its own).
        out: Where to write ``stats.json`` and ``stats.png``; defaults to ``run``.
        console: A rich Console to print to; None prints nothing.

    Returns:
        The `RunStats` of a run, or the `PoolReport` of a pool.
    """
    run = Path(run)
    out = Path(out) if out is not None else run
    out.mkdir(parents=True, exist_ok=True)
    if not (run / SAMPLES).exists() and (run / REPORT).exists():
        report = load_pool_report(run)
        per_problem = Counter(r["problem_id"] for r in read_jsonl(run / "train.jsonl"))
        counts = list(per_problem.values()) + [0] * (report.problems - len(per_problem))
        save_figure(plot_pool(report, counts), out / STATS_PNG)
        write_json(out / STATS_JSON, {"kind": "pool", "paths_per_problem": dict(sorted(Counter(counts).items()))})
        if console is not None:
            console.print(render_report(report))
            console.print(f"wrote {out / STATS_JSON} and {out / STATS_PNG}")
        return report
    stats = compute_stats(run, config)
    write_json(out / STATS_JSON, stats.to_dict())
    save_figure(plot_stats(stats), out / STATS_PNG)
    if console is not None:
        console.print(render_stats(stats))
        console.print(f"wrote {out / STATS_JSON} and {out / STATS_PNG}")
    return stats
