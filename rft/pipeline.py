"""The generate stage: problems -> engine -> verifier -> run directory, streaming and resumable.

The engine runs in the calling thread; a writer thread verifies each finished problem's samples and
appends them to ``samples.jsonl`` while the engine works on the next batch. Re-running with the same
settings skips finished problems (the model is not even loaded when nothing is left to do).

    >>> from rft.pipeline import GenerateConfig, generate                       # doctest: +SKIP
    >>> generate(GenerateConfig(task="arith", out="runs/a", model="tiny-random-llama"))  # doctest: +SKIP
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rft import registry
from rft.catalog import DEFAULT_MODEL
from rft.engines.base import Engine
from rft.errors import RftError
from rft.jsonl import write_json
from rft.metrics import summarize
from rft.records import Completion, Problem, Sample, SamplingParams
from rft.store import SUMMARY, RunStore, load_timing
from rft.verifiers.base import Verifier


class EngineError(RftError):
    """The engine failed mid-run; finished problems are on disk and a re-run resumes."""


@dataclass(frozen=True)
class GenerateConfig:
    """Everything ``rft generate`` needs; recorded in the run's ``config.json``.

    Args:
        task: Task name (see ``rft tasks``).
        out: Run directory (created, or resumed if it holds a run with the same settings).
        data: Data file for the task, if it reads one.
        task_args: Extra task arguments (``--task-arg key=value``).
        model: Catalog name, local path or Hugging Face id.
        engine: Engine name (see ``rft engines``); ``engine_args`` go to its constructor.
        verifier: Verifier name; default: the task's default verifier.
        sampling: ``n`` and decoding parameters.
        limit: Use only the first ``limit`` problems.
        shard: ``(i, N)``: after ``limit``, keep problems whose position modulo N is i.
        progress: Show a progress bar.
    """

    task: str
    out: str | Path
    data: str | None = None
    task_args: dict[str, Any] = field(default_factory=dict)
    model: str = DEFAULT_MODEL
    engine: str = "transformers"
    engine_args: dict[str, Any] = field(default_factory=dict)
    verifier: str | None = None
    verifier_args: dict[str, Any] = field(default_factory=dict)
    sampling: SamplingParams = field(default_factory=SamplingParams)
    limit: int | None = None
    shard: tuple[int, int] | None = None
    progress: bool = True


def select(problems: Iterable[Problem], limit: int | None, shard: tuple[int, int] | None) -> list[Problem]:
    """The first ``limit`` problems, then every N-th from position i for ``shard=(i, N)``."""
    chosen: list[Problem] = []
    for problem in problems:
        if limit is not None and len(chosen) >= limit:
            break
        chosen.append(problem)
    if shard:
        i, n = shard
        if not 0 <= i < n:
            raise RftError(f"--shard {i}/{n}: need 0 <= i < N")
        chosen = chosen[i::n]
    return chosen


class _Writer(threading.Thread):
    """Verifies finished problems and appends them to the store, off the engine's thread."""

    def __init__(self, store: RunStore, verifier: Verifier, golds: dict[str, str], params: SamplingParams,
                 model_id: str, bar: Any):
        super().__init__(daemon=True, name="rft-writer")
        self.store, self.verifier, self.golds, self.params, self.model_id, self.bar = (
            store, verifier, golds, params, model_id, bar)
        self.queue: queue.Queue[list[Completion] | None] = queue.Queue(maxsize=256)
        self.error: BaseException | None = None
        self.samples = self.correct = self.tokens = 0
        self.t0 = time.perf_counter()

    def run(self) -> None:
        with self.store.appender() as out:
            while (group := self.queue.get()) is not None:
                if self.error:
                    continue
                try:
                    out.append(s.to_dict() for s in self._verify(group))
                except BaseException as e:  # reported to the main thread
                    self.error = e

    def _verify(self, group: list[Completion]) -> list[Sample]:
        gold = self.golds[group[0].problem_id]
        verdicts = self.verifier.verify_batch([gold] * len(group), [c.text for c in group])
        params = self.params.to_dict()
        samples = [Sample(id=f"{c.problem_id}#{c.index}", problem_id=c.problem_id, model=self.model_id,
                          index=c.index, completion=c.text, params=params, prompt_tokens=c.prompt_tokens,
                          completion_tokens=c.completion_tokens, finish_reason=c.finish_reason, verdict=v)
                   for c, v in zip(sorted(group, key=lambda c: c.index), verdicts, strict=True)]
        self.samples += len(samples)
        self.correct += sum(s.correct for s in samples)
        self.tokens += sum(s.completion_tokens for s in samples)
        if self.bar is not None:
            elapsed = time.perf_counter() - self.t0
            self.bar.set_postfix(samples=self.samples, acc=f"{self.correct / self.samples:.1%}",
                                 tok_s=f"{self.tokens / max(elapsed, 1e-9):.0f}", refresh=False)
            self.bar.update(1)
        return samples

    def finish(self) -> None:
        self.queue.put(None)
        self.join()
        if self.error:
            raise self.error


def sample_into(store: RunStore, engine: Engine, verifier: Verifier, problems: Sequence[Problem],
                params: SamplingParams, progress: bool = True) -> dict[str, Any]:
    """Sample ``problems`` with ``engine``, verify, and append to ``store``; returns timing figures."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(problems), unit="problem", desc="generate", disable=not progress, dynamic_ncols=True)
    golds = {p.id: p.answer for p in problems}
    writer = _Writer(store, verifier, golds, params, engine.model_id, bar)
    writer.start()
    try:
        for group in engine.generate(problems, params):
            if len(group) != params.n:
                raise EngineError(f"engine returned {len(group)} samples for {group[0].problem_id}, expected {params.n}")
            writer.queue.put(group)
            if writer.error:
                break
    except (RftError, KeyboardInterrupt):
        raise
    except Exception as e:
        raise EngineError(f"engine {engine.name!r} failed: {type(e).__name__}: {e}; finished problems are saved "
                          f"in {store.path}, re-run the same command to resume") from e
    finally:
        writer.finish()
        bar.close()
        seconds = time.perf_counter() - writer.t0
        store.log_timing({"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          "seconds": round(seconds, 3), "samples": writer.samples,
                          "completion_tokens": writer.tokens, "model": engine.model_id})
    return {"seconds": seconds, "samples": writer.samples, "completion_tokens": writer.tokens}


_SECRET = re.compile(r"(api_?key|token|secret|password)$", re.I)


def run_config(config: GenerateConfig, task_config: dict[str, Any], verifier_name: str) -> dict[str, Any]:
    """The ``config.json`` of a run: identity keys (task, model, sampling, verifier) plus the rest.

    Note:
        Arguments named like secrets (``api_key``, ``token``, ...) are refused: they would be written
        to disk. Pass the name of an environment variable instead (e.g. ``api_key_env``).
    """
    for name in {**config.engine_args, **config.task_args, **config.verifier_args}:
        if _SECRET.search(name):
            raise RftError(f"refusing argument {name!r}: secrets are never written to the run directory; "
                           f"put it in an environment variable and pass its name (e.g. api_key_env=MY_KEY)")
    return {
        "schema": 1,
        "task": task_config,
        "model": config.model,
        "sampling": config.sampling.to_dict(),
        "verifier": {"name": verifier_name, **config.verifier_args},
        "engine": {"name": config.engine, **config.engine_args},
        "limit": config.limit,
        "shard": list(config.shard) if config.shard else None,
    }


def write_summary(store: RunStore) -> dict[str, Any]:
    """Recompute ``summary.json`` from the samples on disk (so it always matches them)."""
    timing = load_timing(store.path)
    seconds = sum(t["seconds"] for t in timing)
    tokens = sum(t["completion_tokens"] for t in timing)
    summary = summarize(store.samples(), int(store.config["sampling"]["n"]), extra={
        "task": store.config["task"].get("name"), "model": store.config["model"],
        "verifier": store.config["verifier"]["name"], "sampling": store.config["sampling"],
        "generation_seconds": round(seconds, 2),
        "tokens_per_second": round(tokens / seconds, 2) if seconds else None,
    })
    write_json(store.path / SUMMARY, summary)
    return summary


def generate(config: GenerateConfig) -> dict[str, Any]:
    """Run the generate stage and return the summary (also written to ``OUT/summary.json``)."""
    task = registry.create("task", config.task, data=config.data, **config.task_args)
    verifier_name = config.verifier or task.default_verifier
    verifier = registry.create("verifier", verifier_name, **config.verifier_args)
    problems = select(task.problems(), config.limit, config.shard)
    if not problems:
        raise RftError(f"task {config.task!r} produced no problems (check --data, --limit and --shard)")
    store = RunStore.open(config.out, run_config(config, task.config(), verifier_name))
    store.write_problems(problems)
    done = store.done_problem_ids()
    todo = [p for p in problems if p.id not in done]
    try:
        if todo:
            engine = registry.create("engine", config.engine, model=config.model, **config.engine_args)
            try:
                sample_into(store, engine, verifier, todo, config.sampling, config.progress)
            finally:
                engine.close()
    finally:
        verifier.close()
        summary = write_summary(store)
    return summary


def reverify(run: str | Path, verifier: str | None = None, verifier_args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Re-judge a run's stored samples without sampling again; compare with the stored verdicts.

    Args:
        run: Run directory.
        verifier: Verifier name; default: the one recorded in the run, with its recorded arguments.
        verifier_args: Arguments for ``verifier``.
    """
    from itertools import groupby

    from rft.store import load_problems, load_samples, read_config, require_run

    run = require_run(run)
    recorded = dict(read_config(run)["verifier"])
    name = verifier or recorded.pop("name")
    judge = registry.create("verifier", name, **(verifier_args or {} if verifier else recorded))
    golds = {p.id: p.answer for p in load_problems(run)}
    total = stored = fresh = changed = 0
    try:
        for pid, group in groupby(load_samples(run), key=lambda s: s.problem_id):
            samples = list(group)
            verdicts = judge.verify_batch([golds[pid]] * len(samples), [s.completion for s in samples])
            for s, v in zip(samples, verdicts, strict=True):
                total += 1
                stored += s.correct
                fresh += bool(v.correct)
                changed += bool(v.correct) != s.correct
    finally:
        judge.close()
    return {"verifier": name, "samples": total, "stored_accuracy": stored / max(total, 1),
            "reverified_accuracy": fresh / max(total, 1), "changed_verdicts": changed}
