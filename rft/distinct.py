"""Distinct correct reasoning paths per problem (the RFT paper's selection, with its gaps closed).

For each problem, verified-correct paths are offered one by one to a `DistinctSet`, which:

1. rejects a path whose arithmetic is wrong anywhere (``wrong_step``), even if its final answer is
   right (`rft.calc` recomputes every ``a op b = c`` claim);
2. groups paths by their *equation signature*, the ordered list of normalised calculations
   (``duplicate_signature``);
3. compares paths that have no calculations (or, with ``text_dedup="all"``, every path) by MinHash
   LSH over word n-grams, so calculation-free paths are not all collapsed into one
   (``near_duplicate``);
4. among duplicates keeps the *farthest* path (larger summed edit distance to the other kept
   paths, as the paper did; here over words, which is ~10x faster than over characters), the
   *shortest*, or the *first*;
5. optionally caps the kept paths per problem (``cap``), dropping the most redundant first.

Each kept path is the representative of a cluster that remembers which models produced a member,
which `rft.pool` uses for its overlap report. Memory grows with kept paths, not with samples.

    >>> ds = DistinctSet(DistinctConfig())
    >>> def path(i, text): return Candidate(f"p#{i}", "p", "m", i, text)
    >>> [ds.offer(path(0, "2 * 3 = 6. #### 6")), ds.offer(path(1, "Twice 3: 2 * 3 = 6\\n#### 6"))]
    [None, 'duplicate_signature']
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from rft.calc import extract_calculations, signature
from rft.errors import DataError, RftError
from rft.jsonl import read_jsonl
from rft.records import Sample

REASONS = ("wrong_step", "duplicate_signature", "near_duplicate", "cap")
SELECT_MODES = ("farthest", "shortest", "first")
TEXT_DEDUP_MODES = ("no_calc", "all", "off")


@dataclass(frozen=True)
class DistinctConfig:
    """How distinct correct paths are chosen per problem.

    Args:
        check_calculations: Reject a path in which any recomputed calculation is false.
        near_duplicate_threshold: Estimated Jaccard similarity of word n-gram sets at or above which
            two paths are near-duplicates.
        ngram: Words per shingle for the near-duplicate test.
        num_perm: MinHash permutations (more is more accurate and slower).
        text_dedup: Paths the near-duplicate test applies to: ``"no_calc"`` (paths without
            calculations, whose signature is empty), ``"all"`` (every path, after the signature
            test), or ``"off"``.
        select: Which of two duplicates to keep: ``"farthest"`` (larger summed word-level edit
            distance to the other kept paths; the RFT paper's rule, which used characters),
            ``"shortest"`` or ``"first"``.
        max_per_problem: Keep at most this many paths per problem; None keeps all.
        seed: MinHash seed.
    """

    check_calculations: bool = True
    near_duplicate_threshold: float = 0.8
    ngram: int = 3
    num_perm: int = 64
    text_dedup: Literal["no_calc", "all", "off"] = "no_calc"
    select: Literal["farthest", "shortest", "first"] = "farthest"
    max_per_problem: int | None = None
    seed: int = 1

    def __post_init__(self) -> None:
        problems = [
            (not 0 < self.near_duplicate_threshold <= 1,
             f"near_duplicate_threshold (--near-dup-threshold) must be in (0, 1], got {self.near_duplicate_threshold}"),
            (self.ngram < 1, f"ngram (--ngram) must be >= 1, got {self.ngram}"),
            (self.num_perm < 2, f"num_perm (--num-perm) must be >= 2, got {self.num_perm}"),
            (self.select not in SELECT_MODES, f"select (--select) must be one of {', '.join(SELECT_MODES)}, "
                                              f"got {self.select!r}"),
            (self.text_dedup not in TEXT_DEDUP_MODES, f"text_dedup (--text-dedup) must be one of "
                                                      f"{', '.join(TEXT_DEDUP_MODES)}, got {self.text_dedup!r}"),
            (self.max_per_problem is not None and self.max_per_problem < 1,
             f"max_per_problem (--max-per-problem) must be >= 1, got {self.max_per_problem}"),
        ]
        for bad, message in problems:
            if bad:
                raise RftError(message)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Candidate:
    """A verified-correct path offered for selection, with its provenance (a light `Sample`).

    Args:
        sample_id: The sample's id.
        problem_id: The problem it answers.
        model: The model that wrote it.
        index: The sample's index among the problem's samples.
        text: The completion.
        run: The run (directory label) it came from.
        params: The sampling parameters recorded with the sample.
    """

    __slots__ = ("sample_id", "problem_id", "model", "index", "text", "run", "params")

    def __init__(self, sample_id: str, problem_id: str, model: str, index: int, text: str, run: str = "",
                 params: dict[str, Any] | None = None):
        self.sample_id, self.problem_id, self.model, self.index = sample_id, problem_id, model, index
        self.text, self.run, self.params = text, run, params if params is not None else {}

    @classmethod
    def from_row(cls, row: dict[str, Any], run: str, where: str) -> Candidate:
        """From a ``samples.jsonl`` row; a malformed row raises `DataError` naming ``where``."""
        try:
            return cls(str(row["id"]), str(row["problem_id"]), str(row["model"]), int(row["index"]),
                       str(row["completion"]), run, row.get("params") or {})
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{where}: malformed sample row ({type(e).__name__}: {e}); "
                            f"expected the fields written by `rft generate`") from None

    def to_sample(self) -> Sample:
        """The `Sample` this path came from (without its verdict, which was correct)."""
        return Sample(id=self.sample_id, problem_id=self.problem_id, model=self.model, index=self.index,
                      completion=self.text, params=self.params)

    def __repr__(self) -> str:
        return f"Candidate({self.sample_id!r}, model={self.model!r}, run={self.run!r})"


class Cluster:
    """A kept path (the representative) and what is known about the paths it stands for.

    Attributes:
        path: The representative `Candidate`.
        signature: Its equation signature (empty tuple when it has no calculations).
        minhash: Its MinHash when it takes part in the near-duplicate test, else None.
        models: Every model that produced a member of this cluster.
        size: Number of member paths (the representative included).
    """

    __slots__ = ("path", "signature", "minhash", "models", "size")

    def __init__(self, path: Candidate, signature: tuple[str, ...], minhash: Any):
        self.path = path
        self.signature = signature
        self.minhash = minhash
        self.models = {path.model}
        self.size = 1


_WORD = re.compile(r"\w+")


class _MinHasher:
    """MinHash signatures of word n-gram sets, sharing one set of permutations."""

    def __init__(self, config: DistinctConfig):
        from datasketch import LeanMinHash, MinHash, MinHashLSH

        self._lean = LeanMinHash
        self._lsh = MinHashLSH
        self.ngram = config.ngram
        self.num_perm = config.num_perm
        self.threshold = config.near_duplicate_threshold
        # Reused (cleared per text). CRC32 (stdlib, deterministic) as the base hash is ~6x faster than
        # datasketch's default SHA-1; the random affine permutations are applied on top of it.
        self._work = MinHash(num_perm=config.num_perm, seed=config.seed, hashfunc=zlib.crc32)
        probe = MinHashLSH(threshold=config.near_duplicate_threshold, num_perm=config.num_perm)
        self._params = (probe.b, probe.r)  # computing them is slow; reuse for every problem

    def minhash(self, text: str) -> Any:
        """The (lean, immutable) MinHash of the word n-grams of ``text``."""
        words = _WORD.findall(text.lower())
        n = self.ngram
        shingles = {" ".join(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}
        self._work.clear()
        self._work.update_batch([s.encode("utf-8") for s in shingles])
        return self._lean(self._work)

    def index(self) -> Any:
        return self._lsh(threshold=self.threshold, num_perm=self.num_perm, params=self._params)


_HASHERS: dict[DistinctConfig, _MinHasher] = {}


def _hasher(config: DistinctConfig) -> _MinHasher:
    if config not in _HASHERS:
        _HASHERS[config] = _MinHasher(config)
    return _HASHERS[config]


class _WordChars(dict):  # type: ignore[type-arg]
    """Maps a word to one character from its CRC32 (deterministic, shared by all problems)."""

    def __missing__(self, word: str) -> str:
        if len(self) > 1 << 18:
            self.clear()  # values are recomputable: only the cache is lost
        char = self[word] = chr(0x10000 + zlib.crc32(word.encode("utf-8")) % 0xF0000)
        return char


_WORD_CHARS = _WordChars()


class DistinctSet:
    """The distinct correct paths of one problem, built incrementally.

    Offer paths in a stable order (runs in the given order, samples by index): the result after
    the first ``k`` offers is exactly what offering only those ``k`` would give.

    Args:
        config: Selection settings.

    Attributes:
        clusters: The kept paths so far (before the cap), in the order they were first seen.
        rejected: Paths not kept, by reason (``cap`` is filled in by `finish`).
    """

    def __init__(self, config: DistinctConfig):
        from rapidfuzz.distance import Levenshtein

        self.config = config
        self.clusters: list[Cluster] = []
        self.rejected: dict[str, int] = dict.fromkeys(REASONS, 0)
        self._by_signature: dict[tuple[str, ...], int] = {}
        self._lsh: Any = None
        self._distance = Levenshtein.distance
        self._dist: list[list[int]] = []  # pairwise edit distances of representatives ("farthest")
        self._score: list[int] = []       # row sums of _dist
        self._word_texts: list[str] = []  # representatives as one character per word (see _words)

    def offer(self, path: Candidate) -> str | None:
        """Consider one verified-correct path; returns None if it is kept, else the rejection reason.

        A duplicate may replace its cluster's representative (see ``DistinctConfig.select``); it is
        still counted as the duplicate, so kept + rejected always equals paths offered.
        """
        reason = self._offer(path)
        if reason is not None:
            self.rejected[reason] += 1
        return reason

    def _offer(self, path: Candidate) -> str | None:
        config = self.config
        calcs = extract_calculations(path.text)
        if config.check_calculations and any(c.correct is False for c in calcs):
            return "wrong_step"
        sig = signature(calcs)
        if sig:
            j = self._by_signature.get(sig)
            if j is not None:
                self._duplicate(j, path)
                return "duplicate_signature"
        minhash = None
        if config.text_dedup == "all" or (config.text_dedup == "no_calc" and not sig):
            minhash = _hasher(config).minhash(path.text)
            j = self._nearest(minhash)
            if j is not None:
                self._duplicate(j, path, minhash)
                return "near_duplicate"
        self._add(Cluster(path, sig, minhash))
        return None

    def finish(self) -> list[Cluster]:
        """Apply ``max_per_problem`` (dropping the most redundant clusters first) and return the kept ones.

        ``farthest`` drops the cluster with the smallest summed distance to the others, repeatedly;
        ``shortest`` keeps the shortest paths; ``first`` keeps the earliest.
        """
        cap = self.config.max_per_problem
        kept = list(range(len(self.clusters)))
        if cap is not None and len(kept) > cap:
            if self.config.select == "farthest":
                score = dict(enumerate(self._score))
                while len(kept) > cap:
                    drop = min(kept, key=lambda i: (score[i], -i))
                    kept.remove(drop)
                    for i in kept:
                        score[i] -= self._dist[i][drop]
            elif self.config.select == "shortest":
                kept = sorted(sorted(kept, key=lambda i: len(self.clusters[i].path.text))[:cap])
            else:
                kept = kept[:cap]
            self.rejected["cap"] = len(self.clusters) - len(kept)
        return [self.clusters[i] for i in kept]

    # -- internals ---------------------------------------------------------------------------

    def _nearest(self, minhash: Any) -> int | None:
        if self._lsh is None:
            return None
        best, best_sim = None, -1.0
        for j in self._lsh.query(minhash):
            sim = minhash.jaccard(self.clusters[j].minhash)
            if sim >= self.config.near_duplicate_threshold and sim > best_sim:
                best, best_sim = j, sim
        return best

    def _add(self, cluster: Cluster) -> None:
        k = len(self.clusters)
        self.clusters.append(cluster)
        if cluster.signature:
            self._by_signature[cluster.signature] = k
        if cluster.minhash is not None:
            self._index().insert(k, cluster.minhash, check_duplication=False)
        if self.config.select == "farthest":
            words = self._words(cluster.path.text)
            self._word_texts.append(words)
            row = [self._distance(words, w) for w in self._word_texts[:k]]
            for i, d in enumerate(row):
                self._dist[i].append(d)
                self._score[i] += d
            self._dist.append(row + [0])
            self._score.append(sum(row))

    def _duplicate(self, j: int, path: Candidate, minhash: Any = None) -> None:
        cluster = self.clusters[j]
        cluster.models.add(path.model)
        cluster.size += 1
        select = self.config.select
        if select == "first" or path.text == cluster.path.text:
            return
        if select == "shortest":
            if len(path.text) < len(cluster.path.text):
                self._replace(j, path, minhash, None)
            return
        words = self._words(path.text)
        row = [0 if i == j else self._distance(words, w) for i, w in enumerate(self._word_texts)]
        if sum(row) > self._score[j]:
            self._replace(j, path, minhash, row)
            self._word_texts[j] = words

    def _replace(self, j: int, path: Candidate, minhash: Any, row: list[int] | None) -> None:
        cluster = self.clusters[j]
        cluster.path = path
        if cluster.minhash is not None:
            self._lsh.remove(j)
            cluster.minhash = minhash if minhash is not None else _hasher(self.config).minhash(path.text)
            self._lsh.insert(j, cluster.minhash, check_duplication=False)
        if row is not None:
            for i, d in enumerate(row):
                if i != j:
                    self._score[i] += d - self._dist[i][j]
                    self._dist[i][j] = d
            self._dist[j] = row
            self._score[j] = sum(row)

    @staticmethod
    def _words(text: str) -> str:
        """``text`` with each word mapped to one character, so that the Levenshtein distance of two
        such strings is the word-level edit distance of the texts (fast: 64 words fit one machine
        word in rapidfuzz's bit-parallel algorithm). Two words share a character with probability
        about 1e-6, which changes a distance by at most one per shared position."""
        return "".join(map(_WORD_CHARS.__getitem__, text.split()))

    def _index(self) -> Any:
        if self._lsh is None:
            self._lsh = _hasher(self.config).index()
        return self._lsh


# -- reading runs ------------------------------------------------------------------------------

def verdict_of(row: dict[str, Any]) -> tuple[bool, str]:
    """``(correct, reason)`` of a sample row; reason ``unverified`` when it has no verdict."""
    verdict = row.get("verdict")
    if not isinstance(verdict, dict):
        return False, "unverified"
    correct = verdict.get("correct") is True
    return correct, str(verdict.get("reason") or ("correct" if correct else "incorrect"))


def problem_groups(samples_path: str | Path) -> Iterator[list[dict[str, Any]]]:
    """Stream the rows of a ``samples.jsonl``, one list per problem, sorted by sample index.

    Rows of a problem are contiguous in a run's file; only one problem's rows are in memory.
    """
    group: list[dict[str, Any]] = []
    current: Any = None
    for row in read_jsonl(samples_path):
        pid = row.get("problem_id")
        if pid != current and group:
            yield sorted(group, key=_index)
            group = []
        current = pid
        group.append(row)
    if group:
        yield sorted(group, key=_index)


def _index(row: dict[str, Any]) -> int:
    index = row.get("index")
    return index if isinstance(index, int) else 0
