"""Generate stage: storage, resume, refusal of mismatched runs, crash safety, summary consistency."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from rft.cli import main
from rft.engines.base import Engine
from rft.errors import RftError, RunMismatchError
from rft.export import export
from rft.jsonl import read_jsonl
from rft.pipeline import EngineError, GenerateConfig, generate, run_config, sample_into, select
from rft.records import Completion, Problem, SamplingParams
from rft.store import RunStore, load_samples
from rft.tasks.arith import ArithTask
from rft.verifiers.numeric import NumericVerifier

TINY = "tiny-random-llama"


class EchoEngine(Engine):
    """Answers correctly on even sample indices; can crash after ``crash_after`` problems."""

    name = "echo"

    def __init__(self, crash_after: int | None = None):
        super().__init__("echo-model")
        self.crash_after = crash_after
        self.seen = 0

    def generate(self, problems: Sequence[Problem], params: SamplingParams) -> Iterator[list[Completion]]:
        for p in problems:
            if self.crash_after is not None and self.seen >= self.crash_after:
                raise RuntimeError("CUDA error: device-side assert")
            self.seen += 1
            yield [Completion(p.id, i, f"step {i}\n#### {p.answer if i % 2 == 0 else -1}", 10, 5)
                   for i in range(params.n)]


def _store(tmp_path: Path, n: int = 4) -> tuple[RunStore, list[Problem], SamplingParams]:
    params = SamplingParams(n=n)
    cfg = GenerateConfig(task="arith", out=tmp_path / "run", sampling=params)
    task = ArithTask(count=10)
    store = RunStore.open(cfg.out, run_config(cfg, task.config(), "numeric"))
    problems = list(task.problems())
    store.write_problems(problems)
    return store, problems, params


def test_samples_are_stored_with_verdicts(tmp_path: Path) -> None:
    store, problems, params = _store(tmp_path)
    sample_into(store, EchoEngine(), NumericVerifier(), problems, params, progress=False)
    samples = list(store.samples())
    assert len(samples) == 40 and len({s.id for s in samples}) == 40
    assert sum(s.correct for s in samples) == 20
    assert all(s.verdict.verifier == "numeric" and s.model == "echo-model" for s in samples)


def test_engine_crash_keeps_finished_problems(tmp_path: Path) -> None:
    store, problems, params = _store(tmp_path)
    with pytest.raises(EngineError, match="re-run the same command to resume"):
        sample_into(store, EchoEngine(crash_after=3), NumericVerifier(), problems, params, progress=False)
    assert store.done_problem_ids() == {p.id for p in problems[:3]}
    # Resume: only the remaining problems are sampled, no duplicates.
    todo = [p for p in problems if p.id not in store.done_problem_ids()]
    sample_into(store, EchoEngine(), NumericVerifier(), todo, params, progress=False)
    ids = [s.id for s in store.samples()]
    assert len(ids) == len(set(ids)) == 40


def test_torn_and_incomplete_tail_is_dropped_on_open(tmp_path: Path) -> None:
    store, problems, params = _store(tmp_path)
    sample_into(store, EchoEngine(), NumericVerifier(), problems[:2], params, progress=False)
    path = store.path / "samples.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    # Simulate kill -9 in the middle of the second problem's group: 2 whole lines and a torn one.
    path.write_text("".join(lines[:4] + lines[4:6]) + lines[6][:30])
    store2 = RunStore.open(store.path, store.config)
    assert store2.done_problem_ids() == {problems[0].id}
    assert len(list(store2.samples())) == 4


def test_mismatched_settings_are_refused_and_nothing_is_overwritten(tmp_path: Path) -> None:
    store, problems, params = _store(tmp_path)
    sample_into(store, EchoEngine(), NumericVerifier(), problems[:1], params, progress=False)
    before = (store.path / "samples.jsonl").read_bytes()
    other = dict(store.config, sampling=SamplingParams(n=8).to_dict())
    with pytest.raises(RunMismatchError, match=r"sampling.n: 4 -> 8"):
        RunStore.open(store.path, other)
    assert (store.path / "samples.jsonl").read_bytes() == before


def test_out_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "stuff.txt").write_text("precious")
    with pytest.raises(RftError, match="non-empty directory"):
        RunStore.open(tmp_path, {"sampling": {"n": 1}})
    assert (tmp_path / "stuff.txt").read_text() == "precious"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_out(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(RftError, match="cannot write"):
        RunStore.open(ro / "run", {"sampling": {"n": 1}})


def test_unwritable_out_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["generate", "--task", "arith", "--model", TINY, "--out", str(blocker / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("rft: error:") and len(err.strip().splitlines()) == 1


def test_select_limit_then_shard() -> None:
    problems = list(ArithTask(count=10).problems())
    shards = [select(problems, 7, (i, 3)) for i in range(3)]
    assert sorted(p.id for s in shards for p in s) == sorted(p.id for p in problems[:7])


def _generate(out: Path, **kw) -> dict:
    cfg = GenerateConfig(task="arith", out=out, model=TINY, task_args={"count": 6},
                         sampling=SamplingParams(n=3, max_new_tokens=8), progress=False, **kw)
    return generate(cfg)


def test_end_to_end_with_tiny_model_resume_and_export(tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = _generate(out)
    assert summary["problems"] == 6 and summary["samples"] == 18
    assert set(summary["pass_at_k"]) == {"1", "2", "3"}
    mtime = (out / "samples.jsonl").stat().st_mtime_ns
    _generate(out)  # nothing left to do: no new samples, file untouched
    assert (out / "samples.jsonl").stat().st_mtime_ns == mtime
    # Summary matches a re-verification of the stored samples.
    golds = {r["id"]: r["answer"] for r in read_jsonl(out / "problems.jsonl")}
    v = NumericVerifier()
    again = [v.verify(golds[s.problem_id], s.completion).correct for s in load_samples(out)]
    assert sum(again) / len(again) == summary["accuracy"]
    assert export(out, tmp_path / "sft") == sum(again)  # random model: no correct paths, nothing exported


def test_export_keeps_only_correct_distinct_paths(tmp_path: Path) -> None:
    store, problems, params = _store(tmp_path)
    sample_into(store, EchoEngine(), NumericVerifier(), problems, params, progress=False)
    n = export(store.path, tmp_path / "sft")
    rows = list(read_jsonl(tmp_path / "sft" / "train.jsonl"))
    assert n == len(rows) == 20
    assert all(r["messages"][-1]["role"] == "assistant" for r in rows)
    import datasets

    ds = datasets.load_from_disk(str(tmp_path / "sft" / "hf"))
    assert len(ds) == 20 and "messages" in ds.column_names


def test_kill_minus_9_then_resume_has_no_duplicates(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "rft.cli", "generate", "--task", "arith", "--task-arg", "count=400",
           "--model", TINY, "--n", "2", "--max-new-tokens", "12", "--out", str(out), "--no-progress",
           "--engine-arg", "batch_size=4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = out / "samples.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not samples.exists() or samples.stat().st_size < 5000):
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = sum(1 for _ in samples.open())
    assert 0 < partial < 800, "the kill should land mid-run"
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    ids = [json.loads(line)["id"] for line in samples.open()]
    assert len(ids) == len(set(ids)) == 800


def test_ctrl_c_saves_finished_work_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "rft.cli", "generate", "--task", "arith", "--task-arg", "count=400",
           "--model", TINY, "--n", "2", "--max-new-tokens", "12", "--out", str(out), "--no-progress",
           "--engine-arg", "batch_size=4"]
    # A job started in the background inherits an ignored SIGINT; a terminal's Ctrl-C does not.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    samples = out / "samples.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not samples.exists() or samples.stat().st_size < 2000):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1].startswith("rft: interrupted")
    rows = [json.loads(line) for line in samples.open()]  # every line whole
    assert len(rows) % 2 == 0 and json.loads((out / "summary.json").read_text())["samples"] == len(rows)


def test_samples_as_hf_dataset(tmp_path: Path) -> None:
    from rft.store import samples_dataset

    store, problems, params = _store(tmp_path)
    sample_into(store, EchoEngine(), NumericVerifier(), problems[:3], params, progress=False)
    ds = samples_dataset(store.path)
    assert len(ds) == 12 and sum(ds["correct"]) == 6 and set(ds["verifier"]) == {"numeric"}


def test_reverify_agrees_with_stored_verdicts_and_can_switch_verifier(tmp_path: Path) -> None:
    from rft.pipeline import reverify

    store, problems, params = _store(tmp_path)
    sample_into(store, EchoEngine(), NumericVerifier(), problems[:3], params, progress=False)
    same = reverify(store.path)
    assert same["changed_verdicts"] == 0 and same["stored_accuracy"] == same["reverified_accuracy"] == 0.5
    assert reverify(store.path, "numeric", {"rel_tol": 0.5})["samples"] == 12


def test_secret_arguments_never_reach_the_run_directory(tmp_path: Path) -> None:
    cfg = GenerateConfig(task="arith", out=tmp_path / "run", engine="openai",
                         engine_args={"base_url": "http://127.0.0.1:1/v1", "api_key": "sk-123"})
    with pytest.raises(RftError, match="api_key_env"):
        generate(cfg)
    assert not (tmp_path / "run").exists()


def test_two_shards_pooled_equal_one_unsharded_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rft import registry
    from rft.pool import pool_runs

    real_create = registry.create
    monkeypatch.setattr(registry, "create", lambda kind, name, **kw: EchoEngine() if kind == "engine"
                        else real_create(kind, name, **kw))
    base = dict(task="arith", task_args={"count": 9}, sampling=SamplingParams(n=4), progress=False)
    generate(GenerateConfig(out=tmp_path / "full", **base))
    for i in range(2):
        generate(GenerateConfig(out=tmp_path / f"shard{i}", shard=(i, 2), **base))
    pool_runs([tmp_path / "shard0", tmp_path / "shard1"], tmp_path / "pooled-shards")
    pool_runs([tmp_path / "full"], tmp_path / "pooled-full")
    rows = lambda d: sorted((r["problem_id"], r["sample_id"]) for r in read_jsonl(tmp_path / d / "train.jsonl"))  # noqa: E731
    sharded, full = rows("pooled-shards"), rows("pooled-full")
    assert sharded == full and len(set(sharded)) == len(sharded) > 0
    assert {p for p, _ in full} == {r["id"] for r in read_jsonl(tmp_path / "full" / "problems.jsonl")}


@pytest.mark.parametrize("n, shown", [(1, ["pass@1"]), (3, ["pass@1", "pass@3"])])
def test_generate_prints_one_result_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], n: int,
                                         shown: list[str]) -> None:
    args = ["generate", "--task", "arith", "--task-arg", "count=2", "--model", TINY, "--n", str(n),
            "--max-new-tokens", "4", "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(args) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{tmp_path / 'run'}: 2 problems, {2 * n} samples, accuracy ")
    assert [w for w in line.replace(",", "").split() if w.startswith("pass@")] == shown
