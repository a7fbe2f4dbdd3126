"""The SFT dataset format written by ``rft export`` and ``rft pool`` and read by ``rft train``.

Folder layout:

- ``train.jsonl``: one row per path: ``messages`` (prompt + assistant completion), ``problem_id``,
  ``sample_id``, ``run``, ``model``, ``answer``, ``images``.
- ``hf/``: the same rows saved with ``datasets.Dataset.save_to_disk`` (load with ``load_from_disk``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rft.jsonl import write_jsonl
from rft.records import Problem, Sample


def sft_record(problem: Problem, sample: Sample, run: str) -> dict[str, Any]:
    """One SFT row: the problem's chat messages followed by the sample as the assistant turn.

    Note:
        When the prompt uses content parts (image prompts), the reply is a text part too: a
        dataset column cannot mix strings and lists.
    """
    messages = problem.messages()
    parts = any(isinstance(m["content"], list) for m in messages)
    reply: str | list[dict[str, str]] = [{"type": "text", "text": sample.completion}] if parts else sample.completion
    return {
        "messages": messages + [{"role": "assistant", "content": reply}],
        "problem_id": problem.id, "sample_id": sample.id, "run": run, "model": sample.model,
        "answer": problem.answer, "images": list(problem.images),
    }


def write_sft(out: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``train.jsonl`` and the ``hf/`` dataset to ``out``; returns the row count."""
    import datasets

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = list(rows)
    count = write_jsonl(out / "train.jsonl", rows)
    if (out / "hf").exists():
        shutil.rmtree(out / "hf")
    datasets.Dataset.from_list(rows).save_to_disk(str(out / "hf"))
    return count
