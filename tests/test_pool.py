"""Tests for `rft.pool`: provenance, per-model counts and overlap, shards, cross-task pooling, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from rft.distinct import DistinctConfig
from rft.errors import DataError, RftError
from rft.jsonl import read_jsonl, write_json, write_jsonl
from rft.pool import pool_runs, render_report
from rft.records import Problem, Sample, SamplingParams, Verdict

Path_ = tuple[str, bool]  # (completion, verified correct)


def write_run(path: Path, model: str, problems: dict[str, list[Path_]], seed: int = 0, task: str = "arith",
              order: dict[str, list[int]] | None = None) -> Path:
    """A run directory as `rft generate` writes it; ``order`` lists sample indices in file order."""
    path.mkdir(parents=True)
    n = max(len(v) for v in problems.values())
    sampling = SamplingParams(n=n, seed=seed).to_dict()
    write_json(path / "config.json", {"task": {"name": task}, "model": model, "engine": "fake",
                                      "verifier": {"name": "numeric"}, "sampling": sampling})
    write_jsonl(path / "problems.jsonl", [Problem(id=pid, prompt=f"[{task}] question {pid}?", answer="6").to_dict()
                                          for pid in problems])
    rows = []
    for pid, paths in problems.items():
        for i in (order or {}).get(pid, range(len(paths))):
            text, ok = paths[i]
            verdict = Verdict(correct=ok, extracted="6", reason="match" if ok else "mismatch", verifier="numeric",
                              version="1")
            rows.append(Sample(id=f"{pid}#{i}", problem_id=pid, model=model, index=i, completion=text,
                               params=sampling, verdict=verdict).to_dict())
    write_jsonl(path / "samples.jsonl", rows)
    return path


A1, A2, A_WRONG_STEP = "2 * 3 = 6\n#### 6", "3 + 3 = 6\n#### 6", "2 * 3 = 7, minus 1 is 6\n#### 6"
B1, B2 = "so 2 * 3 = 6\n#### 6", "1 + 5 = 6\n#### 6"
X = "Six is what you get when you double three, so the total is six.\n#### 6"
Y = "Count the pairs one by one and you will find there are six in all.\n#### 6"


@pytest.fixture
def two_models(tmp_path: Path) -> list[Path]:
    a = write_run(tmp_path / "run-a", "model-a", {"p1": [(A1, True), (A2, True), (A_WRONG_STEP, True), ("7", False)],
                                                  "p2": [(X, True)]})
    b = write_run(tmp_path / "run-b", "model-b", {"p1": [(B1, True), (B2, True)], "p2": [(Y, True), ("5", False)]})
    return [a, b]


def rows_of(out: Path) -> list[dict[str, Any]]:
    return list(read_jsonl(out / "train.jsonl"))


def test_pool_two_models_keeps_provenance_and_reports_overlap(two_models: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "pooled"
    report = pool_runs(two_models, out, DistinctConfig(select="first"))
    a, b = map(str, two_models)
    got = {(r["problem_id"], r["model"], r["run"], r["sample_id"], r["messages"][-1]["content"]) for r in rows_of(out)}
    assert got == {("p1", "model-a", a, "p1#0", A1), ("p1", "model-a", a, "p1#1", A2),
                   ("p1", "model-b", b, "p1#1", B2), ("p2", "model-a", a, "p2#0", X),
                   ("p2", "model-b", b, "p2#0", Y)}
    first = rows_of(out)[0]
    assert first["messages"][0] == {"role": "user", "content": "[arith] question p1?"}
    assert first["answer"] == "6"
    models = {m: vars(s) for m, s in report.models.items()}
    assert models == {
        "model-a": {"samples": 5, "correct": 4, "wrong_step": 1, "distinct": 3, "unique": 2, "kept": 3},
        "model-b": {"samples": 4, "correct": 3, "wrong_step": 0, "distinct": 3, "unique": 2, "kept": 2},
    }
    assert report.overlap == [[3, 1], [1, 3]]  # "2 * 3 = 6" was found by both models
    assert report.rejected == {"wrong_step": 1, "duplicate_signature": 1, "near_duplicate": 0, "cap": 0}
    assert report.verifier == {"mismatch": 2}
    assert (report.samples, report.correct, report.kept, report.problems) == (9, 7, 5, 2)
    saved = json.loads((out / "report.json").read_text())
    assert saved == json.loads(json.dumps(report.to_dict()))
    assert saved["overlap"]["models"] == ["model-a", "model-b"]

    import datasets

    hf = datasets.load_from_disk(str(out / "hf"))
    assert len(hf) == 5 and set(hf.column_names) >= {"messages", "problem_id", "sample_id", "run", "model", "answer"}


def test_report_renders_as_tables(two_models: list[Path], tmp_path: Path) -> None:
    from rich.console import Console

    report = pool_runs(two_models, tmp_path / "pooled")
    console = Console(record=True, width=120)
    console.print(render_report(report))
    text = console.export_text()
    assert "model-a" in text and "Overlap" in text and "duplicate_signature" in text


def test_farthest_selection_across_models(two_models: list[Path], tmp_path: Path) -> None:
    report = pool_runs(two_models, tmp_path / "pooled")
    texts = {r["messages"][-1]["content"] for r in rows_of(tmp_path / "pooled")}
    assert B1 in texts and A1 not in texts  # B1 is farther than A1 from the other kept paths of p1
    assert report.models["model-b"].kept == 3


def test_shards_pool_to_their_union(tmp_path: Path) -> None:
    s0 = write_run(tmp_path / "shard0", "m", {"p1": [(A1, True), (A2, True)], "p2": [(X, True)]})
    s1 = write_run(tmp_path / "shard1", "m", {"p3": [(B2, True), (Y, False)]})
    report = pool_runs([s0, s1], tmp_path / "pooled")
    ids = [r["sample_id"] for r in rows_of(tmp_path / "pooled")]
    assert sorted(ids) == ["p1#0", "p1#1", "p2#0", "p3#0"] and len(set(ids)) == len(ids)
    assert (report.samples, report.duplicate_samples, report.problems) == (5, 0, 3)

    copy = tmp_path / "shard0-copy"
    shutil.copytree(s0, copy)
    report = pool_runs([s0, copy], tmp_path / "pooled-twice")
    assert (report.samples, report.duplicate_samples, report.kept) == (3, 3, 3)
    assert report.runs[1]["duplicate_samples"] == 3


def test_same_problem_id_from_another_task_is_the_same_problem(tmp_path: Path) -> None:
    r1 = write_run(tmp_path / "r1", "m", {"p1": [(A1, True)]}, seed=0, task="arith")
    r2 = write_run(tmp_path / "r2", "m", {"p1": [(B1, True), (A2, True)]}, seed=1, task="gsm8k")
    report = pool_runs([r1, r2], tmp_path / "pooled", DistinctConfig(select="first"))
    assert report.problems == 1 and report.samples == 3 and report.duplicate_samples == 0
    assert report.rejected["duplicate_signature"] == 1
    rows = rows_of(tmp_path / "pooled")
    assert [(r["run"], r["messages"][0]["content"]) for r in rows] == [(str(r1), "[arith] question p1?"),
                                                                       (str(r2), "[gsm8k] question p1?")]


def test_cap_is_applied_and_reported(two_models: list[Path], tmp_path: Path) -> None:
    report = pool_runs(two_models, tmp_path / "pooled", DistinctConfig(max_per_problem=1))
    assert report.kept == 2 and report.rejected["cap"] == 3
    assert len(rows_of(tmp_path / "pooled")) == 2


def test_bad_input_is_a_clear_error(two_models: list[Path], tmp_path: Path) -> None:
    with pytest.raises(RftError, match="listed twice"):
        pool_runs([two_models[0], two_models[0]], tmp_path / "o1")
    with pytest.raises(RftError, match="not a run directory"):
        pool_runs([tmp_path / "nowhere"], tmp_path / "o2")
    with pytest.raises(RftError, match="at least one run"):
        pool_runs([], tmp_path / "o3")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(RftError, match="non-empty"):
        pool_runs(two_models, busy)
    assert (busy / "notes.txt").read_text() == "mine"
    with pytest.raises(RftError, match="input runs"):
        pool_runs(two_models, two_models[0])
    orphan = write_run(tmp_path / "orphan", "m", {"p9": [(A1, True)]})
    write_jsonl(orphan / "problems.jsonl", [])
    with pytest.raises(DataError, match="p9"):
        pool_runs([orphan], tmp_path / "o4")


def test_an_earlier_pool_is_replaced(two_models: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "pooled"
    pool_runs(two_models, out)
    report = pool_runs(two_models[:1], out)
    assert len(rows_of(out)) == report.kept == 3
    assert json.loads((out / "report.json").read_text())["runs"][0]["run"] == str(two_models[0])


def test_cli_pool(two_models: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rft.cli import main

    out = tmp_path / "pooled"
    assert main(["pool", *map(str, two_models), "--out", str(out), "--select", "first", "--max-per-problem", "2"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["select"] == "first" and report["config"]["max_per_problem"] == 2
    assert report["kept"] == 4 and "model-b" in capsys.readouterr().out
    assert main(["pool", str(two_models[0]), "--out", str(out), "--near-dup-threshold", "1.5"]) == 2
    assert "--near-dup-threshold" in capsys.readouterr().err
