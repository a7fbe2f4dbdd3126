"""GSM8K and arith tasks: layouts, gold extraction, stable ids, bad rows, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rft.errors import DataError
from rft.tasks.arith import ArithTask
from rft.tasks.gsm8k import GSM8KTask
from rft.verifiers.numeric import NumericVerifier


def write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_both_layouts_give_same_problem(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", [{"query": "Q1?", "response": "2+2 = <<2+2=4>>4\n#### 1,004"}])
    b = write(tmp_path / "b.jsonl", [{"question": "Q1?", "answer": "steps\n#### 1,004"}])
    pa, pb = next(GSM8KTask(data=str(a)).problems()), next(GSM8KTask(data=str(b)).problems())
    assert pa.id == pb.id and pa.answer == pb.answer == "1004"
    assert "Q1?" in pa.prompt and "\\boxed{}" in pa.prompt


def test_duplicate_questions_get_distinct_ids(tmp_path: Path) -> None:
    f = write(tmp_path / "d.jsonl", [{"query": "Same?", "response": "#### 1"}] * 3)
    ids = [p.id for p in GSM8KTask(data=str(f)).problems()]
    assert len(set(ids)) == 3


@pytest.mark.parametrize("line,message", [
    ('{"query": "x"', "malformed JSON"),
    ('[1, 2]', "expected a JSON object"),
    ('{"foo": 1}', "expected 'query'/'response'"),
    ('{"query": "x", "response": "no final line"}', "no '#### answer'"),
])
def test_bad_rows_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    f = write(tmp_path / "bad.jsonl", [{"query": "ok", "response": "#### 1"}, line])
    with pytest.raises(DataError, match=rf"bad.jsonl:2: .*{message}"):
        list(GSM8KTask(data=str(f)).problems())


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        list(GSM8KTask(data=str(tmp_path / "nope.jsonl")).problems())


def test_real_gsm8k_golds_verify_against_reference_solutions(gsm8k_test: Path) -> None:
    problems = list(GSM8KTask(data=str(gsm8k_test)).problems())
    assert len(problems) == 1319 and len({p.id for p in problems}) == 1319
    v = NumericVerifier()
    # The reference solution ends in '#### answer': the verifier must accept every one.
    assert all(v.verify(p.answer, p.metadata["solution"]).correct for p in problems)


def test_arith_is_reproducible_and_exact() -> None:
    a = list(ArithTask(count=50, steps=4, seed=3).problems())
    b = list(ArithTask(count=50, steps=4, seed=3).problems())
    c = list(ArithTask(count=50, steps=4, seed=4).problems())
    assert a == b and [p.prompt for p in a] != [p.prompt for p in c]
    assert all(int(p.answer) >= 0 for p in a)
    assert ArithTask(count=1, steps=5).config()["steps"] == 5


def test_arith_ground_truth_by_replaying_the_story() -> None:
    import re

    for p in ArithTask(count=200, steps=4, seed=1).problems():
        q = p.metadata["question"]
        value = int(re.search(r"has (\d+)", q).group(1))
        for sentence in q.split(". ")[1:]:
            if m := re.search(r"gets (\d+) more", sentence):
                value += int(m.group(1))
            elif m := re.search(r"gives away (\d+)", sentence):
                value -= int(m.group(1))
            elif m := re.search(r"becomes (\d+) times", sentence):
                value *= int(m.group(1))
            elif m := re.search(r"among (\d+) friends", sentence):
                assert value % int(m.group(1)) == 0
                value //= int(m.group(1))
        assert str(value) == p.answer, q


def test_error_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    f = write(tmp_path / "gaps.jsonl", [{"query": "ok", "response": "#### 1"}, "", "", '{"foo": 1}'])
    with pytest.raises(DataError, match=r"gaps.jsonl:4: "):
        list(GSM8KTask(data=str(f)).problems())
