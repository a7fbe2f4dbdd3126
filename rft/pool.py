"""Pool runs from several models (or shards of one) into one SFT dataset of distinct correct paths.

`pool_runs` streams each run's ``samples.jsonl`` problem by problem, offers every verified-correct
path to that problem's `rft.distinct.DistinctSet` (same problem id = same problem, whichever run or
task it came from), and writes the kept paths in the ``rft export`` format (``train.jsonl`` +
``hf/``) with their provenance (model, run, sample id), plus ``report.json``: per model the correct
paths contributed, the distinct and *unique* paths (found by no other model), the paths kept, and
the model-by-model overlap matrix (distinct paths found by both models). Shards of one model
(``--shard i/N``) pool to their union; a sample seen twice (same model, sampling settings and
sample id) is counted once. Memory holds the kept paths plus an 8-byte hash per sample read.

    rft pool runs/qwen runs/llama --out data/pooled
"""

from __future__ import annotations

import gc
import json
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rft.distinct import REASONS, Candidate, DistinctConfig, DistinctSet, problem_groups, verdict_of
from rft.errors import DataError, RftError
from rft.sft import sft_record, write_sft
from rft.jsonl import write_json
from rft.records import Problem
from rft.store import CONFIG, SAMPLES, load_problems, read_config, require_run

REPORT = "report.json"


@dataclass
class ModelStats:
    """Per-model counts in a pool.

    Attributes:
        samples: Samples read.
        correct: Verified-correct paths contributed.
        wrong_step: Correct final answer but a false calculation.
        distinct: Distinct paths (clusters) this model produced a member of.
        unique: Distinct paths no other model produced.
        kept: Kept paths whose representative came from this model.
    """

    samples: int = 0
    correct: int = 0
    wrong_step: int = 0
    distinct: int = 0
    unique: int = 0
    kept: int = 0


@dataclass
class PoolReport:
    """What `pool_runs` did; saved as ``report.json``."""

    runs: list[dict[str, Any]]
    config: dict[str, Any]
    problems: int = 0
    problems_with_paths: int = 0
    samples: int = 0
    duplicate_samples: int = 0
    correct: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    verifier: dict[str, int] = field(default_factory=dict)
    models: dict[str, ModelStats] = field(default_factory=dict)
    overlap: list[list[int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "pool", "runs": self.runs, "config": self.config, "problems": self.problems,
                "problems_with_paths": self.problems_with_paths, "samples": self.samples,
                "duplicate_samples": self.duplicate_samples, "correct": self.correct, "kept": self.kept,
                "rejected": self.rejected, "verifier": self.verifier,
                "models": {m: vars(s) for m, s in self.models.items()},
                "overlap": {"models": list(self.models), "matrix": self.overlap}}


class _Problem:
    """Pool state of one problem: its distinct set and the identities of the samples already read."""

    __slots__ = ("paths", "seen")

    def __init__(self, config: DistinctConfig):
        self.paths = DistinctSet(config)
        self.seen = array("q")


def _check_out(out: Path, runs: Sequence[Path]) -> None:
    for run in runs:
        if run.resolve() == out.resolve():
            raise RftError(f"--out {out} is one of the input runs; choose another --out")
    if out.exists() and not out.is_dir():
        raise RftError(f"--out {out} exists and is not a directory; choose another --out")
    if out.exists() and any(out.iterdir()):
        previous = out / REPORT
        try:
            is_pool = json.loads(previous.read_text(encoding="utf-8")).get("kind") == "pool"
        except (OSError, ValueError, AttributeError):
            is_pool = False
        if not is_pool:
            raise RftError(f"--out {out} is a non-empty directory that holds no pool; choose another --out")


@contextmanager
def _bulk_build() -> Iterator[None]:
    """Pause the cyclic garbage collector while building the pool state.

    The state is many small acyclic objects that live to the end; with the collector on, its full
    collections re-scan all of them again and again (about 10-15% of the time at 1M paths).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def pool_runs(runs: Sequence[str | Path], out: str | Path, config: DistinctConfig | None = None,
              console: Any = None) -> PoolReport:
    """Pool the distinct correct paths of ``runs`` into the SFT dataset folder ``out``.

    Args:
        runs: Run directories written by ``rft generate`` (any models, tasks or shards).
        out: Output folder; created, or replaced if it holds an earlier pool.
        config: Distinct-path settings (defaults: `DistinctConfig()`).
        console: A rich Console to print the report tables to; None prints nothing.

    Returns:
        The `PoolReport`, also written to ``out/report.json``.

    Raises:
        RftError: No runs, a run listed twice, a missing run, or an unusable ``out``.
    """
    config = config or DistinctConfig()
    if not runs:
        raise RftError("pool needs at least one run directory")
    paths = [require_run(r) for r in runs]
    resolved = [p.resolve() for p in paths]
    for i, p in enumerate(resolved):
        if p in resolved[:i]:
            raise RftError(f"run {paths[i]} is listed twice; list each run once")
    out = Path(out)
    _check_out(out, paths)
    labels = [str(p) for p in paths]  # provenance "run": the path as given, as `rft export` writes it
    report = PoolReport(runs=[], config=config.to_dict())
    state: dict[str, _Problem] = {}
    problems: dict[str, dict[str, Problem]] = {}
    verifier: Counter[str] = Counter()
    with _bulk_build():
        for path, label in zip(paths, labels, strict=True):
            problems[label] = {p.id: p for p in load_problems(path)}
            report.runs.append(_pool_run(path, label, problems[label], config, state, report, verifier))
        report.verifier = dict(verifier.most_common())
        rows = _finish(state, problems, report)
    write_sft(out, rows)
    write_json(out / REPORT, report.to_dict())
    if console is not None:
        console.print(render_report(report))
        console.print(f"wrote {len(rows)} paths to {out}")
    return report


def _pool_run(path: Path, label: str, problems: dict[str, Problem], config: DistinctConfig,
              state: dict[str, _Problem], report: PoolReport, verifier: Counter[str]) -> dict[str, Any]:
    """Stream one run into the pool state; returns its line for the report."""
    run_config = read_config(path) if (path / CONFIG).exists() else {}
    identity = json.dumps(run_config.get("sampling"), sort_keys=True)
    where = str(path / SAMPLES)
    samples = correct = duplicates = 0
    models: set[str] = set()
    params: Any = None
    for group in problem_groups(path / SAMPLES):
        pid = str(group[0].get("problem_id"))
        if pid not in problems:
            raise DataError(f"{where}: samples of problem {pid!r}, which is not in {path / 'problems.jsonl'}; "
                            f"is this run complete?")
        prob = state.get(pid)
        if prob is None:
            prob = state[pid] = _Problem(config)
        seen = set(prob.seen)
        for row in group:
            model = row.get("model")
            if not isinstance(model, str):
                raise DataError(f"{where}: a sample of problem {pid!r} has no 'model' field; "
                                f"expected the rows written by `rft generate`")
            key = hash((model, identity, row.get("id")))
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            prob.seen.append(key)
            samples += 1
            stats = report.models.get(model)
            if stats is None:
                stats = report.models[model] = ModelStats()
            if model not in models:
                models.add(model)
            stats.samples += 1
            ok, reason = verdict_of(row)
            if not ok:
                verifier[reason] += 1
                continue
            correct += 1
            stats.correct += 1
            if row.get("params") == params:
                row["params"] = params  # share one dict per run instead of one per kept sample
            else:
                params = row.get("params")
            rejected = prob.paths.offer(Candidate.from_row(row, label, where))
            if rejected is not None:
                report.rejected[rejected] += 1
                if rejected == "wrong_step":
                    stats.wrong_step += 1
    report.samples += samples
    report.correct += correct
    report.duplicate_samples += duplicates
    return {"run": label, "models": sorted(models), "samples": samples,
            "correct": correct, "duplicate_samples": duplicates}


def _finish(state: dict[str, _Problem], problems: dict[str, dict[str, Problem]],
            report: PoolReport) -> list[dict[str, Any]]:
    """Cap each problem, tally clusters per model and the overlap matrix, and build the SFT rows."""
    names = list(report.models)
    position = {m: i for i, m in enumerate(names)}
    overlap = [[0] * len(names) for _ in names]
    rows: list[dict[str, Any]] = []
    report.problems = len(state)
    for pid, prob in state.items():
        kept = prob.paths.finish()
        report.rejected["cap"] += prob.paths.rejected["cap"]
        for cluster in prob.paths.clusters:
            members = [position[m] for m in cluster.models]
            for a in members:
                for b in members:
                    overlap[a][b] += 1
            if len(cluster.models) == 1:
                report.models[next(iter(cluster.models))].unique += 1
        for cluster in kept:
            path = cluster.path
            report.models[path.model].kept += 1
            rows.append(sft_record(problems[path.run][pid], path.to_sample(), path.run))
        report.problems_with_paths += bool(kept)
        report.kept += len(kept)
    for m, i in position.items():
        report.models[m].distinct = overlap[i][i]
    report.overlap = overlap
    return rows


def render_report(report: PoolReport) -> Any:
    """A rich renderable: per-model table, overlap matrix and rejection counts."""
    from rich.console import Group
    from rich.table import Table

    models = Table(title=f"Pool: {report.kept} distinct correct paths for {report.problems_with_paths}"
                         f"/{report.problems} problems from {len(report.runs)} run(s)")
    for col in ("model", "samples", "correct", "wrong step", "distinct", "unique", "kept"):
        models.add_column(col, justify="left" if col == "model" else "right")
    for name, s in report.models.items():
        models.add_row(name, *(str(v) for v in (s.samples, s.correct, s.wrong_step, s.distinct, s.unique, s.kept)))
    overlap = Table(title="Overlap: distinct paths found by both models")
    overlap.add_column("")
    names = list(report.models)
    for name in names:
        overlap.add_column(name, justify="right")
    for name, row in zip(names, report.overlap, strict=True):
        overlap.add_row(name, *(str(v) for v in row))
    reasons = Table(title="Paths not kept")
    reasons.add_column("reason")
    reasons.add_column("count", justify="right")
    for reason, count in [*report.rejected.items(), *((f"verifier: {r}", c) for r, c in report.verifier.items()),
                          ("duplicate sample", report.duplicate_samples)]:
        reasons.add_row(reason, str(count))
    return Group(models, overlap, reasons)
