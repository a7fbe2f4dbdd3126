"""Math verifier: is a completion's final answer mathematically equal to a LaTeX gold (MATH, MATH-500)?

Cheapest test first. In the caller's process (`rft.verifiers.latex`): extract the answer (whichever
comes last of ``\\boxed{}``, ``<answer>`` tags and "final answer is"; else a trailing ``$...$``), clean
it, then decide by string equality, exact rationals and decimals, text answers and choice letters, and
by the 50-digit value of simple expressions (and of lists, tuples, intervals, sets and matrices of them).
Only what is left goes to worker processes (`rft.verifiers.timeout`) that parse both sides with
latex2sympy2_extended and compare with sympy under a hard time limit: expressions (exact, then
high-precision numbers, then random points), equations up to a constant factor, inequalities up to a
positive factor, intervals, unions, sets, tuples, ``\\pm``, matrices. It never rescales percentages and
never rounds tiny differences to zero, so ``100`` vs ``1``, ``1/2004!`` vs ``1/2006!`` and ``1-1/e``
vs ``1+1/e`` stay different. sympy is imported only in the workers.

    >>> v = MathVerifier()
    >>> v.verify("\\\\frac{1}{2}", "so the answer is $\\\\boxed{0.5}$").reason
    'match'
    >>> v.verify("1 \\\\pm \\\\sqrt{2}", "\\\\boxed{1 - \\\\sqrt{2}, 1 + \\\\sqrt{2}}").correct  # sympy stage
    True
    >>> v.close()
"""

from __future__ import annotations

import functools
import logging
import os
import random
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

from rft.errors import RftError
from rft.records import Verdict
from rft.verifiers.base import Verifier
from rft.verifiers.latex import (
    PLAIN_NUMBER,
    cheap_equal,
    choice_letter,
    clean,
    extract_answer,
    has_letters,
    has_relation,
    max_depth,
    numbers_equal,
    predicted_letter,
    strip_assignment,
    strip_trailing_words,
    text_answer,
)
from rft.verifiers.timeout import Outcome, WorkerPool

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 2000
"""Longer extracted answers are ``unparseable`` without further work."""
MAX_NESTING = 48
"""Deeper bracket/brace nesting is ``unparseable`` without further work."""

# --- symbolic stage (runs in worker processes) ---------------------------------------------------


@functools.lru_cache(maxsize=1024)
def parse_latex(latex: str) -> Any:
    """A sympy object for a cleaned LaTeX answer (``i`` read as the imaginary unit); raises if unparseable."""
    import sympy
    from latex2sympy2_extended import latex2sympy
    from latex2sympy2_extended.math_normalization import NormalizationConfig

    config = NormalizationConfig(basic_latex=True, units=False, malformed_operators=True, nits=True,
                                 boxed="none", equations=False)
    expr = latex2sympy(latex, is_real=True, normalization_config=config)
    if not isinstance(expr, (sympy.Basic, sympy.MatrixBase)):
        raise ValueError(f"not a math object: {type(expr).__name__}")
    imaginary = [s for s in getattr(expr, "free_symbols", ()) if getattr(s, "name", "") == "i"]
    if imaginary:
        expr = expr.subs(imaginary[0], sympy.I)
    return expr


def judge(gold: str, pred: str) -> tuple[bool | None, str]:
    """Parse and compare two cleaned answers with sympy: ``(correct, reason)``. Runs in a worker."""
    try:
        g = parse_latex(gold)
    except Exception:  # noqa: BLE001 - any parser failure means the same thing
        return None, "gold_unparseable"
    try:
        p = parse_latex(pred)
    except Exception:  # noqa: BLE001
        return False, "unparseable"
    try:
        ok = equivalent(g, p)
    except Exception:  # noqa: BLE001 - sympy raising on an odd pair is a mismatch, not a crash
        log.debug("comparison failed", exc_info=True)
        ok = False
    return ok, "match" if ok else "mismatch"


WARM_UP = [("1", "\\sqrt{1}"), ("1 \\pm \\sqrt{2}", "1+\\sqrt{2}, 1-\\sqrt{2}"), ("x \\ge 3", "[3, \\infty)"),
           ("y = 2x + 1", "2x - y + 1 = 0"), ("(-\\infty, 2) \\cup (3, \\infty)", "(3, \\infty) \\cup (-\\infty, 2)"),
           ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(1, 2)"), ("x^2 - 1", "(x - 1)(x + 1)"), ("x > 3", "3 < x")]


def warm_up() -> None:
    """Run a few typical comparisons so a new worker's parser and sympy caches are ready."""
    for gold, pred in WARM_UP:
        judge(gold, pred)
    parse_latex.cache_clear()


def equivalent(gold: Any, pred: Any) -> bool:
    """Whether two parsed answers are the same mathematical object (gold first)."""
    import sympy

    if _is_relational(gold) or _is_relational(pred):
        return _relations_equivalent(gold, pred)
    if isinstance(gold, sympy.MatrixBase) or isinstance(pred, sympy.MatrixBase):
        return _matrices_equivalent(gold, pred)
    if isinstance(gold, (sympy.Set, sympy.Tuple)) or isinstance(pred, (sympy.Set, sympy.Tuple)):
        return _sets_equivalent(gold, pred)
    return _exprs_equivalent(gold, pred)


def _is_relational(x: Any) -> bool:
    import sympy
    from sympy.core.relational import Relational

    return isinstance(x, Relational) or (isinstance(x, sympy.And) and all(
        isinstance(a, Relational) for a in x.args))


def _doit(x: Any) -> Any:
    try:
        return x.doit()
    except Exception:  # noqa: BLE001
        return x


def _exprs_equivalent(a: Any, b: Any) -> bool:
    import sympy

    if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
        return bool(a == b)
    a, b = _doit(a), _doit(b)
    if any(x.has(sympy.zoo, sympy.nan) for x in (a, b)):
        return False  # undefined values (1/0, 12:00 read as 12/0) are never equal answers
    if a == b:
        return True
    if a.has(sympy.oo, -sympy.oo) or b.has(sympy.oo, -sympy.oo):
        return False
    if not (a.free_symbols or b.free_symbols):
        return _numbers_close(a, b)
    if sympy.expand(a - b) == 0:
        return True
    if _agree_at_points(a, b, sorted(a.free_symbols | b.free_symbols, key=str)) is False:
        return False
    return _not_provably_different(a, b)


def _not_provably_different(a: Any, b: Any) -> bool:
    """After the numbers agreed: equal unless sympy reduces ``a - b`` to a nonzero rational
    (``2^{100} + 1`` vs ``2^{100}``), which no 60-digit evaluation may see."""
    import sympy

    diff = sympy.simplify(a - b)
    return bool(diff == 0 or not diff.is_Rational)


def _numbers_close(a: Any, b: Any) -> bool:
    """Exact for rationals; otherwise 60-digit values within 1e-40 (1e-6 if a decimal was written)."""
    import sympy

    if a.is_Rational and b.is_Rational:
        return bool(a == b)
    decimal = a.has(sympy.Float) or b.has(sympy.Float)
    tol = sympy.Rational(1, 10**6) if decimal else sympy.Rational(1, 10**40)
    va, vb = a.evalf(60), b.evalf(60)
    if not (va.is_number and vb.is_number):
        return bool(sympy.simplify(a - b) == 0)
    diff = abs(sympy.N(va - vb, 60))
    scale = max(abs(sympy.N(va, 60)), abs(sympy.N(vb, 60)))
    if diff > tol * scale:
        return False
    return decimal or _not_provably_different(a, b)


def _agree_at_points(a: Any, b: Any, symbols: list[Any], n: int = 6) -> bool | None:
    """Compare at ``n`` seeded random rational points: False on any clear disagreement, True if all
    usable points agree, None if too few points could be evaluated (undefined functions, poles)."""
    import sympy

    rng = random.Random(1234)
    usable = 0
    for _ in range(n * 2):
        point = {s: sympy.Rational(rng.randint(-40, 40), rng.randint(7, 19)) for s in symbols}
        try:
            va = sympy.N(a.subs(point), 40)
            vb = sympy.N(b.subs(point), 40)
        except Exception:  # noqa: BLE001
            continue
        if not (va.is_number and vb.is_number) or va.has(sympy.zoo, sympy.nan) or vb.has(sympy.zoo, sympy.nan):
            continue
        scale = max(abs(va), abs(vb), sympy.Float(1e-30))
        if abs(va - vb) > sympy.Float(1e-25) * scale:
            return False
        usable += 1
        if usable >= n:
            return True
    return None


def _proportional(e1: Any, e2: Any, positive: bool) -> bool:
    """Whether ``e1 = c * e2`` for a constant ``c`` (nonzero; positive when ``positive``)."""
    import sympy

    if e1 == 0 or e2 == 0:
        return bool(e1 == e2)
    ratio = sympy.simplify(e1 / e2)
    if ratio.free_symbols or ratio.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo) or ratio == 0:
        return False
    return bool(ratio.is_positive) if positive else bool(ratio.is_nonzero)


def _is_assignment(rel: Any) -> bool:
    import sympy

    return (isinstance(rel, sympy.Eq) and isinstance(rel.lhs, sympy.Symbol)
            and rel.lhs not in getattr(rel.rhs, "free_symbols", set()))


def _as_set(rel: Any) -> Any | None:
    """The solution set of a one-variable relation (``x > 2`` -> ``(2, oo)``), or None."""
    symbols = rel.free_symbols
    if len(symbols) != 1:
        return None
    try:
        return rel.as_set()
    except Exception:  # noqa: BLE001
        return None


def _relations_equivalent(gold: Any, pred: Any) -> bool:
    import sympy
    from sympy.core.relational import Relational

    g_rel, p_rel = _is_relational(gold), _is_relational(pred)
    if g_rel != p_rel:
        rel, other, rel_is_gold = (gold, pred, True) if g_rel else (pred, gold, False)
        if _is_assignment(rel):
            return equivalent(rel.rhs, other) if rel_is_gold else equivalent(other, rel.rhs)
        if isinstance(other, sympy.Set):
            solution = _as_set(rel)
            return solution is not None and _sets_equivalent(solution, other)
        return False
    if isinstance(gold, sympy.And) or isinstance(pred, sympy.And):
        gs, ps = _as_set(gold), _as_set(pred)
        if gs is not None and ps is not None and gold.free_symbols == pred.free_symbols:
            return _sets_equivalent(gs, ps)
        return False
    assert isinstance(gold, Relational) and isinstance(pred, Relational)
    if isinstance(gold, sympy.Eq) and isinstance(pred, sympy.Eq):
        if _is_assignment(gold) and _is_assignment(pred) and gold.lhs == pred.lhs:
            return equivalent(gold.rhs, pred.rhs)
        if not all(isinstance(x, sympy.Expr) for x in (gold.lhs, gold.rhs, pred.lhs, pred.rhs)):
            return False
        return _proportional(gold.lhs - gold.rhs, pred.lhs - pred.rhs, positive=False)
    if isinstance(gold, sympy.Ne) and isinstance(pred, sympy.Ne):
        return _proportional(gold.lhs - gold.rhs, pred.lhs - pred.rhs, positive=False)
    g_form, p_form = _inequality_form(gold), _inequality_form(pred)
    if g_form is None or p_form is None or g_form[1] != p_form[1]:
        return False
    if _proportional(g_form[0], p_form[0], positive=True):
        return True
    gs, ps = _as_set(gold), _as_set(pred)
    return gs is not None and ps is not None and gold.free_symbols == pred.free_symbols and _sets_equivalent(gs, ps)


def _inequality_form(rel: Any) -> tuple[Any, bool] | None:
    """``(e, strict)`` with the relation meaning ``e > 0`` (strict) or ``e >= 0``."""
    import sympy

    if isinstance(rel, (sympy.StrictGreaterThan, sympy.GreaterThan)):
        return rel.lhs - rel.rhs, isinstance(rel, sympy.StrictGreaterThan)
    if isinstance(rel, (sympy.StrictLessThan, sympy.LessThan)):
        return rel.rhs - rel.lhs, isinstance(rel, sympy.StrictLessThan)
    return None


def _elements(x: Any) -> list[Any]:
    """Elements of a FiniteSet in the order written (latex2sympy keeps it), else sorted order."""
    return list(getattr(x, "_unsorted_args", None) or x.args)


def _same_in_order(gs: Sequence[Any], ps: Sequence[Any]) -> bool:
    return len(gs) == len(ps) and all(equivalent(g, p) for g, p in zip(gs, ps))


def _same_any_order(gs: Sequence[Any], ps: Sequence[Any]) -> bool:
    if len(gs) != len(ps):
        return False
    left = list(ps)
    for g in gs:
        for i, p in enumerate(left):
            if equivalent(g, p):
                del left[i]
                break
        else:
            return False
    return True


def _sets_equivalent(gold: Any, pred: Any) -> bool:
    import sympy

    def shape(x: Any) -> str:
        if isinstance(x, sympy.Interval):
            return "interval"
        if isinstance(x, sympy.Tuple):
            return "tuple"
        if isinstance(x, sympy.FiniteSet):
            return "finite"
        if isinstance(x, sympy.Union):
            return "union"
        if isinstance(x, sympy.Set):
            return "set"
        return "element"

    gk, pk = shape(gold), shape(pred)
    if gk == pk == "interval":
        return (gold.left_open == pred.left_open and gold.right_open == pred.right_open
                and equivalent(gold.start, pred.start) and equivalent(gold.end, pred.end))
    if gk == pk == "tuple":
        return _same_in_order(gold.args, pred.args)
    if gk == pk == "finite":
        return _same_any_order(list(gold.args), list(pred.args))
    if gk == pk == "union":
        return _same_any_order(list(gold.args), list(pred.args)) or bool(gold == pred)
    if {gk, pk} <= {"tuple", "finite", "interval"}:
        # "(1, 2)" is both a point and an open interval; a bare "1, 2" keeps its written order.
        def ordered_items(x: Any, kind: str) -> list[Any] | None:
            if kind == "interval":
                return [x.start, x.end] if x.left_open and x.right_open else None
            return list(x.args) if kind == "tuple" else _elements(x)

        gi, pi = ordered_items(gold, gk), ordered_items(pred, pk)
        return gi is not None and pi is not None and _same_in_order(gi, pi)
    if gk == "element" and pk == "finite":
        return len(pred.args) == 1 and equivalent(gold, pred.args[0])
    if pk == "element" and gk == "finite":
        return len(gold.args) == 1 and equivalent(gold.args[0], pred)
    if gk != "element" and pk != "element":
        try:
            return bool(gold == pred) or gold.symmetric_difference(pred).is_empty is True
        except Exception:  # noqa: BLE001
            return False
    return False


def _matrices_equivalent(gold: Any, pred: Any) -> bool:
    import sympy

    if isinstance(gold, sympy.MatrixBase) and isinstance(pred, sympy.MatrixBase):
        return gold.shape == pred.shape and _same_in_order(list(gold), list(pred))
    matrix, other = (gold, pred) if isinstance(gold, sympy.MatrixBase) else (pred, gold)
    if 1 not in matrix.shape:
        return False
    if isinstance(other, sympy.Tuple):
        items = list(other.args)
    elif isinstance(other, sympy.Interval) and other.left_open and other.right_open:
        items = [other.start, other.end]
    else:
        return False
    return _same_in_order(list(matrix), items) if matrix is gold else _same_in_order(items, list(matrix))


# --- the verifier (runs in the caller's process) -------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _gold_forms(gold: str) -> tuple[str | None, str | None, str]:
    """A gold's choice letter, text words and cleaned LaTeX (cached: a problem's n samples share one)."""
    return choice_letter(gold), text_answer(gold), clean(gold)


@dataclass(frozen=True)
class _Job:
    """A pair the cheap stages could not decide: cleaned gold and prediction for `judge`."""

    gold: str
    pred: str


class MathVerifier(Verifier):
    """Mathematical equivalence of LaTeX answers. See the module docstring for the stages.

    Creating one is cheap: worker processes start on the first answer that needs sympy.

    Args:
        timeout: Hard wall-clock limit in seconds for the sympy stage of one check.
        workers: Worker processes for the sympy stage (default: CPU count, at most 4).
        cache_size: Sympy-stage verdicts remembered per (gold, answer) pair (0: none).
    """

    name: ClassVar[str] = "math"
    version: ClassVar[str] = "1"

    def __init__(self, timeout: float = 5.0, workers: int | None = None, cache_size: int = 4096):
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise RftError(f"math verifier: timeout must be a number of seconds > 0, got {timeout!r}")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise RftError(f"math verifier: workers must be a whole number >= 1, got {workers!r}")
        self.timeout = float(timeout)
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self.cache_size = cache_size
        self._cache: OrderedDict[_Job, tuple[bool | None, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._pool: WorkerPool | None = None

    @property
    def pool(self) -> WorkerPool:
        """The worker pool of the sympy stage (created on first use)."""
        with self._lock:
            if self._pool is None:
                self._pool = WorkerPool(self.workers, preload=("rft.verifiers.math", "latex2sympy2_extended"),
                                        initializer=warm_up)
            return self._pool

    def verify(self, gold: str, completion: str) -> Verdict:
        planned = self._plan(str(gold), str(completion))
        return planned if isinstance(planned, Verdict) else self._finish([planned])[0]

    def verify_batch(self, golds: Sequence[str], completions: Sequence[str]) -> list[Verdict]:
        """Judge many completions; cheap ones inline, the rest in parallel in the worker pool."""
        return self._finish([self._plan(str(g), str(c)) for g, c in zip(golds, completions, strict=True)])

    def _finish(self, planned: list[Verdict | _Job]) -> list[Verdict]:
        """Run the sympy stage for the planned jobs (deduplicated, in parallel) and fill in verdicts."""
        results: dict[_Job, tuple[bool | None, str]] = {}
        todo = []
        for job in dict.fromkeys(p for p in planned if isinstance(p, _Job)):
            hit = self._cached(job)
            if hit is not None:
                results[job] = hit
            else:
                todo.append(job)
        if todo:
            outcomes = self.pool.map(judge, [(job.gold, job.pred) for job in todo], self.timeout)
            for job, outcome in zip(todo, outcomes):
                results[job] = self._result(job, outcome)
        verdicts = []
        for p in planned:
            if isinstance(p, _Job):
                correct, reason = results[p]
                p = self.verdict(correct, p.pred[:200], reason)
            verdicts.append(p)
        return verdicts

    def _result(self, job: _Job, outcome: Outcome) -> tuple[bool | None, str]:
        if outcome.status == "ok":
            self._remember(job, outcome.value)
            return outcome.value
        if outcome.status == "timeout":
            return False, "timeout"
        log.warning("math verifier worker %s on %r: %s", outcome.status, job.pred[:80], outcome.value)
        return False, "unparseable"

    def _plan(self, gold: str, completion: str) -> Verdict | _Job:
        """Extract and clean; return a verdict if the cheap stages decide, else a sympy job."""
        if not gold.strip():
            return self.verdict(None, None, "gold_unparseable")
        span = extract_answer(completion)
        if span is None:
            return self.verdict(False, None, "no_answer")
        if len(span) > MAX_ANSWER_CHARS or max_depth(span) > MAX_NESTING:
            return self.verdict(False, span[:200], "unparseable")
        letter, words, g = _gold_forms(gold)
        if PLAIN_NUMBER.match(g) and PLAIN_NUMBER.match(span):  # the most common case, decided at once
            return self._decided(numbers_equal(Fraction(g), Fraction(span)), span)
        if letter is not None:
            return self._decided(predicted_letter(span) == letter, span)
        if words is not None:
            return self._decided(text_answer(span) == words, span)
        p = clean(span)
        if not has_relation(p):
            g = strip_assignment(g)
        if not has_relation(g):
            p = strip_assignment(p)
        if not has_letters(g):
            p = strip_trailing_words(p)
        if not g:
            return self.verdict(None, None, "gold_unparseable")
        if not p:
            return self.verdict(False, span[:200], "unparseable")
        decided = cheap_equal(g, p)
        return _Job(g, p) if decided is None else self._decided(decided, p)

    def _decided(self, correct: bool, extracted: str) -> Verdict:
        return self.verdict(correct, extracted[:200], "match" if correct else "mismatch")

    def _cached(self, job: _Job) -> tuple[bool | None, str] | None:
        with self._lock:
            hit = self._cache.get(job)
            if hit is not None:
                self._cache.move_to_end(job)
            return hit

    def _remember(self, job: _Job, result: tuple[bool | None, str]) -> None:
        if self.cache_size <= 0:
            return
        with self._lock:
            self._cache[job] = result
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def close(self) -> None:
        """Stop the worker processes (they restart if the verifier is used again)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
