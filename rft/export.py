"""Export verified-correct paths as an SFT dataset: chat ``messages`` JSONL plus a Hugging Face dataset.

Output folder layout (also written by ``rft pool``, read by ``rft train``):

- ``train.jsonl``: one row per path: ``messages`` (prompt + assistant completion), ``problem_id``,
  ``sample_id``, ``run``, ``model``, ``answer``, ``images``.
- ``hf/``: the same rows saved with ``datasets.Dataset.save_to_disk`` (load with ``load_from_disk``).

    rft export runs/gsm8k --out data/gsm8k-sft
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rft.jsonl import write_jsonl
from rft.records import Problem, Sample
from rft.store import load_problems, load_samples, require_run


def sft_record(problem: Problem, sample: Sample, run: str) -> dict[str, Any]:
    """One SFT row: the problem's chat messages followed by the sample as the assistant turn."""
    return {
        "messages": problem.messages() + [{"role": "assistant", "content": sample.completion}],
        "problem_id": problem.id, "sample_id": sample.id, "run": run, "model": sample.model,
        "answer": problem.answer, "images": list(problem.images),
    }


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def correct_paths(run: str | Path) -> Iterator[dict[str, Any]]:
    """SFT rows for the verified-correct samples of a run, exact duplicates (up to whitespace) removed."""
    run = require_run(run)
    problems = {p.id: p for p in load_problems(run)}
    seen: set[tuple[str, str]] = set()
    for sample in load_samples(run):
        key = (sample.problem_id, _normalise(sample.completion))
        if sample.correct and key not in seen and sample.problem_id in problems:
            seen.add(key)
            yield sft_record(problems[sample.problem_id], sample, str(run))


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


def export(run: str | Path, out: str | Path) -> int:
    """Export the verified-correct, exact-deduplicated paths of ``run`` to ``out``; returns the row count."""
    return write_sft(out, correct_paths(run))
