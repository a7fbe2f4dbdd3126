"""The ``math`` task: MATH-500 and MATH layouts, gold from ``answer`` or the solution's last boxed, stable
ids, the prompt, bad rows named by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rft import registry
from rft.errors import DataError
from rft.tasks.math import MathTask, last_boxed


def write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


ROW = {"problem": "What is $1+1$?", "solution": "It is $\\boxed{2}$.", "answer": "2", "subject": "Algebra",
       "level": 1, "unique_id": "test/algebra/1.json"}


def test_loads_math500(math500: Path) -> None:
    problems = list(MathTask(data=str(math500)).problems())
    rows = [json.loads(line) for line in math500.read_text().splitlines() if line.strip()]
    assert len(problems) == len(rows) == 500
    assert len({p.id for p in problems}) == 500
    first = problems[0]
    assert first.id == "math/test/precalculus/807.json"
    assert first.answer == rows[0]["answer"] == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert first.metadata["subject"] == "Precalculus" and first.metadata["level"] == 2
    assert rows[0]["problem"] in first.prompt and "\\boxed{}" in first.prompt
    assert [p.answer for p in problems] == [r["answer"] for r in rows]


def test_fixture_layouts_and_gold_fallback(tmp_path: Path) -> None:
    no_answer = {"problem": "Half of one?", "solution": "First \\boxed{1}, then $\\boxed{\\frac{1}{2}}$."}
    numeric_answer = {"problem": "Two?", "solution": "", "answer": 2}
    f = write(tmp_path / "math.jsonl", [ROW, no_answer, numeric_answer])
    problems = list(MathTask(data=str(f)).problems())
    assert [p.answer for p in problems] == ["2", "\\frac{1}{2}", "2"]
    assert problems[0].id == "math/test/algebra/1.json"
    assert problems[1].id.startswith("math/") and problems[1].id != problems[2].id
    again = list(MathTask(data=str(f)).problems())
    assert [p.id for p in again] == [p.id for p in problems]  # stable across loads


def test_registered_with_math_verifier(tmp_path: Path) -> None:
    task = registry.create("task", "math", data=str(write(tmp_path / "m.jsonl", [ROW])))
    assert task.default_verifier == "math"
    assert task.config()["split"] == "test"
    problem = next(task.problems())
    verifier = registry.create("verifier", task.default_verifier)
    try:
        assert verifier.verify(problem.answer, problem.metadata["solution"]).correct
    finally:
        verifier.close()


def test_system_message_makes_chat_prompt(tmp_path: Path) -> None:
    task = MathTask(data=str(write(tmp_path / "m.jsonl", [ROW])), system="Be brief.")
    prompt = next(task.problems()).prompt
    assert isinstance(prompt, list) and prompt[0] == {"role": "system", "content": "Be brief."}


@pytest.mark.parametrize("line,message", [
    ('{"problem": "x"', "malformed JSON"),
    ('["a"]', "expected a JSON object"),
    ('{"question": "x", "answer": "1"}', "'problem'"),
    ('{"problem": "x", "solution": "no box here"}', "no 'answer' field"),
    ('{"problem": "x", "answer": ["1"]}', "'answer' must be a string"),
    (json.dumps(ROW), "duplicate unique_id"),
])
def test_bad_rows_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    f = write(tmp_path / "bad.jsonl", [ROW, line])
    with pytest.raises(DataError, match=rf"bad.jsonl:2: .*{message}"):
        list(MathTask(data=str(f)).problems())


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        list(MathTask(data=str(tmp_path / "nope.jsonl")).problems())


def test_last_boxed() -> None:
    assert last_boxed("\\boxed{1} and \\boxed{\\frac{a}{\\sqrt{b}}}") == "\\frac{a}{\\sqrt{b}}"
    assert last_boxed("nothing") is None
    assert last_boxed("\\boxed{unclosed") is None
