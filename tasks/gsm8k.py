"""GSM8K grade-school math word problems (Cobbe et al. 2021).

Reads a local JSONL file in either layout: ``query``/``response`` (the RFT paper's copy) or the
Hugging Face ``question``/``answer`` layout; the gold is the number after ``####``. Without
``data``, loads ``openai/gsm8k`` from the Hub (needs internet).

    rft generate --task gsm8k --data gsm8k/test.jsonl --limit 20 --n 4
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from rft.errors import DataError
from rft.jsonl import read_jsonl
from rft.records import Problem
from rft.tasks.base import Task, stable_id

PROMPT = "{question}\nPlease reason step by step, and put your final answer within \\boxed{}."


def gold_from_solution(solution: str) -> str | None:
    """The final answer after ``####`` in a GSM8K solution, without thousands separators."""
    if "####" not in solution:
        return None
    return solution.rsplit("####", 1)[1].strip().replace(",", "")


class GSM8KTask(Task):
    """GSM8K from ``data`` (JSONL) or the Hub; default verifier ``numeric``.

    Args:
        data: Local JSONL path; if None, ``datasets.load_dataset("openai/gsm8k", "main")``.
        split: Hub split when ``data`` is None ("train" or "test").
    """

    name: ClassVar[str] = "gsm8k"
    default_verifier: ClassVar[str] = "numeric"
    prompt_template: ClassVar[str] = PROMPT

    def __init__(self, data: str | None = None, split: str = "test", prompt_template: str | None = None,
                 system: str | None = None):
        super().__init__(data=data, prompt_template=prompt_template, system=system)
        self.split = split

    def config(self) -> dict[str, Any]:
        return {**super().config(), "split": self.split}

    def _rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        if self.data:
            for i, row in enumerate(read_jsonl(self.data), 1):
                yield f"{self.data}:{i}", row
        else:
            import datasets

            for i, row in enumerate(datasets.load_dataset("openai/gsm8k", "main", split=self.split)):
                yield f"openai/gsm8k[{self.split}][{i}]", row

    def problems(self) -> Iterator[Problem]:
        seen: dict[str, int] = {}
        for index, (where, row) in enumerate(self._rows()):
            question = row.get("query", row.get("question"))
            solution = row.get("response", row.get("answer"))
            if not isinstance(question, str) or not isinstance(solution, str):
                raise DataError(f"{where}: expected 'query'/'response' or 'question'/'answer' string fields, "
                                f"got keys {sorted(row)}")
            gold = gold_from_solution(solution)
            if not gold:
                raise DataError(f"{where}: solution has no '#### answer' line")
            yield Problem(id=stable_id("gsm8k", question, seen), prompt=self.format_prompt(question),
                          answer=gold, metadata={"question": question, "solution": solution, "index": index})
