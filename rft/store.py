"""The run directory: resolved config, problems, samples with verdicts, summary.

Layout of ``RUN/``:

- ``config.json``   the settings that define the run (task, model, sampling, verifier); a re-run with
                    other settings is refused instead of mixing samples.
- ``problems.jsonl`` the selected problems (`Problem.to_dict()` rows).
- ``samples.jsonl``  append-only; all ``n`` samples of a problem land in one write + fsync, so a kill
                    leaves at most one torn group at the end, which `RunStore.open` drops.
- ``summary.json``   metrics recomputed from ``samples.jsonl`` (see `rft.metrics`).
- ``timing.jsonl``   one row per invocation (samples, tokens, generation seconds).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rft.errors import RftError, RunMismatchError
from rft.jsonl import JsonlAppender, read_jsonl, recover, write_json, write_jsonl
from rft.records import Problem, Sample

CONFIG, PROBLEMS, SAMPLES, SUMMARY, TIMING = "config.json", "problems.jsonl", "samples.jsonl", "summary.json", "timing.jsonl"

# Keys of config.json that define what a sample means; other keys (limit, engine tuning) may change.
IDENTITY_KEYS = ("task", "model", "sampling", "verifier")


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    for key in IDENTITY_KEYS:
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key}.{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif a != b:
            out.append(f"{key}: {a!r} -> {b!r}")
    return out


class RunStore:
    """Reads and appends one run directory. Use `RunStore.open` to create or resume."""

    def __init__(self, path: Path, config: dict[str, Any]):
        self.path = path
        self.config = config

    @classmethod
    def open(cls, path: str | Path, config: dict[str, Any]) -> RunStore:
        """Create ``path`` or resume it; refuses a directory that holds a run with other settings."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RftError(f"--out {path} exists and is not a directory")
        if (path / CONFIG).exists():
            old = read_config(path)
            diff = _diff(old, config)
            if diff:
                raise RunMismatchError(f"{path} holds a run with different settings ({'; '.join(diff)}); "
                                       f"use another --out, or the same settings to resume")
        elif path.exists() and any(path.iterdir()):
            raise RftError(f"--out {path} is a non-empty directory that holds no run; choose another --out")
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise RftError(f"cannot write to --out {path}: {e.strerror}") from None
        write_json(path / CONFIG, config)
        store = cls(path, config)
        store._drop_incomplete(int(config["sampling"]["n"]))
        return store

    def _drop_incomplete(self, n: int) -> None:
        """Remove a torn tail and any problem with fewer than ``n`` samples (at most the last group)."""
        rows = recover(self.path / SAMPLES)
        counts = Counter(r["problem_id"] for r in rows)
        if any(c < n for c in counts.values()):
            write_jsonl(self.path / SAMPLES, (r for r in rows if counts[r["problem_id"]] >= n))

    def done_problem_ids(self) -> set[str]:
        """Ids of problems whose samples are all on disk."""
        return {s.problem_id for s in self.samples()}

    def write_problems(self, problems: Iterable[Problem]) -> None:
        """Record the selected problems (merged with those already recorded, by id)."""
        known = {p.id: p for p in self.problems()}
        known.update((p.id, p) for p in problems)
        write_jsonl(self.path / PROBLEMS, (p.to_dict() for p in known.values()))

    def problems(self) -> list[Problem]:
        return load_problems(self.path)

    def samples(self) -> Iterator[Sample]:
        return load_samples(self.path)

    def appender(self) -> JsonlAppender:
        """An appender for ``samples.jsonl``: call ``append(rows)`` once per problem."""
        return JsonlAppender(self.path / SAMPLES)

    def log_timing(self, row: dict[str, Any]) -> None:
        with JsonlAppender(self.path / TIMING) as f:
            f.append([row])


def read_config(run: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a run directory."""
    path = Path(run) / CONFIG
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RftError(f"{path} is unreadable ({e}); move it away or choose another --out") from None


def require_run(path: str | Path) -> Path:
    """``path`` as a run directory, or a clear error."""
    path = Path(path)
    if not (path / SAMPLES).exists():
        raise RftError(f"{path} is not a run directory (no {SAMPLES}); create one with `rft generate`")
    return path


def load_problems(run: str | Path) -> list[Problem]:
    """The problems recorded in a run directory."""
    path = Path(run) / PROBLEMS
    return [Problem.from_dict(r) for r in read_jsonl(path)] if path.exists() else []


def load_samples(run: str | Path) -> Iterator[Sample]:
    """Stream the samples of a run directory (problem groups are contiguous)."""
    path = Path(run) / SAMPLES
    if path.exists():
        for row in read_jsonl(path):
            yield Sample.from_dict(row)


def load_timing(run: str | Path) -> list[dict[str, Any]]:
    path = Path(run) / TIMING
    return list(read_jsonl(path)) if path.exists() else []


def samples_dataset(run: str | Path) -> Any:
    """The samples of a run as a Hugging Face `datasets.Dataset` (verdict fields flattened).

    Example:
        >>> ds = samples_dataset("runs/gsm8k")            # doctest: +SKIP
        >>> ds.filter(lambda r: r["correct"]).to_parquet("correct.parquet")  # doctest: +SKIP
    """
    import datasets

    def rows() -> Iterator[dict[str, Any]]:
        for s in load_samples(run):
            row = s.to_dict()
            verdict = row.pop("verdict") or {}
            row.pop("params")
            yield {**row, **{k: verdict.get(k) for k in ("correct", "extracted", "reason", "verifier")}}

    return datasets.Dataset.from_generator(rows)
