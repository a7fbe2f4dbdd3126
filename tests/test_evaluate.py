"""Tests of `rft.evaluate`: confidence intervals, metrics on a fixed fixture, exact reproduction of an
eval with a fixed seed, resuming with a smaller limit, and refusing a directory of another model.

    pytest tests/test_evaluate.py
"""

from __future__ import annotations

import json

import pytest

from rft.cli import main
from rft.errors import RftError, RunMismatchError
from rft.evaluate import (
    EvalConfig,
    bootstrap_interval,
    evaluate,
    greedy_metrics,
    mcnemar_p,
    paired_gain,
    sampled_metrics,
    wilson_interval,
)
from rft.records import Sample, Verdict


# ---------------------------------------------------------------- intervals
@pytest.mark.parametrize("successes, trials, lo, hi, source", [
    (8, 10, 0.4902, 0.9433, "Wilson (1927); Newcombe (1998) table I style check"),
    (0, 10, 0.0, 0.2775, "zero successes: upper bound z^2 / (n + z^2)"),
    (10, 10, 0.7225, 1.0, "all successes: symmetric to zero successes"),
    (81, 263, 0.2553, 0.3662, "Newcombe (1998), example 81/263"),
])
def test_wilson_interval(successes, trials, lo, hi, source):
    got = wilson_interval(successes, trials)
    assert got == pytest.approx((lo, hi), abs=1e-4), source


def test_bootstrap_interval_is_seeded_and_brackets_the_mean():
    values = [1.0, 0.0, 0.5, 0.25, 1.0, 0.0, 0.75, 0.5]
    a = bootstrap_interval(values, resamples=500, seed=3)
    assert a == bootstrap_interval(values, resamples=500, seed=3)
    assert a != bootstrap_interval(values, resamples=500, seed=4)
    assert a[0] < sum(values) / len(values) < a[1]
    assert bootstrap_interval([0.5] * 5) == (0.5, 0.5)


# ---------------------------------------------------------------- metrics on a fixed fixture
def _group(pid: str, answers: list[str], gold: str) -> list[Sample]:
    return [Sample(id=f"{pid}#{i}", problem_id=pid, model="m", index=i, completion=a, params={},
                   verdict=Verdict(correct=a == gold, extracted=a)) for i, a in enumerate(answers)]


FIXTURE = [  # n = 4 samples for each of 4 problems: correct counts 4, 2, 0, 1
    _group("a", ["1", "1", "1", "1"], "1"),
    _group("b", ["2", "3", "2", "3"], "2"),   # ties 2/3: the first seen (2) wins maj@k
    _group("c", ["5", "6", "6", "7"], "4"),
    _group("d", ["8", "9", "8", "7"], "9"),   # 8 is the majority (and wins the 8/9 tie of maj@2): wrong
]


def test_sampled_metrics_on_a_fixed_fixture():
    m = sampled_metrics(FIXTURE, resamples=200, seed=0)
    assert m["n"] == 4 and m["problems"] == 4
    assert m["pass@k"]["1"]["value"] == pytest.approx((1 + 0.5 + 0 + 0.25) / 4)
    assert m["pass@k"]["2"]["value"] == pytest.approx((1 + (1 - 1 / 6) + 0 + (1 - 3 / 6)) / 4)
    assert m["pass@k"]["4"]["value"] == pytest.approx(3 / 4)
    assert [m["maj@k"][k]["value"] for k in ("1", "2", "4")] == [0.5, 0.5, 0.5]
    for metric in (*m["pass@k"].values(), *m["maj@k"].values()):
        lo, hi = metric["ci95"]
        assert 0 <= lo <= metric["value"] <= hi <= 1


def test_greedy_metrics_use_the_first_sample_and_wilson():
    m = greedy_metrics(FIXTURE)
    assert m["accuracy"] == 0.5 and m["correct"] == 2  # problems a and b are right at index 0
    assert m["ci95"] == list(wilson_interval(2, 4))


# ---------------------------------------------------------------- paired comparison of two evals
def _write_eval(root, kind: str, correct_by_problem: dict[str, list[bool]]) -> None:
    (root / kind).mkdir(parents=True)
    rows = [Sample(id=f"{pid}#{i}", problem_id=pid, model="m", index=i, completion="x", params={},
                   verdict=Verdict(correct=c)).to_dict()
            for pid, flags in correct_by_problem.items() for i, c in enumerate(flags)]
    (root / kind / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("wins, losses, p", [
    (12, 3, 0.03515625),   # 2 * P(X <= 3), X ~ Binomial(15, 1/2) = 2 * 576 / 32768
    (3, 12, 0.03515625),   # two-sided: symmetric
    (5, 5, 1.0), (0, 0, 1.0),
    (10, 0, 0.001953125),  # 2 / 2^10
])
def test_mcnemar_exact_p_value(wins, losses, p):
    assert mcnemar_p(wins, losses) == pytest.approx(p)


def test_paired_gain_counts_wins_and_losses_on_the_same_problems(tmp_path):
    ids = [f"p{i}" for i in range(40)]
    base = {pid: [i < 10] for i, pid in enumerate(ids)}            # solves p0..p9
    tuned = {pid: [2 <= i < 24] for i, pid in enumerate(ids)}      # loses p0, p1; wins p10..p23
    _write_eval(tmp_path / "base", "greedy", base)
    _write_eval(tmp_path / "tuned", "greedy", tuned)
    _write_eval(tmp_path / "base", "sampled", {pid: [True, False] for pid in ids})
    _write_eval(tmp_path / "tuned", "sampled", {pid: [True, True] for pid in ids})
    g = paired_gain(tmp_path / "base", tmp_path / "tuned", resamples=500)
    greedy = g["greedy"]
    assert (greedy["baseline"], greedy["candidate"]) == (0.25, 0.55)
    assert greedy["gain"] == pytest.approx(0.30) and (greedy["wins"], greedy["losses"]) == (14, 2)
    assert greedy["p_value"] == pytest.approx(mcnemar_p(14, 2)) and greedy["p_value"] < 0.01
    assert 0 < greedy["ci95"][0] < 0.30 < greedy["ci95"][1]
    assert g["sampled"]["gain"] == pytest.approx(0.5) and "p_value" not in g["sampled"]
    # No gain at all: the interval straddles zero and p = 1.
    same = paired_gain(tmp_path / "base", tmp_path / "base")["greedy"]
    assert same["gain"] == 0 and same["p_value"] == 1.0 and same["ci95"] == [0.0, 0.0]


def test_paired_gain_refuses_evals_of_different_problems(tmp_path):
    _write_eval(tmp_path / "a", "greedy", {"p1": [True], "p2": [False]})
    _write_eval(tmp_path / "b", "greedy", {"p1": [True], "p3": [False]})
    with pytest.raises(RftError, match="different problems"):
        paired_gain(tmp_path / "a", tmp_path / "b")
    with pytest.raises(RftError, match="no finished eval"):
        paired_gain(tmp_path / "a", tmp_path / "missing")


def test_eval_config_errors(tmp_path):
    with pytest.raises(RftError, match="nothing to evaluate"):
        EvalConfig(task="arith", out=tmp_path, greedy=False, n=0)
    with pytest.raises(RftError, match="not a peft adapter"):
        EvalConfig(task="arith", out=tmp_path, adapter=str(tmp_path))


# ---------------------------------------------------------------- a real (tiny) model
def test_eval_reproduces_exactly_with_a_fixed_seed(tmp_path, capsys):
    common = dict(task="arith", task_args={"count": 3, "steps": 1}, model="tiny-random-llama", n=3,
                  temperature=1.0, max_new_tokens=12, seed=7, bootstrap=200, progress=False)
    first = evaluate(EvalConfig(out=tmp_path / "a", **common))
    cli = ["eval", "--task", "arith", "--task-arg", "count=3", "--task-arg", "steps=1", "--model",
           "tiny-random-llama", "--n", "3", "--temperature", "1.0", "--max-new-tokens", "12", "--seed", "7",
           "--out", str(tmp_path / "b"), "--no-progress"]
    assert main(cli) == 0
    assert "3 problems, accuracy" in capsys.readouterr().out
    # Paired against the first eval (same samples): no gain, nothing won or lost.
    assert main([*cli, "--baseline", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "greedy gain over" in out and "+0.0 points" in out and "0 wins / 0 losses, McNemar p = 1" in out
    assert "sampled gain over" in out
    second = json.loads((tmp_path / "b" / "eval.json").read_text())
    # The CLI keeps the default bootstrap size; everything measured must match.
    for key in ("problems", "greedy", "accuracy", "ci95", "completion_tokens"):
        assert first[key] == second[key]
    assert first["sampled"]["pass@k"]["3"]["value"] == second["sampled"]["pass@k"]["3"]["value"]
    for run in ("greedy", "sampled"):
        texts = [[json.loads(line)["completion"] for line in open(tmp_path / d / run / "samples.jsonl")]
                 for d in ("a", "b")]
        assert texts[0] == texts[1] and len(texts[0]) == (3 if run == "greedy" else 9)

    # Same directory, fewer problems: no new sampling, metrics over the selected problems only.
    fewer = evaluate(EvalConfig(out=tmp_path / "a", **{**common, "n": 3}, limit=2))
    assert fewer["problems"] == 2 and fewer["greedy"]["problems"] == 2
    with pytest.raises(RunMismatchError, match="another --out"):
        evaluate(EvalConfig(out=tmp_path / "a", **{**common, "model": "smollm2-135m-instruct"}))
