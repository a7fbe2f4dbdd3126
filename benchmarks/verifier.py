"""Benchmark: the ``math`` verifier against Hugging Face's math-verify on the same inputs, in one run.

Inputs: every MATH-500 gold answer paired with equivalent rewrites and wrong answers that this script
generates (so each pair has a known label), placed in the problem's reference solution where its
``\\boxed{}`` was; a few known traps from math-verify's issue tracker; and optionally real model
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
import multiprocessing
import os
import random
import re
import statistics
import sys
import tempfile
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
        wrong.append(_latex(sympy.Interval(expr.start, expr.end, not expr.left_open, expr.right_open)))
        if expr.end.is_finite:
            wrong.append(_latex(sympy.Interval(expr.start, expr.end + 1, expr.left_open, expr.right_open)))
    elif isinstance(expr, sympy.Union):
        parts = list(expr.args)
        rng.shuffle(parts)
        right.append(" \\cup ".join(_latex(p) for p in reversed(parts)))
        first = parts[0]
        if isinstance(first, sympy.Interval):
            flipped = sympy.Interval(first.start, first.end, not first.left_open, first.right_open)
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
        wrong += [_latex(x) for x in _perturb(expr)]
    return right[:3], wrong[:3]


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


TRAPS: list[tuple[str, str, bool]] = [
    # From math-verify's issue tracker: pairs a verifier must not call equal, and a few it must.
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
    ("2x+4y-3=0", "y = -\\frac{1}{2}x + \\frac{3}{4}", True),
    ("y = 2x + 1", "2x - y + 1 = 0", True),
    ("\\frac{1}{3}", "0.333333", True),
    ("1 - \\frac{1}{e}", "\\frac{e - 1}{e}", True),
]


def generate_cases(data: Path, seed: int = 0) -> list[Case]:
    """Labelled pairs from MATH-500: each gold's rewrites (True) and wrong answers (False), plus traps."""
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
    for gold, answer, label in TRAPS:
        cases.append(Case("trap", gold, answer, f"So the final answer is $\\boxed{{{answer}}}$.", label))
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


def run(cases: list[Case], timeout: float, workers: int) -> dict[str, Any]:
    from rft.verifiers.math import MathVerifier

    ours = MathVerifier(timeout=timeout, workers=workers, cache_size=0)
    t0 = time.perf_counter()
    ours.verify("\\frac{1}{2}", "\\boxed{\\sqrt{1/4}}")  # starts the worker pool
    startup = time.perf_counter() - t0
    for case in cases[:20]:  # warm both (imports, parser caches) outside the measurement
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
    t = time.perf_counter()
    ours.verify_batch([c.gold for c in cases], [c.completion for c in cases])
    batch_seconds = time.perf_counter() - t
    ours.close()
    return {"startup_seconds": startup, "batch_seconds": batch_seconds}


# --- hostile inputs -------------------------------------------------------------------------------

HOSTILE = {
    "power tower 9^{9^{9^9}}": ("9", "\\boxed{9^{9^{9^9}}}"),
    "10k-deep nesting": ("9", "\\boxed{" + "{" * 10_000 + "9" + "}" * 10_000 + "}"),
    "1 MB answer": ("9", "\\boxed{" + "9+" * 500_000 + "9}"),
    "\\frac{}{} garbage": ("9", "\\boxed{\\frac{}{}\\frac{}{}}"),
    "factorial 10^{10}!": ("9", "\\boxed{(10^{10})!}"),
}


def _hostile_child(which: str, gold: str, completion: str, timeout: float, queue: Any) -> None:
    t = time.perf_counter()
    if which == "ours":
        from rft.verifiers.math import MathVerifier

        v = MathVerifier(timeout=timeout, workers=1)
        v.verify("1", "\\boxed{\\sqrt{1}}")
        t = time.perf_counter()
        result = v.verify(gold, completion).reason
        v.close()
    else:
        theirs_verify("1", "\\boxed{1}")
        t = time.perf_counter()
        try:
            result = str(theirs_verify(gold, completion))
        except BaseException as e:  # noqa: BLE001
            result = type(e).__name__
    queue.put((result, time.perf_counter() - t))


def run_hostile(timeout: float, kill_after: float) -> list[dict[str, Any]]:
    """Each hostile input through each verifier in its own process, killed after ``kill_after`` s."""
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for name, (gold, completion) in HOSTILE.items():
        row: dict[str, Any] = {"input": name}
        for which in ("ours", "theirs"):
            queue = ctx.Queue()
            proc = ctx.Process(target=_hostile_child, args=(which, gold, completion, timeout, queue))
            proc.start()
            t = time.perf_counter()
            try:
                result, seconds = queue.get(timeout=kill_after + 10)  # + start-up
            except Exception:  # noqa: BLE001 - no answer in time: a hang
                result, seconds = "HANG (killed)", time.perf_counter() - t
            proc.kill()
            proc.join()
            row[which] = f"{result} in {seconds:.2f} s"
        rows.append(row)
    return rows


# --- reporting ------------------------------------------------------------------------------------


def _rate(cases: list[Case], attr: str) -> str:
    total = sum(getattr(c, attr) for c in cases)
    return f"{len(cases) / total:,.0f}/s" if total else "-"


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
    lines.append("throughput, one call at a time (answers/second):")
    for kind in ("latex", "numeric"):
        group = [c for c in cases if c.kind == kind]
        if group:
            ours_rate = sum(c.theirs_seconds for c in group) / max(sum(c.ours_seconds for c in group), 1e-9)
            lines.append(f"  {kind:7} golds ({len(group):4}): ours {_rate(group, 'ours_seconds')}, "
                         f"math-verify {_rate(group, 'theirs_seconds')}  -> ours {ours_rate:.1f}x")
    lines.append(f"  ours verify_batch over all {n}: {n / extra['batch_seconds']:,.0f}/s "
                 f"(worker pool start: {extra['startup_seconds']:.2f} s, not counted above)")
    for attr, who in (("ours_seconds", "ours"), ("theirs_seconds", "math-verify")):
        times = sorted(getattr(c, attr) for c in cases)
        lines.append(f"latency {who}: median {statistics.median(times) * 1e3:.2f} ms, "
                     f"p99 {times[int(0.99 * (n - 1))] * 1e3:.1f} ms, worst {times[-1] * 1e3:.0f} ms")
    timeouts = sum(c.ours_reason == "timeout" for c in cases)
    lines.append(f"our timeouts: {timeouts}")
    if extra.get("hostile"):
        lines.append("hostile inputs (each in a subprocess):")
        for row in extra["hostile"]:
            lines.append(f"  {row['input']:28} ours: {row['ours']:32} math-verify: {row['theirs']}")
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
    parser.add_argument("--limit", type=int, help="use only the first N pairs")
    parser.add_argument("--kill-after", type=float, default=20.0, help="hostile inputs: hang limit, seconds")
    parser.add_argument("--skip-hostile", action="store_true")
    args = parser.parse_args(argv)
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
    extra = run(cases, args.timeout, args.workers)
    if not args.skip_hostile:
        extra["hostile"] = run_hostile(args.timeout, args.kill_after)
    print(report(cases, extra, args.out))


if __name__ == "__main__":
    main()
