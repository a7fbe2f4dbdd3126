"""Benchmark: the ``math`` verifier against Hugging Face's math-verify on the same inputs, in one run.

Inputs: every MATH-500 gold answer paired with equivalent rewrites and wrong answers that this script
generates (so each pair has a known label), placed in the problem's reference solution where its
``\\boxed{}`` was; curated pairs (known false positives from math-verify's issue tracker, one or two
per equivalence class); and optionally real model
completions from a run directory (``samples.jsonl`` joined with ``problems.jsonl`` on problem_id,
unlabelled). Reports agreement, accuracy on labelled pairs, each verifier's disagreements (written to
``disagreements.jsonl`` in ``--out`` for a human to judge), answers/second for LaTeX vs plain numeric
golds, worst-case latency, and how each copes with hostile inputs (run in a killable subprocess).

    pip install 'rftkit[bench]'
    python benchmarks/verifier.py --data ../shared/data/math500/test.jsonl [--samples RUN/samples.jsonl]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "math500" / "test.jsonl"
NUMERIC = re.compile(r"^-?\d+(?:\.\d+)?$")


@dataclass
class Case:
    """One (gold, completion) pair; ``label`` is the right verdict when known (generated pairs)."""

    source: str
    gold: str
    answer: str
    completion: str
    label: bool | None
    ours: bool | None = None
    theirs: bool | None = None
    ours_reason: str = ""
    ours_seconds: float = 0.0
    theirs_seconds: float = 0.0

    @property
    def kind(self) -> str:
        return "numeric" if NUMERIC.match(self.gold.strip()) else "latex"


# --- generating labelled pairs --------------------------------------------------------------------


def _latex(expr: Any) -> str:
    import sympy

    return sympy.latex(expr, imaginary_unit="i")


def _parse(gold: str) -> Any | None:
    from latex2sympy2_extended import latex2sympy

    try:
        return latex2sympy(gold, is_real=True)
    except Exception:  # noqa: BLE001
        return None


def _number_variants(gold: str, rng: random.Random) -> tuple[list[str], list[str]]:
    from fractions import Fraction

    value = Fraction(gold)
    right, wrong = [], []
    if value.denominator == 1:
        n = value.numerator
        right += [f"{n}.0", f"\\frac{{{2 * n}}}{{2}}", f"x = {n}", f"{n} \\text{{ units}}"]
        if abs(n) >= 1000:
            right.append(f"{n:,}")
        wrong += [str(n + 1), str(n - 1), str(10 * n) if n else "10", str(-n) if n else "1"]
        if n and n % 100 == 0:
            wrong.append(str(n // 100))  # the percent-rescaling trap: 100 vs 1
    else:
        right += [f"\\frac{{{value.numerator}}}{{{value.denominator}}}", f"{gold}0",
                  f"{value.numerator}/{value.denominator}"]
        step = Fraction(1, 10 ** len(gold.split(".")[1]))
        wrong += [str(float(value + step)), str(float(value * 10)), str(float(-value))]
    return right, wrong


def _perturb(expr: Any) -> list[Any]:
    import sympy

    out = [expr + 1, 2 * expr]
    if expr != 0:
        out.append(-expr)
    return [sympy.simplify(x) if not x.free_symbols else x for x in out]


def _symbolic_variants(gold: str, rng: random.Random) -> tuple[list[str], list[str]]:
    import sympy

    expr = _parse(gold)
    if expr is None:
        return [], []
    if isinstance(expr, sympy.Eq) and not isinstance(expr.rhs, sympy.Expr):  # x \in [a, b]
        return _symbolic_variants(_latex(expr.rhs), rng)
    right: list[str] = []
    wrong: list[str] = []
    if isinstance(expr, sympy.MatrixBase):
        right.append(_latex(expr))
        changed = expr.copy()
        changed[0] = changed[0] + 1
        wrong.append(_latex(changed))
    elif isinstance(expr, sympy.Eq):
        lhs, rhs = expr.lhs, expr.rhs
        right += [_latex(sympy.Eq(sympy.expand(rhs - lhs), 0)), _latex(sympy.Eq(rhs, lhs))]
        if isinstance(lhs, sympy.Symbol) and not rhs.free_symbols:
            right.append(_latex(rhs))
        wrong += [_latex(sympy.Eq(lhs, rhs + 1)), _latex(sympy.Eq(sympy.expand(lhs - rhs + 1), 0))]
    elif isinstance(expr, sympy.Interval):
        right.append(_latex(expr))
        flipped = (sympy.Interval(expr.start, expr.end, not expr.left_open, expr.right_open)
                   if expr.start.is_finite else
                   sympy.Interval(expr.start, expr.end, expr.left_open, not expr.right_open))
        if flipped != expr:
            wrong.append(_latex(flipped))
        if expr.end.is_finite:
            wrong.append(_latex(sympy.Interval(expr.start, expr.end + 1, expr.left_open, expr.right_open)))
    elif isinstance(expr, sympy.Union):
        parts = list(expr.args)
        rng.shuffle(parts)
        right.append(" \\cup ".join(_latex(p) for p in reversed(parts)))
        first = parts[0]
        if isinstance(first, sympy.Interval):
            flipped = (sympy.Interval(first.start, first.end, not first.left_open, first.right_open)
                       if first.start.is_finite else
                       sympy.Interval(first.start, first.end, first.left_open, not first.right_open))
            if flipped != first:  # an infinite end stays open whatever one asks
                wrong.append(" \\cup ".join(_latex(p) for p in [flipped, *parts[1:]]))
    elif isinstance(expr, (sympy.Tuple, sympy.FiniteSet)):
        items = list(getattr(expr, "_unsorted_args", None) or expr.args)
        texts = [_latex(x) for x in items]
        if isinstance(expr, sympy.Tuple):
            right.append("\\left(" + ", ".join(texts) + "\\right)")
            if len(set(texts)) > 1:
                swapped = texts[:]
                i = next(k for k in range(1, len(texts)) if texts[k] != texts[0])
                swapped[0], swapped[i] = swapped[i], swapped[0]
                wrong.append("(" + ", ".join(swapped) + ")")
        else:
            shuffled = texts[:]
            rng.shuffle(shuffled)
            right.append(", ".join(shuffled))
            if len(texts) > 1:
                wrong.append(", ".join(texts[:-1]))
        wrong.append("(" + ", ".join([_latex(items[0] + 1), *texts[1:]]) + ")"
                     if isinstance(expr, sympy.Tuple) else ", ".join([_latex(items[0] + 1), *texts[1:]]))
    elif isinstance(expr, sympy.Expr):
        for form in (expr, sympy.expand(expr), sympy.factor(expr), sympy.together(expr)):
            text = _latex(form)
            if text.replace(" ", "") != gold.replace(" ", "") and text not in right:
                right.append(text)
        if "\\frac" in gold:
            right.append(gold.replace("\\frac", "\\dfrac"))
        if expr.is_Rational and all(p in (2, 5) for p in sympy.factorint(expr.q)):
            right.append(str(float(expr)))  # a terminating decimal
        wrong += [_latex(x) for x in _perturb(expr)]
        wrong += [_latex(x) for x in _typical_mistakes(expr)]
    return right[:4], wrong[:5]


def _typical_mistakes(expr: Any) -> list[Any]:
    """Answers a model gets wrong in typical ways: a dropped pi or radical, a reciprocal, a conjugate,
    a wrong coefficient of a variable."""
    import sympy

    out = []
    if expr.has(sympy.pi):
        out.append(expr.subs(sympy.pi, 1))
    if any(isinstance(a, sympy.Pow) and a.exp == sympy.Rational(1, 2) for a in sympy.preorder_traversal(expr)):
        out.append(sympy.expand(expr**2))
    if expr.is_Rational and expr.q != 1:
        out.append(1 / expr)
    if expr.has(sympy.I):
        out.append(expr.subs(sympy.I, -sympy.I))
    symbols = sorted(expr.free_symbols, key=str)
    if symbols:
        out.append(expr.subs(symbols[0], 2 * symbols[0]))
    return [x for x in out if sympy.simplify(x - expr) != 0]


def _special_variants(gold: str, other_texts: list[str]) -> tuple[list[str], list[str]] | None:
    """Rewrites for golds whose form carries meaning sympy would lose: text, choices, degrees, bases."""
    m = re.fullmatch(r"\\text\{\((\w)\)\}", gold)
    if m:
        letter = m.group(1)
        other = "A" if letter != "A" else "B"
        return [letter, f"({letter})", f"\\textbf{{({letter})}}"], [other, f"({other})"]
    m = re.fullmatch(r"\\text\{(\w+)\}", gold)
    if m:
        word = m.group(1)
        others = [t for t in other_texts if t.lower() != word.lower()]
        return [word, word.capitalize(), f"\\textbf{{{word}}}"], others[:2]
    m = re.fullmatch(r"(\d+)\^\\circ", gold)
    if m:
        n = int(m.group(1))
        return [str(n), f"{n}^{{\\circ}}", f"{n} \\text{{ degrees}}"], [f"{n + 1}^\\circ", str(n + 10)]
    m = re.fullmatch(r"(\d+)_\{?(\d+)\}?", gold)
    if m:
        digits, base = m.groups()
        bumped = str(int(digits) + 1)
        return [f"{digits}_{{{base}}}"], [f"{bumped}_{base}"]
    m = re.fullmatch(r"\\\$(\d+(?:\.\d+)?)", gold)
    if m:
        return [m.group(1), f"\\${m.group(1)}"], [str(float(m.group(1)) + 1)]
    return None


CURATED: list[tuple[str, str, bool]] = [
    # Known false positives from math-verify's issue tracker: a verifier must not call these equal.
    ("\\frac{1}{2004!}", "\\frac{1}{2006!}", False),
    ("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}", False),
    ("1 - \\frac{1}{e}", "1 + \\frac{1}{e}", False),
    ("x + y = 0", "x - y = 0", False),
    ("2x + 4y - 3 = 0", "x + 2y = 0", False),
    ("100", "1", False),
    ("100", "10000", False),
    ("100\\%", "1", False),
    ("\\pm 2021", "2021", False),
    ("n = 2, 3, 4", "n = 1, 2, 3", False),
    ("D = (0, 1)", "D = (0, 1.5)", False),
    ("\\frac{2^{2005}+1}{3 \\cdot 2^{2006}}", "\\frac{1}{3 \\cdot 2^{2006}}", False),
    ("12:00", "1:00", False),
    # Equivalences of each kind the issue asks for, and near misses.
    ("2x+4y-3=0", "y = -\\frac{1}{2}x + \\frac{3}{4}", True),
    ("y = 2x + 1", "2x - y + 1 = 0", True),
    ("x^2 + y^2 = 1", "2x^2 + 2y^2 = 2", True),
    ("y = x", "y = 2x", False),
    ("\\frac{1}{3}", "0.333333", True),
    ("\\frac{1}{3}", "0.33", False),
    ("1 - \\frac{1}{e}", "\\frac{e - 1}{e}", True),
    ("[2, 5)", "[2, 5]", False),
    ("(-\\infty, 1) \\cup (2, \\infty)", "(2, \\infty) \\cup (-\\infty, 1)", True),
    ("\\{1, 2\\}", "\\{2, 1\\}", True),
    ("x > 3", "3 < x", True),
    ("x \\ge 3", "x > 3", False),
    ("x \\ge 3", "[3, \\infty)", True),
    ("1 \\pm \\sqrt{19}", "1 + \\sqrt{19}, 1 - \\sqrt{19}", True),
    ("1 \\pm \\sqrt{19}", "1 + \\sqrt{19}", False),
    ("2\\frac{1}{2}", "\\frac{5}{2}", True),
    ("1.5 \\times 10^{3}", "1500", True),
    ("30^\\circ", "30", True),
    ("\\frac{\\pi}{6}", "30^\\circ", False),
    ("e^{i\\pi}", "-1", True),
    ("\\sqrt{2}", "2^{1/2}", True),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}", False),
    ("\\text{(C)}", "C", True),
    ("\\text{(C)}", "D", False),
]


def generate_cases(data: Path, seed: int = 0) -> list[Case]:
    """Labelled pairs from MATH-500: each gold's rewrites (True) and wrong answers (False), plus `CURATED`."""
    rng = random.Random(seed)
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = sorted({m.group(1) for r in rows if (m := re.fullmatch(r"\\text\{(\w+)\}", r["answer"]))})
    cases: list[Case] = []
    for row in rows:
        gold, solution = row["answer"], row["solution"]
        special = _special_variants(gold, texts)
        if special is not None:
            right, wrong = special
        elif NUMERIC.match(gold):
            right, wrong = _number_variants(gold, rng)
        else:
            right, wrong = _symbolic_variants(gold, rng)
        seen = {gold.replace(" ", "")}
        for answer, label in [(a, True) for a in right] + [(a, False) for a in wrong]:
            if answer.replace(" ", "") in seen:
                continue
            seen.add(answer.replace(" ", ""))
            cases.append(Case(row["unique_id"], gold, answer, _completion(solution, answer, rng), label))
    for gold, answer, label in CURATED:
        cases.append(Case("curated", gold, answer, f"So the final answer is $\\boxed{{{answer}}}$.", label))
    return cases


def _completion(solution: str, answer: str, rng: random.Random) -> str:
    """The reference solution with its last boxed answer replaced; sometimes in "final answer is" form."""
    start = solution.rfind("\\boxed")
    body = solution[:start] if start >= 0 else solution
    if rng.random() < 0.8:
        return f"{body}\\boxed{{{answer}}}$."
    return f"{body.rstrip(' $')}\n\nFinal Answer: The final answer is ${answer}$. I hope it is correct."


def sample_cases(samples: Path, problems: Path | None) -> list[Case]:
    """Unlabelled pairs from a run directory: each sample's completion with its problem's gold."""
    problems = problems or samples.with_name("problems.jsonl")
    golds = {}
    for line in problems.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            golds[row["id"]] = row["answer"]
    cases = []
    for line in samples.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row["problem_id"] in golds:
                cases.append(Case(f"sample:{row['id']}", golds[row["problem_id"]], "", row["completion"], None))
    return cases


# --- running both verifiers -----------------------------------------------------------------------


def theirs_verify(gold: str, completion: str) -> bool:
    """math-verify as documented: parse the gold (wrapped in ``$``), parse the completion, verify."""
    from math_verify import parse, verify

    return bool(verify(parse(f"${gold}$"), parse(completion)))


def _fresh_ours(timeout: float, workers: int) -> Any:
    """A new verifier with its pool started and every cache empty (so repeats measure no cache hits)."""
    from rft.verifiers import latex, math

    latex._read.cache_clear()
    math._gold_forms.cache_clear()
    ours = math.MathVerifier(timeout=timeout, workers=workers, cache_size=0)
    ours.pool.start()
    return ours


def _clear_theirs() -> None:
    from math_verify import parser

    for cached in (parser.parse_latex_cached, parser.parse_expr_cached, parser.extract_latex):
        cached.cache_clear()


def run(cases: list[Case], timeout: float, workers: int, repeats: int) -> dict[str, Any]:
    """Verdicts and per-answer latency (both verifiers in turn on each pair), then throughput per
    kind of gold: best of ``repeats`` timed passes over the group, caches emptied before each."""
    t0 = time.perf_counter()
    ours = _fresh_ours(timeout, workers)
    startup = time.perf_counter() - t0
    warm = [Case("warm", g, a, f"$\\boxed{{{a}}}$", None) for g, a, _ in CURATED]
    for case in warm + cases[:20]:  # warm both (imports, parser caches) outside the measurement
        ours.verify(case.gold, case.completion)
        theirs_verify(case.gold, case.completion)
    for case in cases:
        t = time.perf_counter()
        verdict = ours.verify(case.gold, case.completion)
        case.ours_seconds = time.perf_counter() - t
        case.ours, case.ours_reason = verdict.correct, verdict.reason
        t = time.perf_counter()
        try:
            case.theirs = theirs_verify(case.gold, case.completion)
        except Exception:  # noqa: BLE001 - count a crash as "not verified"
            case.theirs = False
        case.theirs_seconds = time.perf_counter() - t
    ours.close()
    seconds: dict[str, dict[str, float]] = {}
    for kind in ("latex", "numeric"):
        group = [c for c in cases if c.kind == kind]
        best = {"ours": float("inf"), "theirs": float("inf"), "batch": float("inf")}
        for _ in range(repeats if group else 0):
            ours = _fresh_ours(timeout, workers)
            t = time.perf_counter()
            for c in group:
                ours.verify(c.gold, c.completion)
            best["ours"] = min(best["ours"], time.perf_counter() - t)
            ours.close()
            ours = _fresh_ours(timeout, workers)
            t = time.perf_counter()
            ours.verify_batch([c.gold for c in group], [c.completion for c in group])
            best["batch"] = min(best["batch"], time.perf_counter() - t)
            ours.close()
            _clear_theirs()
            t = time.perf_counter()
            for c in group:
                try:
                    theirs_verify(c.gold, c.completion)
                except Exception:  # noqa: BLE001
                    pass
            best["theirs"] = min(best["theirs"], time.perf_counter() - t)
        seconds[kind] = best
    return {"startup_seconds": startup, "seconds": seconds, "repeats": repeats}


# --- hostile inputs -------------------------------------------------------------------------------

HOSTILE = {
    "power tower 9^{9^{9^9}}": ("9", "\\boxed{9^{9^{9^9}}}", False),
    "10k-deep nesting": ("9", "\\boxed{" + "{" * 10_000 + "9" + "}" * 10_000 + "}", False),
    "1 MB answer": ("9", "\\boxed{" + "9+" * 500_000 + "9}", False),
    "\\frac{}{} garbage": ("9", "\\boxed{\\frac{}{}\\frac{}{}}", False),
    "factorial 10^{10}!": ("9", "\\boxed{(10^{10})!}", False),
    "power tower, from a thread": ("9", "\\boxed{9^{9^{9^9}}}", True),
}
"""name -> (gold, completion, verify from a worker thread instead of the main thread)."""


def _theirs_anywhere(gold: str, completion: str) -> str:
    """math-verify's verdict; off the main thread its signal-based timeout cannot work, so it is
    called as its docs advise there: with the timeouts off."""
    from math_verify import parse, verify

    try:
        return str(theirs_verify(gold, completion))
    except ValueError as e:
        if "thread" not in str(e):
            raise
        return "no timeout possible: " + str(verify(parse(f"${gold}$", parsing_timeout=None),
                                                  parse(completion, parsing_timeout=None), timeout_seconds=None))


def _hostile_child(which: str, gold: str, completion: str, timeout: float, in_thread: bool, queue: Any) -> None:
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    if which == "ours":
        from rft.verifiers.math import MathVerifier

        ours = MathVerifier(timeout=timeout, workers=1)
        ours.pool.start()  # start-up is not part of the check

        def check() -> str:
            return ours.verify(gold, completion).reason
    else:
        theirs_verify("1", "\\boxed{1}")  # imports are not part of the check

        def check() -> str:
            return _theirs_anywhere(gold, completion)

    result: list[str] = []

    def run_check() -> None:
        try:
            result.append(check())
        except Exception as e:  # noqa: BLE001
            result.append(type(e).__name__)

    t = time.perf_counter()
    if in_thread:
        thread = threading.Thread(target=run_check, daemon=True)
        thread.start()
        thread.join()
    else:
        run_check()
    seconds = time.perf_counter() - t
    if which == "ours":
        ours.close()
    queue.put((result[0], seconds))


def run_hostile(timeout: float, kill_after: float) -> list[dict[str, Any]]:
    """Each hostile input through each verifier in its own process, killed after ``kill_after`` s."""
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for name, (gold, completion, in_thread) in HOSTILE.items():
        row: dict[str, Any] = {"input": name}
        for which in ("ours", "theirs"):
            queue = ctx.Queue()
            proc = ctx.Process(target=_hostile_child, args=(which, gold, completion, timeout, in_thread, queue))
            proc.start()
            t = time.perf_counter()
            try:
                result, seconds = queue.get(timeout=kill_after + 15)  # + start-up
                row[which] = f"{result} in {seconds:.2f} s"
            except Exception:  # noqa: BLE001 - no answer in time: a hang
                row[which] = f"HANG, killed after {time.perf_counter() - t:.0f} s"
            proc.join(timeout=10)  # let a finished child exit cleanly (and stop its own workers)
            proc.kill()
            proc.join()
        rows.append(row)
    return rows


# --- reporting ------------------------------------------------------------------------------------


def report(cases: list[Case], extra: dict[str, Any], out: Path) -> str:
    lines = []
    n = len(cases)
    agree = sum(c.ours == c.theirs for c in cases)
    lines.append(f"pairs: {n} ({sum(c.label is not None for c in cases)} labelled)")
    lines.append(f"agreement: {agree}/{n} = {agree / n:.1%}")
    labelled = [c for c in cases if c.label is not None]
    if labelled:
        ours_ok = sum(c.ours == c.label for c in labelled)
        theirs_ok = sum(c.theirs == c.label for c in labelled)
        lines.append(f"accuracy on labelled pairs: ours {ours_ok}/{len(labelled)} = {ours_ok / len(labelled):.2%}, "
                     f"math-verify {theirs_ok}/{len(labelled)} = {theirs_ok / len(labelled):.2%}")
        for label in (True, False):
            group = [c for c in labelled if c.label is label]
            lines.append(f"  {'equivalent' if label else 'wrong'} answers ({len(group)}): "
                         f"ours right {sum(c.ours == label for c in group)}, "
                         f"math-verify right {sum(c.theirs == label for c in group)}")
        dis = [c for c in labelled if c.ours != c.theirs]
        lines.append(f"labelled disagreements: {len(dis)}; ours right in {sum(c.ours == c.label for c in dis)}, "
                     f"math-verify right in {sum(c.theirs == c.label for c in dis)}")
    lines.append(f"throughput in answers/second (best of {extra['repeats']} passes, caches emptied before each):")
    for kind, best in extra["seconds"].items():
        group = [c for c in cases if c.kind == kind]
        if group:
            count = len(group)
            lines.append(f"  {kind:7} golds ({count:4}): ours {count / best['ours']:,.0f}/s one at a time "
                         f"({best['theirs'] / best['ours']:.1f}x math-verify's {count / best['theirs']:,.0f}/s), "
                         f"ours verify_batch {count / best['batch']:,.0f}/s")
    lines.append(f"  (our worker pool start, not counted: {extra['startup_seconds']:.2f} s)")
    for attr, who in (("ours_seconds", "ours"), ("theirs_seconds", "math-verify")):
        times = sorted(getattr(c, attr) for c in cases)
        lines.append(f"latency {who}: median {statistics.median(times) * 1e3:.2f} ms, "
                     f"p99 {times[int(0.99 * (n - 1))] * 1e3:.1f} ms, worst {times[-1] * 1e3:.0f} ms")
    timeouts = sum(c.ours_reason == "timeout" for c in cases)
    lines.append(f"our timeouts: {timeouts}")
    if extra.get("hostile"):
        lines.append("hostile inputs (each in a subprocess):")
        for row in extra["hostile"]:
            lines.append(f"  {row['input']:28} ours: {row['ours']:26} math-verify: {row['theirs']}")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "disagreements.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for c in cases:
            if c.ours != c.theirs:
                row = asdict(c)
                row["completion"] = row["completion"][-300:]
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    lines.append(f"disagreements written to {path}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MATH-500 JSONL (problem/solution/answer)")
    parser.add_argument("--samples", type=Path, help="a run's samples.jsonl (real completions, unlabelled)")
    parser.add_argument("--problems", type=Path, help="the run's problems.jsonl (default: next to --samples)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "rft-verifier-bench")
    parser.add_argument("--timeout", type=float, default=5.0, help="our per-check time limit, seconds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per group; the best counts")
    parser.add_argument("--limit", type=int, help="use only the first N pairs")
    parser.add_argument("--kill-after", type=float, default=20.0, help="hostile inputs: hang limit, seconds")
    parser.add_argument("--skip-hostile", action="store_true")
    args = parser.parse_args(argv)
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # it logs whole hostile inputs
    try:
        import math_verify  # noqa: F401
    except ImportError:
        sys.exit("math-verify is not installed; install it with: pip install 'rftkit[bench]'")
    if not args.data.is_file():
        sys.exit(f"data file not found: {args.data}; pass --data PATH to MATH-500's test.jsonl")
    cases = generate_cases(args.data)
    if args.samples:
        cases += sample_cases(args.samples, args.problems)
    if args.limit:
        cases = cases[: args.limit]
    extra = run(cases, args.timeout, args.workers, args.repeats)
    if not args.skip_hostile:
        extra["hostile"] = run_hostile(args.timeout, args.kill_after)
    print(report(cases, extra, args.out))


if __name__ == "__main__":
    main()
