"""Accuracy metrics over sampled runs: per-sample accuracy, unbiased pass@k, maj@k, run summaries.

    >>> round(pass_at_k(n=4, c=1, k=2), 3)
    0.5
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from math import comb
from typing import Any

from rft.records import Sample


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimate from ``c`` correct out of ``n`` samples (Chen et al. 2021)."""
    if k > n:
        raise ValueError(f"k={k} > n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def majority_correct(samples: list[Sample]) -> bool:
    """True if the most common extracted answer (ties: first seen) was judged correct."""
    answers = [s.verdict.extracted for s in samples if s.verdict and s.verdict.extracted is not None]
    if not answers:
        return False
    top = Counter(answers).most_common(1)[0][0]
    return any(s.correct for s in samples if s.verdict and s.verdict.extracted == top)


def summarize(samples: Iterable[Sample], n: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Metrics of a run from its samples; ``n`` is the number of samples per problem.

    Returns a dict with problem and sample counts, per-sample accuracy, pass@k for k = 1..n,
    maj@n, per-problem correct counts, verdict and finish reasons, and token totals.
    """
    by_problem: dict[str, list[Sample]] = defaultdict(list)
    reasons: Counter[str] = Counter()
    finish: Counter[str] = Counter()
    prompt_tokens = completion_tokens = 0
    for s in samples:
        by_problem[s.problem_id].append(s)
        reasons[s.verdict.reason if s.verdict else "unverified"] += 1
        finish[s.finish_reason] += 1
        prompt_tokens += s.prompt_tokens
        completion_tokens += s.completion_tokens
    correct = {pid: sum(s.correct for s in group) for pid, group in by_problem.items()}
    total = sum(len(g) for g in by_problem.values())
    p = len(by_problem)
    summary: dict[str, Any] = {
        "problems": p,
        "samples": total,
        "correct_samples": sum(correct.values()),
        "accuracy": sum(correct.values()) / total if total else 0.0,
        "pass_at_k": {str(k): (sum(pass_at_k(len(by_problem[q]), c, k) for q, c in correct.items()) / p if p else 0.0)
                      for k in range(1, n + 1)},
        "maj_at_n": sum(majority_correct(g) for g in by_problem.values()) / p if p else 0.0,
        "coverage": sum(c > 0 for c in correct.values()) / p if p else 0.0,
        "verdict_reasons": dict(reasons.most_common()),
        "finish_reasons": dict(finish.most_common()),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "per_problem_correct": correct,
    }
    summary.update(extra or {})
    return summary
