"""Find the arithmetic claims in a reasoning path and recompute them with a safe evaluator.

`extract_calculations` finds every claim of the form ``a op b = c`` in model text: inline claims
(``3 × $4 = $12``, ``1,200 / 4 = 300``), chains (``3 * 4 = 12 + 1 = 13`` is read as ``3*4=12`` and
``12+1=13``) and GSM8K annotations (``<<48/2=24>>``). Each claim is recomputed by `evaluate`, which
parses with `ast` and accepts only numbers, parentheses and ``+ - * / **`` within size limits: model
text is never passed to ``eval``. A claimed result written with ``d`` decimals is accepted when it is
within ``10**-d`` of the exact value (``10 / 3 = 3.33``, ``7 / 2 = 3`` pass; ``7 * 3 = 20`` fails).
Claims the extractor cannot read safely (``3x + 2 = 11``, ``Day 1 = 5``) are skipped, never
guessed, so a correct path is not rejected for notation.

    >>> [c.normalized for c in extract_calculations("She sold 48 / 2 = <<48/2=24>>24 clips.")]
    ['48/2=24']
    >>> extract_calculations("So 3 * 4 = 13 apples.")[0].correct
    False
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

from rft.errors import RftError

MAX_EXPRESSION_CHARS = 200
MAX_LITERAL_DIGITS = 40
MAX_RESULT_BITS = 4096


class CalcError(RftError, ValueError):
    """An expression the safe evaluator refuses (not arithmetic, too large, division by zero)."""


@dataclass(frozen=True)
class Calculation:
    """One arithmetic claim found in a path.

    Args:
        expression: The computed side, normalised (``"1200*2"``: no spaces, ``$`` or commas, ``*`` and ``/``).
        claimed: The claimed result, normalised the same way (a number, or an expression in ``a = b`` chains).
        correct: Whether the claim holds; None when it could not be evaluated (it is then not held against the path).
        source: ``"inline"`` or ``"annotation"`` (``<<...>>``).
    """

    expression: str
    claimed: str
    correct: bool | None
    source: str = "inline"
    normalized: str = field(init=False, repr=False, compare=False)
    """``expression=claimed``, the form used in equation signatures."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "normalized", f"{self.expression}={self.claimed}")


# ---------------------------------------------------------------------------------------------
# Safe evaluation
# ---------------------------------------------------------------------------------------------

_LITERAL = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)


def to_python(expression: str) -> str:
    """Rewrite human arithmetic notation as a Python expression (``$1,200 × 2`` -> ``1200*2``).

    ``x``/``×``/``·``/``\\times``/``\\cdot`` become ``*``, ``÷``/``\\div`` become ``/``, ``^`` becomes ``**``,
    ``−`` becomes ``-``; ``$``, thousands commas and spaces are dropped; ``20%`` becomes ``(20/100)``.
    """
    s = (expression.replace("\\times", "*").replace("\\cdot", "*").replace("\\div", "/")
         .replace("\\$", "").replace("\\%", "%"))
    s = s.translate(_TRANSLATE)
    s = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), s)
    s = s.replace(" ", "").replace("^", "**")
    return _PERCENT.sub(r"(\1/100)", s) if "%" in s else s


_TRANSLATE = str.maketrans({"×": "*", "x": "*", "X": "*", "·": "*", "÷": "/", "−": "-", "$": None,
                            "\t": " ", "\n": " "})
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?|\.\d+)%")


def evaluate(expression: str) -> Fraction:
    """The exact value of an arithmetic expression in human or Python notation.

    Only numbers, parentheses, unary ``+``/``-`` and ``+ - * / **`` (also ``x × ÷ ^``) are allowed.
    Refuses, with `CalcError` and without computing anything large: names, calls, attribute
    access, expressions over 200 characters, literals over 40 digits, and powers whose result
    would exceed 4096 bits.

    Example:
        >>> evaluate("$1,200 × 2 + 3^2")
        Fraction(2409, 1)
        >>> try:
        ...     evaluate("__import__('os')")
        ... except CalcError as e:
        ...     print(e)
        not arithmetic: Call
    """
    return _evaluate_python(to_python(expression))


@lru_cache(maxsize=1 << 16)
def _evaluate_python(src: str) -> Fraction:
    if len(src) > MAX_EXPRESSION_CHARS:
        raise CalcError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "invalid decimal literal" for "1if1"
            tree = ast.parse(src, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise CalcError(f"not an arithmetic expression: {type(e).__name__}") from None
    return _eval_node(tree.body, src)


def _eval_node(node: ast.AST, src: str) -> Fraction:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        text = ast.get_source_segment(src, node) or ""
        if not _LITERAL.fullmatch(text) or len(text) > MAX_LITERAL_DIGITS:
            raise CalcError(f"unsupported number literal {text[:20]!r}")
        return Fraction(text)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _eval_node(node.operand, src)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, _BINOPS):
        left, right = _eval_node(node.left, src), _eval_node(node.right, src)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            if right == 0:
                raise CalcError("division by zero")
            return left / right
        return _power(left, right)
    raise CalcError(f"not arithmetic: {type(node).__name__}")


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    """``base ** exponent`` if its size stays within `MAX_RESULT_BITS`, checked before computing."""
    if exponent.denominator == 1:
        e = abs(exponent.numerator)
        size = max(base.numerator.bit_length(), base.denominator.bit_length())
        if e > MAX_RESULT_BITS or (size > 1 and e * size > MAX_RESULT_BITS):
            raise CalcError("power too large")
        if base == 0 and exponent < 0:
            raise CalcError("division by zero")
        return base ** exponent.numerator
    if base < 0 or abs(exponent) > 64 or abs(base) > 2**64:
        raise CalcError("unsupported fractional power")
    try:
        return Fraction(float(base) ** float(exponent))
    except (ZeroDivisionError, OverflowError, ValueError):
        raise CalcError("unsupported fractional power") from None


# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------

_NUM = r"(?:[-−]?\$?[-−]?(?:\d{1,3}(?:,\d{3}){1,8}|\d{1,40})(?:\.\d{1,20})?%?|[-−]?\$?\.\d{1,20}%?)"
_TERM = rf"(?:\([ \t]{{0,3}}){{0,4}}{_NUM}(?:[ \t]{{0,3}}\)){{0,4}}"
_OP = r"[ \t]{0,3}(?:\*\*|[-+*/^x×÷·−])[ \t]{0,3}"
_EXPR = rf"{_TERM}(?:{_OP}{_TERM}){{0,12}}"  # bounded repeats keep matching linear on hostile text
_EQ = r"[ \t]{0,3}(?<![<>!=])=(?!=)[ \t]{0,3}"
_CHAIN = re.compile(rf"(?=[-−$(.\d])(?<![\w.,:$/]){_EXPR}(?:{_EQ}{_EXPR}){{1,8}}")
_EQ_SPLIT = re.compile(r"(?<![<>!=])=(?!=)")
_ANNOTATION = re.compile(r"<<([^<>]{1,200})>>")
_LEADING_NUMBER = re.compile(rf"({_NUM})[ \t]*(?:\*\*|[-+*/^x×÷·−])")
_OPERATOR_CHARS = frozenset("+-*/^x×÷·−")
_LATEX = (("\\times", " × "), ("\\cdot", " · "), ("\\div", " ÷ "), ("\\$", "$"), ("\\%", "%"), ("\\,", ""))


def _canonical_number(m: re.Match[str]) -> str:
    """``2.50`` -> ``2.5``, ``3.0`` -> ``3``, ``.5`` -> ``0.5``, ``007`` -> ``7``."""
    text = m.group(0)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if "." in text:
        return "0" + text if text.startswith(".") else text
    return text.lstrip("0") or "0"


_NUMBER_IN_PY = re.compile(r"\d*\.\d+|\d+")


def normalize(expression: str) -> str:
    """Canonical text of an expression: Python operators, no spaces, ``$`` or commas, ``2.50`` -> ``2.5``.

    Percent signs are kept (``20%``), so ``25%`` and ``0.25`` stay distinct in signatures.

    Example:
        >>> normalize(" $1,200.50 × 2 ")
        '1200.5*2'
    """
    s = expression
    for a, b in _LATEX:
        s = s.replace(a, b)
    s = s.translate(_TRANSLATE)
    s = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), s)
    s = s.replace(" ", "").replace("^", "**")
    return _NUMBER_IN_PY.sub(_canonical_number, s)


def _balance(segment: str) -> str:
    """Drop unmatched parentheses at the ends of a chain segment (``(3 + 4`` -> ``3 + 4``)."""
    s = segment.strip()
    while s.startswith("(") and s.count("(") > s.count(")"):
        s = s[1:].lstrip()
    while s.endswith(")") and s.count(")") > s.count("("):
        s = s[:-1].rstrip()
    return s


def _is_single_number(normalized: str) -> bool:
    return _SINGLE.fullmatch(normalized) is not None


_SINGLE = re.compile(r"\(*-?(?:\d*\.\d+|\d+)%?\)*")


def _values(normalized: str) -> list[Fraction]:
    """Possible values of a normalised expression: with ``%`` read as /100 and, if present, ignored."""
    out: list[Fraction] = []
    if len(normalized) > MAX_EXPRESSION_CHARS:
        return out
    try:
        out.append(_evaluate_python(_PERCENT.sub(r"(\1/100)", normalized) if "%" in normalized else normalized))
    except CalcError:
        pass
    if "%" in normalized:
        try:
            out.append(_evaluate_python(normalized.replace("%", "")))
        except CalcError:
            pass
    return out


def _claim_readings(claimed: str, rounding: bool) -> list[tuple[Fraction, Fraction]]:
    """``(value, tolerance)`` readings of a claimed result.

    A plain number written with ``d`` decimals gets tolerance ``10**-d`` when ``rounding`` is set
    (rounded or truncated results pass); ``25%`` is read both as 25 and as 0.25.
    """
    if rounding and _is_single_number(claimed):
        digits = claimed.strip("()%")
        decimals = len(digits.split(".", 1)[1]) if "." in digits else 0
        try:
            value = _evaluate_python(digits)
        except CalcError:
            return []
        unit = Fraction(1, 10**decimals)
        readings = [(value, unit)]
        if "%" in claimed:
            readings.append((value / 100, unit / 100))
        return readings
    return [(v, Fraction(0)) for v in _values(claimed)]


def _matches(values: list[Fraction], claimed: str, rounding: bool) -> bool | None:
    """Whether a reading of the computed side equals a reading of ``claimed``; None if either is unreadable."""
    readings = _claim_readings(claimed, rounding)
    if not values or not readings:
        return None
    for c, tolerance in readings:
        for v in values:
            diff = abs(v - c)
            if diff == 0 or diff < tolerance or diff <= Fraction(1, 10**9) * max(abs(v), abs(c)):
                return True
    return False


Claim = tuple[str, str, "bool | None"]


@lru_cache(maxsize=1 << 16)
def _read_chain(chain: str) -> tuple[Claim, ...]:
    """The ``(expression, claimed, correct)`` claims of one ``a = b = c`` chain (cached: chains repeat).

    A compound segment after ``=`` either restates the value (``2*6 = 3*4``) or starts with the
    result and continues (``3*4 = 12+1 = 13``). Claims whose computed side is a bare number
    (``Day 1 = 5``) are labels, not calculations, and are skipped unless they restate an equal
    expression (``8 = 5+3``).
    """
    segments = _EQ_SPLIT.split(chain)
    claims: list[Claim] = []
    current = normalize(_balance(segments[0]))
    current_values = _values(current)
    for raw in segments[1:]:
        seg_raw = _balance(raw)
        seg = normalize(seg_raw)
        if not seg:
            break
        current_single = _is_single_number(current)
        if _is_single_number(seg):
            if not current_single:
                claims.append((current, seg, _matches(current_values, seg, True)))
        elif _matches(current_values, seg, False):
            claims.append((current, seg, True))
        elif not current_single:
            lead = _LEADING_NUMBER.match(seg_raw)
            claimed = normalize(lead.group(1)) if lead else seg
            claims.append((current, claimed, _matches(current_values, claimed, lead is not None)))
        current, current_values = seg, _values(seg)
    return tuple(claims)


def _continues_left(text: str, start: int) -> bool:
    """True if the text before ``start`` ends in an operator: the chain is part of ``3x + 2 = 11``."""
    i = start - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    if i < 0 or text[i] not in _OPERATOR_CHARS:
        return False
    return text[i] != "x" or i == 0 or not text[i - 1].isalpha()  # "box 3 * 4" is fine


def _continues_right(text: str, end: int) -> bool:
    """True if the chain's last term continues with a name: ``= 5x``, ``= 2(a+b)``, ``= 3 * y``."""
    if end >= len(text):
        return False
    first = text[end]
    if first.isalnum() or first in "(^_":
        return True
    i = end
    while i < len(text) and text[i] in " \t":
        i += 1
    return i < len(text) and text[i] in "*/×÷^"


@lru_cache(maxsize=1 << 16)
def _calculations(chain: str, source: str) -> tuple[Calculation, ...]:
    return tuple(Calculation(e, c, ok, source) for e, c, ok in _read_chain(chain))


def _chains(text: str, source: str, offset: int, found: list[tuple[int, tuple[Calculation, ...]]]) -> None:
    """Append ``(position, claims)`` for every readable chain in ``text``."""
    for m in _CHAIN.finditer(text):
        if not (_continues_left(text, m.start()) or _continues_right(text, m.end())):
            found.append((offset + m.start(), _calculations(m.group(0), source)))


def extract_calculations(text: str) -> list[Calculation]:
    """All arithmetic claims in ``text``, in order of appearance, each recomputed.

    An inline claim immediately followed by the same claim as a ``<<...>>`` annotation is listed
    once. Annotations that are not plain arithmetic are kept (``correct=None``) so they still
    count in the path's signature.

    Example:
        >>> [(c.normalized, c.correct) for c in extract_calculations("3 * 4 = 12 + 1 = 13")]
        [('3*4=12', True), ('12+1=13', True)]
    """
    return list(_extract(text)) if "=" in text else []


@lru_cache(maxsize=4096)
def _extract(text: str) -> tuple[Calculation, ...]:
    """`extract_calculations`, cached: sampled paths often repeat word for word."""
    for a, b in _LATEX:
        if a in text:
            text = text.replace(a, b)
    found: list[tuple[int, tuple[Calculation, ...]]] = []
    if "<<" in text:
        for m in _ANNOTATION.finditer(text):
            before = len(found)
            _chains(m.group(1), "annotation", m.start(), found)
            if len(found) == before and "=" in m.group(1):
                lhs, _, rhs = m.group(1).partition("=")
                found.append((m.start(), (Calculation(normalize(lhs), normalize(rhs), None, "annotation"),)))
        text = _ANNOTATION.sub(lambda m: " " * len(m.group(0)), text)
        _chains(text, "inline", 0, found)
        found.sort(key=lambda item: item[0])
    else:
        _chains(text, "inline", 0, found)
    out: list[Calculation] = []
    for _, claims in found:
        for c in claims:
            if not out or out[-1].normalized != c.normalized:
                out.append(c)
    return tuple(out)


def signature(calculations: list[Calculation]) -> tuple[str, ...]:
    """The ordered normalised calculations: the RFT paper's equation-list signature of a path."""
    return tuple(c.normalized for c in calculations)


def wrong_steps(calculations: list[Calculation]) -> list[Calculation]:
    """The claims that were recomputed and found false."""
    return [c for c in calculations if c.correct is False]
