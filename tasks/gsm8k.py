"""GSM8K grade-school math word problems (Cobbe et al. 2021).

Reads a local JSONL file in either layout: ``query``/``response`` (the RFT paper's copy) or the
Hugging Face ``question``/``answer`` layout; the gold is the number after ``####``. Without
``data``, loads ``openai/gsm8k`` from the Hub (needs internet).

    rft generate --task gsm8k --data gsm8k/test.jsonl --limit 20 --n 4
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from rft.errors import DataError
from rft.records import Problem
from rft.tasks.base import DatasetTask, stable_id

PROMPT = "{question}\nPlease reason step by step, and put your final answer within \\boxed{}."


def gold_from_solution(solution: str) -> str | None:
    """The final answer after ``####`` in a GSM8K solution, without thousands separators."""
    if "####" not in solution:
        return None
    return solution.rsplit("####", 1)[1].strip().replace(",", "")


class GSM8KTask(DatasetTask):
    """GSM8K from ``data`` (JSONL) or the Hub; default verifier ``numeric``.

    Args:
        data: Local JSONL path; if None, ``datasets.load_dataset("openai/gsm8k", "main")``.
        split: Hub split when ``data`` is None ("train" or "test").
    """

    name: ClassVar[str] = "gsm8k"
    default_verifier: ClassVar[str] = "numeric"
    prompt_template: ClassVar[str] = PROMPT
    hub_path: ClassVar[str] = "openai/gsm8k"
    hub_name: ClassVar[str | None] = "main"

    def problems(self) -> Iterator[Problem]:
        seen: dict[str, int] = {}
        for index, (where, row) in enumerate(self.rows()):
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
