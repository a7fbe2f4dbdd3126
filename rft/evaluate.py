"""The eval stage: accuracy of a model (base, ``--adapter``, or merged) on a task split, with 95% intervals.

An eval is made of ordinary, resumable run directories written by the generate pipeline (same
engines, same verifiers): ``OUT/greedy`` (temperature 0, n = 1: greedy pass@1) and, with ``n > 0``,
``OUT/sampled`` (n samples per problem: sampled pass@1 = mean accuracy over the n, unbiased pass@k
and maj@k for k = 1, 2, 4, ..., n). ``OUT/eval.json`` holds the metrics, each with a 95% confidence
interval over problems: Wilson for greedy accuracy (one Bernoulli outcome per problem), a seeded
percentile bootstrap over problems for the sampled metrics.

    rft eval --task gsm8k --data gsm8k/test.jsonl --limit 200 --adapter adapters/gsm8k --out evals/rft
    >>> from rft.evaluate import EvalConfig, evaluate                                        # doctest: +SKIP
    >>> evaluate(EvalConfig(task="arith", out="evals/a", model="tiny-random-llama"))["accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import comb, sqrt
from pathlib import Path
from typing import Any

from rft import registry
from rft.catalog import DEFAULT_MODEL
from rft.errors import RftError, RunMismatchError
from rft.jsonl import write_json
from rft.metrics import majority_correct, pass_at_k
from rft.pipeline import GenerateConfig, generate, select
from rft.records import Sample, SamplingParams
from rft.store import SAMPLES, load_samples

EVAL_JSON, EVAL_CONFIG, GREEDY, SAMPLED = "eval.json", "eval_config.json", "greedy", "sampled"
Z95 = 1.959963984540054


@dataclass(frozen=True, kw_only=True)
class EvalDecoding:
    """How an eval decodes: shared by ``rft eval`` (`EvalConfig`) and the ``eval:`` block of ``rft run``.

    Args:
        greedy: Run greedy decoding (temperature 0, one sample).
        n: Samples per problem for the sampled metrics; 0 skips them.
        temperature: Sampling temperature of the sampled run.
        top_p: Nucleus sampling of the sampled run.
        max_new_tokens: Longest completion, for both runs.
        stop: Stop strings, for both runs.
        seed: Sampling seed, and the bootstrap's.
        bootstrap: Bootstrap resamples for the sampled metrics' intervals.
    """

    greedy: bool = True
    n: int = 0
    temperature: float = 0.8
    top_p: float = 1.0
    max_new_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int = 0
    bootstrap: int = 2000

    def decoding(self) -> dict[str, Any]:
        """These settings alone, as keyword arguments (e.g. for `EvalConfig`)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(EvalDecoding)}


@dataclass(frozen=True, kw_only=True)
class EvalConfig(EvalDecoding):
    """Everything ``rft eval`` needs: the split and model below, and the decoding of `EvalDecoding`.

    Args:
        task: Task name (see ``rft tasks``).
        out: Eval directory (``greedy/``, ``sampled/``, ``eval.json``); re-running resumes it.
        data: Data file for the task, if it reads one.
        task_args: Extra task arguments.
        model: Catalog name, local path (a merged model too) or Hugging Face id.
        adapter: Path of a peft LoRA adapter to apply on top of ``model``.
        engine: Engine name; ``engine_args`` go to its constructor.
        verifier: Verifier name; default: the task's.
        limit: Evaluate the first ``limit`` problems.
        progress: Show progress bars.
    """

    task: str
    out: str | Path
    data: str | None = None
    task_args: dict[str, Any] = field(default_factory=dict)
    model: str = DEFAULT_MODEL
    adapter: str | None = None
    engine: str = "transformers"
    engine_args: dict[str, Any] = field(default_factory=dict)
    verifier: str | None = None
    verifier_args: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop", tuple(self.stop))
        if not self.greedy and self.n < 1:
            raise RftError("nothing to evaluate: enable greedy decoding or set n >= 1 sampled paths")
        if self.n < 0 or self.bootstrap < 1:
            raise RftError("n must be >= 0 and bootstrap >= 1")
        if self.adapter is not None and not (Path(self.adapter) / "adapter_config.json").is_file():
            raise RftError(f"--adapter {self.adapter} is not a peft adapter folder (no adapter_config.json); "
                           f"train one with `rft train`")


# ---------------------------------------------------------------- statistics
def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95% by default); ``(0, 1)`` for no trials.

    >>> [round(x, 4) for x in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    """
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(values: Sequence[float], resamples: int = 2000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-problem ``values`` (resampling problems)."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return 0.0, 1.0
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def _ks(n: int) -> list[int]:
    ks = [1 << i for i in range(n.bit_length()) if 1 << i <= n]
    return ks + ([n] if ks[-1] != n else [])


def _groups(run: Path, problem_ids: Sequence[str]) -> list[list[Sample]]:
    """The samples of each selected problem (by sample index), in the given problem order."""
    wanted = set(problem_ids)
    by_problem: dict[str, list[Sample]] = defaultdict(list)
    for s in load_samples(run):
        if s.problem_id in wanted:
            by_problem[s.problem_id].append(s)
    missing = [pid for pid in problem_ids if pid not in by_problem]
    if missing:
        raise RftError(f"{run} has no samples for {len(missing)} selected problem(s), e.g. {missing[0]!r}; "
                       f"re-run the same command to finish it")
    return [sorted(by_problem[pid], key=lambda s: s.index) for pid in problem_ids]


def greedy_metrics(groups: list[list[Sample]]) -> dict[str, Any]:
    """Greedy accuracy (one sample per problem) with its Wilson interval."""
    correct = sum(g[0].correct for g in groups)
    lo, hi = wilson_interval(correct, len(groups))
    return {"accuracy": correct / len(groups), "ci95": [lo, hi], "interval": "wilson", "correct": correct,
            "problems": len(groups)}


def sampled_metrics(groups: list[list[Sample]], resamples: int, seed: int) -> dict[str, Any]:
    """Sampled pass@1 (mean over n), unbiased pass@k and maj@k, each with a bootstrap interval over problems."""
    n = min(len(g) for g in groups)

    def metric(values: list[float]) -> dict[str, Any]:
        lo, hi = bootstrap_interval(values, resamples, seed)
        return {"value": sum(values) / len(values), "ci95": [lo, hi]}

    counts = [sum(s.correct for s in g[:n]) for g in groups]
    return {
        "n": n, "problems": len(groups), "interval": "bootstrap",
        "pass@k": {str(k): metric([pass_at_k(n, c, k) for c in counts]) for k in _ks(n)},
        "maj@k": {str(k): metric([float(majority_correct(g[:k])) for g in groups]) for k in _ks(n)},
    }


def _problem_scores(run: Path) -> dict[str, float]:
    """Per problem of a run directory: the mean correctness of its samples (0/1 for a greedy run)."""
    by_problem: dict[str, list[bool]] = defaultdict(list)
    for s in load_samples(run):
        by_problem[s.problem_id].append(s.correct)
    return {pid: sum(v) / len(v) for pid, v in by_problem.items()}


def mcnemar_p(wins: int, losses: int) -> float:
    """Exact two-sided McNemar p-value: the sign test on the discordant problems.

    >>> round(mcnemar_p(12, 3), 4)
    0.0352
    """
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(min(wins, losses) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired_gain(baseline: Path, candidate: Path, resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The gain of ``candidate`` over ``baseline``, two evals (``rft eval`` directories) of the same problems.

    Paired over problems, which is tighter than comparing two separate intervals: for each run kind
    both have (``greedy``, ``sampled``), the accuracy of each, the gain with a paired bootstrap 95%
    interval, the problems only the candidate solves (``wins``) and only the baseline solves
    (``losses``), and for greedy runs the exact McNemar p-value.
    """
    result: dict[str, Any] = {}
    for kind in (GREEDY, SAMPLED):
        a, b = Path(baseline) / kind, Path(candidate) / kind
        if not ((a / SAMPLES).exists() and (b / SAMPLES).exists()):
            continue
        base, cand = _problem_scores(a), _problem_scores(b)
        if base.keys() != cand.keys():
            raise RftError(f"{baseline} and {candidate} evaluate different problems ({len(base)} vs {len(cand)}, "
                           f"{len(base.keys() & cand.keys())} shared); compare evals of the same split")
        ids = sorted(base)
        diffs = [cand[i] - base[i] for i in ids]
        lo, hi = bootstrap_interval(diffs, resamples, seed)
        wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
        entry = {"problems": len(ids), "baseline": sum(base.values()) / len(ids),
                 "candidate": sum(cand.values()) / len(ids), "gain": sum(diffs) / len(ids), "ci95": [lo, hi],
                 "wins": wins, "losses": losses}
        if kind == GREEDY:
            entry["p_value"] = mcnemar_p(wins, losses)
        result[kind] = entry
    if not result:
        raise RftError(f"{baseline} and {candidate} share no finished eval run (greedy/ or sampled/)")
    return result


def _run_cost(run: Path) -> dict[str, Any]:
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    return {"run": run.name, "completion_tokens": summary["completion_tokens"],
            "seconds": summary["generation_seconds"]}


# ---------------------------------------------------------------- the stage
def _check_identity(config: EvalConfig) -> None:
    out = Path(config.out)
    identity = {"model": config.model, "adapter": config.adapter}
    path = out / EVAL_CONFIG
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old != identity:
            raise RunMismatchError(f"{out} holds an eval of {old} , not {identity}; use another --out")
    elif out.exists() and any(out.iterdir()):
        raise RftError(f"--out {out} is a non-empty directory that holds no eval; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json(path, identity)


def evaluate(config: EvalConfig) -> dict[str, Any]:
    """Run the greedy and/or sampled evals and return the metrics (also written to ``OUT/eval.json``).

    The headline ``accuracy`` and ``ci95`` are greedy pass@1 when greedy decoding ran, else sampled pass@1.
    """
    _check_identity(config)
    out = Path(config.out)
    task = registry.create("task", config.task, data=config.data, **config.task_args)
    problem_ids = [p.id for p in select(task.problems(), config.limit, None)]
    engine_args = dict(config.engine_args)
    if config.adapter:
        engine_args["adapter"] = config.adapter
    base = dict(task=config.task, data=config.data, task_args=config.task_args, model=config.model,
                engine=config.engine, engine_args=engine_args, verifier=config.verifier,
                verifier_args=config.verifier_args, limit=config.limit, progress=config.progress)
    result: dict[str, Any] = {"model": config.model, "adapter": config.adapter, "task": task.config(),
                              "problems": len(problem_ids)}
    costs = []
    if config.greedy:
        params = SamplingParams(n=1, temperature=0.0, max_new_tokens=config.max_new_tokens, stop=config.stop,
                                seed=config.seed)
        generate(GenerateConfig(out=out / GREEDY, sampling=params, **base))
        result[GREEDY] = greedy_metrics(_groups(out / GREEDY, problem_ids))
        costs.append(_run_cost(out / GREEDY))
    if config.n > 0:
        params = SamplingParams(n=config.n, temperature=config.temperature, top_p=config.top_p,
                                max_new_tokens=config.max_new_tokens, stop=config.stop, seed=config.seed)
        generate(GenerateConfig(out=out / SAMPLED, sampling=params, **base))
        result[SAMPLED] = {"temperature": config.temperature, "top_p": config.top_p,
                           **sampled_metrics(_groups(out / SAMPLED, problem_ids), config.bootstrap, config.seed)}
        costs.append(_run_cost(out / SAMPLED))
    if config.greedy:
        result["accuracy"], result["ci95"] = result[GREEDY]["accuracy"], result[GREEDY]["ci95"]
    else:
        pass1 = result[SAMPLED]["pass@k"]["1"]
        result["accuracy"], result["ci95"] = pass1["value"], pass1["ci95"]
    result["completion_tokens"] = sum(c["completion_tokens"] for c in costs)
    result["seconds"] = round(sum(c["seconds"] for c in costs), 3)
    result["config"] = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("out", "progress")}
    write_json(out / EVAL_JSON, result)
    return result
