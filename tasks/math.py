"""MATH competition problems (Hendrycks et al. 2021), including the MATH-500 subset; verifier ``math``.

Reads a local JSONL file in the MATH / MATH-500 layout (``problem``, ``solution``, ``answer``, ``level``,
``subject``, ``unique_id``); the gold is ``answer`` when present, else the last ``\\boxed{}`` of
``solution``. Problem ids are ``math/<unique_id>`` (e.g. ``math/test/precalculus/807.json``), or a
content hash for rows without one. Without ``data``, loads ``HuggingFaceH4/MATH-500`` from the Hub.

    rft generate --task math --data math500/test.jsonl --limit 20 --n 4
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from rft.errors import DataError
from rft.records import Problem
from rft.tasks.base import DatasetTask, stable_id

PROMPT = "{question}\nPlease reason step by step, and put your final answer within \\boxed{}."
HUB_DATASET = "HuggingFaceH4/MATH-500"


def last_boxed(solution: str) -> str | None:
    """The content of the last ``\\boxed{...}`` in a reference solution (nested braces), or None.

    Example:
        >>> last_boxed("so $x = \\\\boxed{\\\\frac{1}{2}}$.")
        '\\\\frac{1}{2}'
    """
    start = solution.rfind("\\boxed{")
    if start < 0:
        return None
    depth = 0
    for j in range(start + len("\\boxed"), len(solution)):
        if solution[j] == "{":
            depth += 1
        elif solution[j] == "}":
            depth -= 1
            if depth == 0:
                return solution[start + len("\\boxed{"):j].strip()
    return None


class MathTask(DatasetTask):
    """MATH / MATH-500 from ``data`` (JSONL) or the Hub; default verifier ``math``.

    Args:
        data: Local JSONL path; if None, ``datasets.load_dataset("HuggingFaceH4/MATH-500", split=split)``.
        split: Hub split when ``data`` is None.
    """

    name: ClassVar[str] = "math"
    default_verifier: ClassVar[str] = "math"
    prompt_template: ClassVar[str] = PROMPT
    hub_path: ClassVar[str] = HUB_DATASET

    def problems(self) -> Iterator[Problem]:
        seen: dict[str, int] = {}
        for index, (where, row) in enumerate(self.rows()):
            question, solution, answer = row.get("problem"), row.get("solution", ""), row.get("answer")
            if not isinstance(question, str) or not question.strip():
                raise DataError(f"{where}: expected a non-empty string field 'problem', got keys {sorted(row)}")
            if not isinstance(solution, str):
                raise DataError(f"{where}: field 'solution' must be a string")
            if isinstance(answer, (int, float)) and not isinstance(answer, bool):
                answer = str(answer)
            if answer is not None and not isinstance(answer, str):
                raise DataError(f"{where}: field 'answer' must be a string, got {type(answer).__name__}")
            gold = (answer or "").strip() or last_boxed(solution)
            if not gold:
                raise DataError(f"{where}: no 'answer' field and no \\boxed{{}} answer in 'solution'")
            unique_id = row.get("unique_id")
            if unique_id:
                pid = f"math/{unique_id}"
                if pid in seen:
                    raise DataError(f"{where}: duplicate unique_id {unique_id!r}; ids must be unique")
                seen[pid] = 1
            else:
                pid = stable_id("math", question, seen)
            metadata = {"question": question, "solution": solution, "index": index,
                        **{k: row[k] for k in ("level", "subject", "unique_id") if k in row}}
            yield Problem(id=pid, prompt=self.format_prompt(question), answer=gold, metadata=metadata)
