"""Export a run's verified-correct paths (exact duplicates removed) as an SFT dataset (see `rft.sft`).

    rft export runs/gsm8k --out data/gsm8k-sft
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rft.sft import sft_record, write_sft
from rft.store import load_problems, load_samples, require_run


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


def export(run: str | Path, out: str | Path) -> int:
    """Export the verified-correct, exact-deduplicated paths of ``run`` to ``out``; returns the row count."""
    return write_sft(out, correct_paths(run))
