"""The ``math`` verifier: every equivalence class with positive and negative cases, the known false
positives of math-verify, extraction, hostile inputs under the time limit, threads, batches, workers."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from rft.errors import RftError
from rft.records import Verdict
from rft.verifiers.latex import cheap_equal, clean, extract_answer
from rft.verifiers.math import MathVerifier

TIMEOUT = 2.0
SLACK = 3.0  # killing a worker and process scheduling on a busy machine

# (gold, predicted answer, expected, source). The answer is put in a \boxed{} of a short completion.
CASES: list[tuple[str, str, bool, str]] = [
    # fractions
    ("\\frac{1}{2}", "\\frac12", True, "fraction"),
    ("\\frac{1}{2}", "\\dfrac{1}{2}", True, "fraction"),
    ("\\frac{1}{2}", "1/2", True, "fraction"),
    ("\\frac{1}{2}", "0.5", True, "fraction"),
    ("\\frac{3}{4}", "\\tfrac34", True, "fraction"),
    ("\\frac{1}{2}", "\\frac{2}{1}", False, "fraction"),
    ("\\frac{3}{4}", "\\frac{3}{5}", False, "fraction"),
    ("\\frac{11+9a}{20}", "\\frac{11}{20} + \\frac{9a}{20}", True, "fraction"),
    ("\\frac{11+9a}{20}", "\\frac{11+9a}{21}", False, "fraction"),
    # radicals
    ("3\\sqrt{13}", "\\sqrt{117}", True, "radical"),
    ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}", True, "radical"),
    ("11\\sqrt2", "11 \\sqrt{2}", True, "radical"),
    ("\\sqrt[3]{8}", "2", True, "radical"),
    ("3\\sqrt{13}", "3\\sqrt{14}", False, "radical"),
    ("\\sqrt{2}", "2^{1/3}", False, "radical"),
    # pi, e, i
    ("12\\pi", "12 \\pi", True, "pi"),
    ("18+2\\pi", "2(9+\\pi)", True, "pi"),
    ("\\pi", "3.14", False, "pi"),
    ("1 - \\frac{1}{e}", "\\frac{e-1}{e}", True, "e"),
    ("e^{2}", "e \\cdot e", True, "e"),
    ("e^{2}", "2e", False, "e"),
    ("6 - 5i", "-5i + 6", True, "i"),
    ("1+2i", "(1+i)^2 + 1", True, "i"),
    ("e^{i\\pi}", "-1", True, "i"),
    ("6 - 5i", "6 + 5i", False, "i"),
    ("1+2i", "1+2", False, "i"),
    # exponents and scientific notation
    ("2^{10}", "1024", True, "exponent"),
    ("2^{10}", "2^{11}", False, "exponent"),
    ("1.5 \\times 10^{3}", "1500", True, "scientific"),
    ("1500", "1.5e3", True, "scientific"),
    (".0000672", "6.72 \\times 10^{-5}", True, "scientific"),
    ("1500", "1.5 \\times 10^{4}", False, "scientific"),
    # decimals
    ("1.25", "\\frac{5}{4}", True, "decimal"),
    ("\\frac{1}{3}", "0.333333", True, "decimal"),
    ("\\frac{1}{3}", "0.33", False, "decimal"),
    ("3.21", "3.2", False, "decimal"),
    # percentages and degrees
    ("50\\%", "50", True, "percent"),
    ("50", "50\\%", True, "percent"),
    ("50\\%", "0.5", False, "percent"),
    ("90^\\circ", "90", True, "degrees"),
    ("30^\\circ", "30^{\\circ}", True, "degrees"),
    ("90^\\circ", "91^\\circ", False, "degrees"),
    ("\\frac{\\pi}{6}", "30^\\circ", False, "degrees"),
    # mixed numbers
    ("2\\frac{1}{2}", "\\frac{5}{2}", True, "mixed number"),
    ("1\\frac{4}{5}", "1.8", True, "mixed number"),
    ("137 \\frac{1}{2}", "137.5", True, "mixed number"),
    ("2\\frac{1}{2}", "1", False, "mixed number"),
    # units, thousands separators, dollars, "x ="
    ("864 \\mbox{ inches}^2", "864", True, "units"),
    ("5", "5 \\text{ cm}", True, "units"),
    ("12", "12 apples", True, "units"),
    ("5", "6 \\text{ cm}", False, "units"),
    ("10,\\!080", "10080", True, "thousands"),
    ("10080", "10,080", True, "thousands"),
    ("10080", "10,081", False, "thousands"),
    ("\\$32,\\!348", "32348", True, "dollars"),
    ("\\$18.90", "\\$18.9", True, "dollars"),
    ("\\$18.90", "18.91", False, "dollars"),
    ("x=5", "5", True, "assignment"),
    ("5", "x = 5", True, "assignment"),
    ("5", "x = 6", False, "assignment"),
    # tuples and points
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)", True, "tuple"),
    ("(6,31,-1)", "\\left(6, 31, -1\\right)", True, "tuple"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(\\frac{\\pi}{2}, 3)", False, "tuple"),
    ("(6,31,-1)", "(6,31,1)", False, "tuple"),
    ("(15,-29)", "(15,-29,0)", False, "tuple"),
    # intervals and unions
    ("(2,\\infty)", "(2, \\infty)", True, "interval"),
    ("\\left(\\frac{3}{5},\\frac{8}{3}\\right]", "(0.6, \\frac83]", True, "interval"),
    ("[2, 5)", "[2, 5]", False, "interval"),
    ("(-\\infty, 0]", "(-\\infty, 0)", False, "interval"),
    ("(-\\infty, 2) \\cup (3, \\infty)", "(3, \\infty) \\cup (-\\infty, 2)", True, "union"),
    ("(0,9) \\cup (9,36)", "(0, 9) \\cup (9, 36)", True, "union"),
    ("(-\\infty, 2) \\cup (3, \\infty)", "(-\\infty, 2] \\cup (3, \\infty)", False, "union"),
    ("(0,9) \\cup (9,36)", "(0, 36)", False, "union"),
    # sets and several answers in any order
    ("\\{1, 2, 3\\}", "\\{3, 1, 2\\}", True, "set"),
    ("\\{1\\pm\\sqrt{5},-2\\}", "-2, 1 + \\sqrt{5}, 1 - \\sqrt{5}", True, "set"),
    ("\\{1, 2, 3\\}", "\\{1, 2\\}", False, "set"),
    ("2, 3", "3, 2", True, "multiple answers"),
    ("3, 5, 7", "7, 3, 5", True, "multiple answers"),
    ("1,-2", "x = -2 \\text{ or } x = 1", True, "multiple answers"),
    ("2, 3", "2, 4", False, "multiple answers"),
    ("3, 5, 7", "3, 5", False, "multiple answers"),
    # plus-minus
    ("1 \\pm \\sqrt{19}", "1 + \\sqrt{19}, 1 - \\sqrt{19}", True, "plus-minus"),
    ("3 \\pm 2 \\sqrt{2}", "3 - 2\\sqrt{2}, 3 + 2\\sqrt{2}", True, "plus-minus"),
    ("1 \\pm \\sqrt{19}", "1 + \\sqrt{19}", False, "plus-minus"),
    ("\\pm 2021", "2021", False, "plus-minus (math-verify #14)"),
    # matrices and vectors
    ("\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}",
     "\\begin{pmatrix} -\\frac13 \\\\ \\frac23 \\\\ \\frac53 \\end{pmatrix}", True, "matrix"),
    ("\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", "\\begin{bmatrix} -1 & 0 \\\\ 0 & -1 \\end{bmatrix}", True,
     "matrix"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(1, 2)", True, "vector"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(2, 1)", False, "vector"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}", False, "matrix"),
    ("\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", "\\begin{pmatrix} -1 & 0 & 0 & -1 \\end{pmatrix}", False,
     "matrix"),
    # equations
    ("y = 2x + 1", "2x - y + 1 = 0", True, "equation"),
    ("5x - 7y + 11z + 4 = 0", "-5x + 7y - 11z = 4", True, "equation"),
    ("2x+4y-3=0", "y = -\\frac{1}{2}x + \\frac{3}{4}", True, "equation (math-verify #26)"),
    ("y = 2x + 3", "2x + 3", True, "equation"),
    ("y = 2x + 1", "y = 2x - 1", False, "equation"),
    ("x + y = 0", "x - y = 0", False, "equation: both reduce to 0"),
    ("2x + 4y - 3 = 0", "x + 2y = 0", False, "equation: both reduce to 0"),
    ("y = -2x", "y = 2x", False, "equation"),
    # inequalities
    ("x > 3", "3 < x", True, "inequality"),
    ("x \\ge 3", "[3, \\infty)", True, "inequality"),
    ("x \\le 3", "-x \\geq -3", True, "inequality"),
    ("x \\ge 3", "x > 3", False, "inequality"),
    ("x > 3", "x < 3", False, "inequality"),
    ("x \\in [-2,7]", "[-2, 7]", True, "inequality"),
    # polynomials and symbolic expressions
    ("x^5 - x^4 + x^3 - x^2 + x - 1", "(x-1)(x^4+x^2+1)", True, "polynomial"),
    ("(a+5)(b+2)", "ab + 2a + 5b + 10", True, "polynomial"),
    ("p - q", "-q + p", True, "symbolic"),
    ("\\cot x", "\\frac{\\cos x}{\\sin x}", True, "symbolic"),
    ("1", "\\sin^2 x + \\cos^2 x", True, "symbolic"),
    ("x^5 - x^4 + x^3 - x^2 + x - 1", "x^5 - x^4 + x^3 - x^2 + x + 1", False, "polynomial"),
    ("(a+5)(b+2)", "(a+2)(b+5)", False, "polynomial"),
    ("\\cot x", "\\tan x", False, "symbolic"),
    # text answers and multiple choice
    ("\\text{Evelyn}", "Evelyn", True, "text"),
    ("\\text{east}", "\\text{East}", True, "text"),
    ("\\text{Evelyn}", "\\text{Nevely}", False, "text"),
    ("\\text{even}", "\\text{odd}", False, "text"),
    ("\\text{(C)}", "C", True, "choice"),
    ("\\text{(C)}", "\\textbf{(C)}", True, "choice"),
    ("\\text{(C)}", "(D)", False, "choice"),
    # base-n numbers are compared as written
    ("52_8", "52_{8}", True, "base"),
    ("52_8", "52", False, "base"),
    # known false positives from math-verify's issue tracker (#14 and the percent rescaling)
    ("\\frac{1}{2004!}", "\\frac{1}{2006!}", False, "math-verify #14"),
    ("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}", False, "math-verify #14"),
    ("1 - \\frac{1}{\\mathrm{e}}", "1 + \\frac{1}{\\mathrm{e}}", False, "math-verify #14"),
    ("\\frac{2^{2005}+1}{3 \\cdot 2^{2006}}", "\\frac{1}{3 \\cdot 2^{2006}}", False, "math-verify #14"),
    ("D = (0, 1)", "D = (0, 1.5)", False, "math-verify #14"),
    ("12:00", "1:00", False, "math-verify #14"),
    ("100", "1", False, "percent rescaling"),
    ("100", "10000", False, "percent rescaling"),
    ("100\\%", "1", False, "percent rescaling"),
    ("2^{100}", "2^{100} + 1", False, "big numbers"),
    ("x + 2^{100}", "x + 2^{100} + 1", False, "big numbers"),
    ("1 + 10^{-45}", "1", False, "big numbers"),
    ("\\frac{1}{2004!}", "\\frac{2005 \\cdot 2006}{2006!}", True, "big numbers"),
]


@pytest.fixture(scope="module")
def verifier():
    v = MathVerifier(timeout=TIMEOUT, workers=2)
    yield v
    v.close()


@pytest.mark.parametrize("gold,pred,expected,source", CASES, ids=[f"{c[3]}:{c[0]}|{c[1]}" for c in CASES])
def test_equivalence_table(verifier: MathVerifier, gold: str, pred: str, expected: bool, source: str) -> None:
    verdict = verifier.verify(gold, f"Working... so the answer is $\\boxed{{{pred}}}$.")
    assert verdict.correct is expected, (source, verdict)
    assert verdict.reason == ("match" if expected else "mismatch")


REQUIRED_CLASSES = {
    "fraction", "radical", "pi", "e", "i", "exponent", "scientific", "decimal", "percent", "degrees",
    "mixed number", "units", "thousands", "dollars", "assignment", "tuple", "interval", "union", "set",
    "multiple answers", "plus-minus", "matrix", "vector", "equation", "inequality", "polynomial", "symbolic",
    "text", "choice", "base",
}


def test_every_class_has_positive_and_negative_cases() -> None:
    def kind(source: str) -> str:
        return source.split(" (")[0].split(":")[0]

    outcomes = {k: {c[2] for c in CASES if kind(c[3]) == k} for k in REQUIRED_CLASSES}
    assert {k: v for k, v in outcomes.items() if v != {True, False}} == {}


@pytest.mark.parametrize("text,expected", [
    ("so $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
    ("nested \\boxed{\\frac{\\sqrt{3}}{\\left(2\\right)}} done", "\\frac{\\sqrt{3}}{\\left(2\\right)}"),
    ("an \\fbox{7} here", "7"),
    ("first \\boxed{1}, finally \\boxed{2}", "2"),
    ("\\boxed 5", "5"),
    ("Final Answer: The final answer is $7$. I hope it is correct.", "7"),
    ("The final answer is 42.", "42"),
    ("<think>...</think><answer>12</answer>", "12"),
    ("<answer>$x = 3$</answer>", "x = 3"),
    ("First $\\boxed{2}$, but then the answer is $3$.", "3"),
    ("\\boxed{5}. The answer is correct because it works.", "5"),
    ("so we conclude $x = \\frac{3}{4}$", "x = \\frac{3}{4}"),
    ("no answer at all", None),
    ("a $2$ in the middle and text after", None),
])
def test_extraction(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize("raw,cleaned", [
    ("\\left( 3, \\dfrac{\\pi}{2} \\right)", "(3, \\frac{\\pi}{2})"),
    ("\\$32,\\!348", "32348"),
    ("5.4 \\text{ cents}", "5.4"),
    ("90^\\circ", "90"),
    ("50\\%", "50"),
    ("\\frac 59", "\\frac{5}{9}"),
    ("\\sqrt2", "\\sqrt{2}"),
    ("x = 2 \\text{ or } x = 3", "x = 2, x = 3"),
    ("4210_{5}", "4210_5"),
    ("\\text{Evelyn}", "Evelyn"),
    ("5!", "5!"),
])
def test_clean(raw: str, cleaned: str) -> None:
    assert clean(raw) == cleaned


def test_cheap_stage_decides_plain_answers_without_workers() -> None:
    v = MathVerifier(timeout=TIMEOUT)
    golds = ["18", "\\frac{1}{2}", "3\\sqrt{13}", "(1, 2)", "\\text{Evelyn}", "6 - 5i", "x^2 + 2x + 1"]
    preds = ["18.0", "0.5", "\\sqrt{117}", "(1,2)", "Evelyn", "6-5i", "(x+1)^2"]
    verdicts = v.verify_batch(golds, [f"\\boxed{{{p}}}" for p in preds])
    assert all(x.correct for x in verdicts)
    assert v._pool is None  # creating the verifier and deciding these started no process
    assert cheap_equal("1 \\pm \\sqrt{19}", "1 + \\sqrt{19}, 1 - \\sqrt{19}") is None  # left to sympy


def test_verdict_reasons(verifier: MathVerifier) -> None:
    assert verifier.verify("5", "I give up.") == Verdict(False, None, "no_answer", "math", "1")
    assert verifier.verify("", "\\boxed{5}").reason == "gold_unparseable"
    assert verifier.verify("\\frac{}{}", "\\boxed{\\sqrt{x}}").reason == "gold_unparseable"
    assert verifier.verify("\\frac{}{}", "\\boxed{\\frac{}{}}").reason == "match"  # same text is the same answer
    bad = verifier.verify("5", "\\boxed{\\frac{}{}}")
    assert (bad.correct, bad.reason) == (False, "unparseable")
    assert verifier.verify("5", "\\boxed{5}").extracted == "5"


HOSTILE = {
    "power tower": "\\boxed{9^{9^{9^9}}}",
    "10k-deep nesting": "\\boxed{" + "{" * 10_000 + "9" + "}" * 10_000 + "}",
    "10k-deep parentheses": "\\boxed{" + "(" * 10_000 + "9" + ")" * 10_000 + "}",
    "1 MB answer": "\\boxed{" + "9+" * 500_000 + "9}",
    "1 MB of text, no answer": "blah " * 200_000,
    "empty fraction": "\\boxed{\\frac{}{}}",
    "unbalanced": "\\boxed{\\frac{1}{" + "\\sqrt{" * 40,
    "huge factorial": "\\boxed{(10^{10})!}",
    "huge exponent literal": "\\boxed{1e999999999}",
    "many digits": "\\boxed{" + "9" * 100_000 + "}",
    "20k opening answer tags": "<answer>" * 20_000,
    "20k unclosed boxes": "\\boxed{" * 20_000,
    "20k answer phrases": "the answer is correct. " * 20_000,
    "200k blank lines": "answer" + "\n" * 200_000 + "answer",
    "long unit tail": "\\boxed{5" + " m" * 900 + "!}",
}


@pytest.fixture(scope="module")
def fast_verifier():
    v = MathVerifier(timeout=1.0, workers=2)
    v.pool.start()  # start and warm the workers outside the timed checks
    yield v
    v.close()


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_inputs_return_within_the_limit(fast_verifier: MathVerifier, name: str) -> None:
    start = time.monotonic()
    verdict = fast_verifier.verify("9", HOSTILE[name])
    elapsed = time.monotonic() - start
    assert verdict.correct is False
    assert verdict.reason in {"timeout", "unparseable", "mismatch", "no_answer"}
    assert elapsed < fast_verifier.timeout + SLACK, (name, elapsed)
    assert fast_verifier.verify("1 \\pm \\sqrt{2}", "\\boxed{1-\\sqrt{2}, 1+\\sqrt{2}}").correct  # the run goes on


def test_power_tower_times_out(fast_verifier: MathVerifier) -> None:
    assert fast_verifier.verify("9", HOSTILE["power tower"]).reason == "timeout"


def test_timeout_works_from_threads(fast_verifier: MathVerifier) -> None:
    results: dict[int, Verdict] = {}

    def check(i: int) -> None:
        results[i] = fast_verifier.verify("9", HOSTILE["power tower"] if i == 0 else "\\boxed{\\sqrt{81}}")

    start = time.monotonic()
    threads = [threading.Thread(target=check, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=fast_verifier.timeout + 2 * SLACK)
    assert time.monotonic() - start < fast_verifier.timeout + 2 * SLACK
    assert results[0].reason == "timeout"
    assert results[1].correct and results[2].correct


def test_batch_is_parallel_ordered_and_deduplicated() -> None:
    v = MathVerifier(timeout=1.5, workers=2)
    try:
        v.pool.start()  # both workers up before the clock starts
        golds = ["1 \\pm \\sqrt{2}", "1 \\pm \\sqrt{2}", "7", "1 \\pm \\sqrt{2}", "9", "9"]
        answers = ["\\boxed{1+\\sqrt{2}, 1-\\sqrt{2}}", "\\boxed{1+\\sqrt{2}}", "\\boxed{7}",
                   "\\boxed{1+\\sqrt{2}, 1-\\sqrt{2}}", HOSTILE["power tower"], "\\boxed{9^{9^{9^{8}}}}"]
        start = time.monotonic()
        verdicts = v.verify_batch(golds, answers)
        elapsed = time.monotonic() - start
        assert [x.reason for x in verdicts] == ["match", "mismatch", "match", "match", "timeout", "timeout"]
        assert elapsed < 2 * v.timeout  # the two timeouts ran side by side, not one after the other
        with pytest.raises(ValueError):
            v.verify_batch(["1", "2"], ["\\boxed{1}"])
    finally:
        v.close()


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to see processes")
def test_workers_start_lazily_and_close_leaves_none() -> None:
    v = MathVerifier(timeout=TIMEOUT, workers=2)
    assert v._pool is None
    v.verify_batch(["1 \\pm 1", "2 \\pm 1"], ["\\boxed{0, 2}", "\\boxed{1, 3}"])
    pids = v.pool.pids
    assert pids and all(_alive(p) for p in pids)
    v.close()
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)
    assert v.verify("1 \\pm 1", "\\boxed{2, 0}").correct  # usable again: the pool restarts lazily
    v.close()


def test_math500_reference_solutions_verify(math500: Path) -> None:
    from rft.tasks.math import MathTask

    problems = list(MathTask(data=str(math500)).problems())
    v = MathVerifier(timeout=TIMEOUT)
    try:
        verdicts = v.verify_batch([p.answer for p in problems], [p.metadata["solution"] for p in problems])
    finally:
        v.close()
    assert [p.id for p, x in zip(problems, verdicts) if not x.correct] == []


def test_worker_count_default_is_small() -> None:
    assert 1 <= MathVerifier().workers <= min(4, os.cpu_count() or 1)


@pytest.mark.parametrize("kwargs", [{"timeout": 0}, {"timeout": "soon"}, {"workers": 0}, {"workers": 1.5}])
def test_bad_arguments_are_user_errors(kwargs: dict) -> None:
    with pytest.raises(RftError, match="math verifier: "):
        MathVerifier(**kwargs)
