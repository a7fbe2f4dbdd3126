"""Text-level half of the ``math`` verifier: find the final answer in a completion, clean it, compare cheaply.

Everything here is plain Python: regular expressions, `fractions.Fraction`, and mpmath on a small
expression tree read by hand (model text is never passed to ``eval`` or sympy here). Every step is
bounded in time and size on any input, so it runs inline in the caller's process; what it cannot
decide goes on to the sympy stage in `rft.verifiers.math`. Sections: extraction, cleaning, text and
choice answers, exact numbers, values of simple expressions, lists/tuples/intervals/sets/matrices.

    >>> extract_answer("so it is $\\\\boxed{\\\\frac12}$.")
    '\\\\frac12'
    >>> clean("\\\\left( 3, \\\\dfrac{\\\\pi}{2} \\\\right)")
    '(3, \\\\frac{\\\\pi}{2})'
    >>> cheap_equal(clean("0.5"), clean("\\\\frac{1}{2}"))
    True
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath

# --- extraction ---------------------------------------------------------------------------------
#
# Every search here is linear in the text (rfind, bounded scans, at most a few candidates), so a
# megabyte of hostile model output costs milliseconds, not minutes.

_BOX_CMDS = ("\\boxed", "\\fbox")
_ANSWER_PHRASE = re.compile(r"(?:final answer|the answer|^[ \t]*answer)[ \t]*(?:is|:)[ \t]*:?", re.I | re.M)
_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.S)
_HOPE = re.compile(r"\s*\.?\s*I hope it is correct\.?\s*$", re.I)
_SCAN = 20_000
"""Characters scanned for one brace group or phrase; anything longer is not a usable answer anyway."""
_TRIES = 8
"""Candidates (boxes, phrases) tried from the end before giving up."""


def _braced(text: str, i: int) -> str | None:
    """The content of the brace group opening at ``text[i] == '{'``; None if it never closes. A group
    longer than `_SCAN` is returned cut at that length (too long to be an answer, judged as such)."""
    depth = 0
    for j in range(i, min(len(text), i + _SCAN)):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j]
    return text[i + 1:i + _SCAN] if len(text) > i + _SCAN else None


def _last_boxed_at(text: str) -> tuple[int, str] | None:
    start = max(text.rfind(cmd) for cmd in _BOX_CMDS)
    for _ in range(_TRIES):
        if start < 0:
            break
        cmd = next(c for c in _BOX_CMDS if text.startswith(c, start))
        i = start + len(cmd)
        rest = text[i:i + 1]
        if rest == "{":
            group = _braced(text, i)
            if group is not None:
                return start, group
        elif rest == " ":
            m = re.match(r" +([^\s$]+)", text[i:i + 200])
            if m:
                return start, m.group(1)
        start = max(text.rfind(c, 0, start) for c in _BOX_CMDS)
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces) or ``\\boxed 5``.

    Example:
        >>> last_boxed("\\\\boxed{1} then \\\\boxed{\\\\frac{1}{2}}")
        '\\\\frac{1}{2}'
    """
    found = _last_boxed_at(text)
    return found[1] if found else None


def _last_tag_at(text: str) -> tuple[int, str] | None:
    """The content of the last ``<answer>...</answer>`` (any case)."""
    lower = text.lower()
    end = lower.rfind("</answer>")
    start = lower.rfind("<answer>", 0, end) if end >= 0 else -1
    if start < 0 or not text[start + 8:end].strip():
        return None
    return start, _math_in(text[start + 8:end])


def _math_in(span: str) -> str:
    """The first ``$...$`` (or ``\\(...\\)``) inside ``span``, else ``span`` itself."""
    m = _MATH_SPAN.search(span[:_SCAN])
    if m:
        return next(g for g in m.groups() if g is not None)
    return span


def _trailing_math(text: str) -> str | None:
    """The last math span when nothing but punctuation follows it."""
    tail = text.rstrip().rstrip(".!")
    for close, open_ in (("$$", "$$"), ("$", "$"), ("\\)", "\\("), ("\\]", "\\[")):
        if tail.endswith(close):
            body = tail[: -len(close)]
            i = body.rfind(open_)
            if i >= 0 and body[i + len(open_):].strip():
                return body[i + len(open_):]
    return None


def _last_phrase_at(text: str) -> tuple[int, str] | None:
    """The answer after the last "final answer is ..." (any text) or "the answer is ..." (math or a number)."""
    first = min((i for i in (text.find("nswer"), text.find("NSWER")) if i >= 0), default=-1)
    if first < 0:
        return None
    matches = list(_ANSWER_PHRASE.finditer(text, max(0, first - 12)))
    for m in reversed(matches[-_TRIES:]):
        raw = text[m.end():m.end() + _SCAN].strip().split("\n", 1)[0]
        line = _math_in(_HOPE.sub("", raw).strip()).strip().rstrip(".").strip()
        if line and ("final" in m.group(0).lower() or re.search(r"[\d$\\]", raw)):
            return m.start(), line
    return None


def extract_answer(text: str) -> str | None:
    """The final-answer span of a completion, or None when it states none.

    Takes whichever comes last of: the last ``\\boxed{}``/``\\fbox{}``, the last
    ``<answer>...</answer>``, the last "final answer is ..." / "the answer is ..." followed by math
    or a number; failing those, a ``$...$`` that ends the text.

    Example:
        >>> extract_answer("Final Answer: The final answer is $7$. I hope it is correct.")
        '7'
        >>> extract_answer("First $\\\\boxed{2}$, but wait: the answer is $3$.")
        '3'
    """
    found = [_last_boxed_at(text), _last_tag_at(text), _last_phrase_at(text)]
    candidates = [c for c in found if c is not None and c[1].strip()]
    if candidates:
        return max(candidates, key=lambda c: c[0])[1].strip()
    trailing = _trailing_math(text)
    return trailing.strip() if trailing else None


# --- cleaning -----------------------------------------------------------------------------------

PLAIN_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
"""An integer or decimal with nothing around it (most answers): compared at once, exactly."""
_TEXT_CMDS = r"\\(?:text|textbf|textit|textrm|texttt|mathrm|mathbf|mathit|mbox|operatorname)"
_TEXT_GROUP = re.compile(_TEXT_CMDS + r"\s*\{([^{}]*)\}")
_SPACING = re.compile(r"(?<!\\)\\[!,;: ]|\\quad|\\qquad|\\displaystyle|~|\\left(?![a-zA-Z])|\\right(?![a-zA-Z])"
                      r"|\\middle(?![a-zA-Z])|\\big(?:g)?[lr]?(?![a-zA-Z])|\\Big(?:g)?[lr]?(?![a-zA-Z])")
_DEGREES = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°|\\degree(?![a-zA-Z])")
_PERCENT = re.compile(r"\\%|%")
_DOLLARS = re.compile(r"\\\$|\$")
_SHORT_FRAC = re.compile(r"\\[dtc]?frac\s*(\d|[a-zA-Z]|\\[a-zA-Z]+)\s*(\d|[a-zA-Z]|\\[a-zA-Z]+)")
_HALF_FRAC1 = re.compile(r"\\[dtc]?frac\s*(\{[^{}]*\})\s*(\d)")
_HALF_FRAC2 = re.compile(r"\\[dtc]?frac\s*(\d)\s*(\{)")
_ANY_FRAC = re.compile(r"\\[dtc]frac(?![a-zA-Z])")
_SHORT_SQRT = re.compile(r"\\sqrt\s*(\d+|[a-zA-Z])")
_BRACED_ATOM = re.compile(r"([\^_])\{\s*(\w)\s*\}")
_RELATIONS = [(re.compile(r"\\(?:leq|leqslant|le)(?![a-zA-Z])"), r"\\le "),
              (re.compile(r"\\(?:geq|geqslant|ge)(?![a-zA-Z])"), r"\\ge "),
              (re.compile(r"\\(?:neq|ne)(?![a-zA-Z])"), r"\\ne "),
              (re.compile(r"\\(?:varnothing)(?![a-zA-Z])"), r"\\emptyset "),
              (re.compile(r"\\(?:lbrace)(?![a-zA-Z])"), r"\\{"),
              (re.compile(r"\\(?:rbrace)(?![a-zA-Z])"), r"\\}")]
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_THIN_SEPARATOR = re.compile(r"(\d),\\!\s*(?=\d{3})")
_LIST_WORDS = re.compile(r"\s*(?:\\text\{\s*(?:or|and)\s*\}|\b(?:or|and)\b)\s*")
_ASSIGNMENT = re.compile(r"^\s*(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?\w+\}?)?\s*(?:=|\\in(?![a-zA-Z]))\s*")
_UNIT_WORDS = (
    "units?|square|sq|cubic|cm|mm|km|m|meters?|metres?|centimeters?|millimeters?|kilometers?|inch(?:es)?|in"
    "|feet|foot|ft|yards?|yd|miles?|mi|degrees?|deg|radians?|rad|dollars?|cents?|hours?|hrs?|minutes?|mins?"
    "|seconds?|secs?|s|days?|weeks?|months?|years?|mph|kg|g|grams?|pounds?|lbs?|ounces?|oz|liters?|litres?"
    "|gallons?|percent|people|students?|ways?|points?|times")
_UNIT_TAIL = re.compile(
    r"(?<=[\d}).\]a-zA-Z])(?:\s*(?:" + _TEXT_CMDS + r"\s*\{\s*[a-zA-Z][a-zA-Z .]{0,40}\}|(?<!\\)\b(?:"
    + _UNIT_WORDS + r")\b)(?:\s*\^\s*\{?[23]\}?)?){1,3}\s*$")
_WORDS_TAIL = re.compile(r"(?<=[\d}).\]])(?:\s+[a-zA-Z]{2,20}\.?){1,4}(?:\s*\^\s*\{?[23]\}?)?\s*$")
_TRAILING_PUNCT = re.compile(r"[\s.,;:]+$")
_CHOICE = re.compile(r"^\(?([A-E])\)?$")
_CHOICE_PRED = re.compile(r"^\s*(?:\\text(?:bf)?\{\s*)?\(?([A-Ea-e])\)?(?:\s*\}|[\s.:)]|$)")


def _strip_text_cmds(s: str) -> str:
    for _ in range(4):
        new = _TEXT_GROUP.sub(r"\1", s)
        if new == s:
            break
        s = new
    return s


def clean(answer: str) -> str:
    """A LaTeX answer with decoration removed: still valid LaTeX, spaces collapsed.

    Removes ``$``, ``\\left``/``\\right``, spacing commands, degree signs, ``\\%``, thousands
    separators, trailing units and ``\\text{}`` wrappers; unifies ``\\dfrac``/``\\tfrac``/``\\frac12``,
    ``\\le``-style relations, and "or"/"and" between answers (to commas). The result is what the
    sympy stage parses.

    Example:
        >>> clean("\\\\$32,\\\\!348")
        '32348'
        >>> clean("5.4 \\\\text{ cents}")
        '5.4'
    """
    s = answer.strip()
    if PLAIN_NUMBER.match(s):
        return s
    s = _DOLLARS.sub("", s.replace("\u2212", "-"))
    s = _THIN_SEPARATOR.sub(r"\1,", s)
    s = s.replace("{,}", ",").replace("\\dots", "\\ldots").replace("\\cdots", "\\ldots")
    s = _SPACING.sub(" ", s)
    s = _DEGREES.sub("", s)
    s = _PERCENT.sub("", s)
    for pattern, repl in _RELATIONS:
        s = pattern.sub(repl, s)
    s = _ANY_FRAC.sub(r"\\frac", s)
    s = _SHORT_FRAC.sub(r"\\frac{\1}{\2}", s)
    s = _HALF_FRAC1.sub(r"\\frac\1{\2}", s)
    s = _HALF_FRAC2.sub(r"\\frac{\1}\2", s)
    s = _SHORT_SQRT.sub(r"\\sqrt{\1}", s)
    s = _BRACED_ATOM.sub(r"\1\2", s)
    s = re.sub(r"\s+", " ", s).strip()
    s = _strip_units(s)
    s = _LIST_WORDS.sub(", ", s).strip(" ,")
    s = _strip_text_cmds(s)
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"(?<!\\)([(\[{])\s+", r"\1", s)
    s = re.sub(r"\s+([)\]}])", r"\1", s)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    return _TRAILING_PUNCT.sub("", s).strip()


def _strip_units(s: str) -> str:
    stripped = _UNIT_TAIL.sub("", s).strip()
    return stripped if stripped and re.search(r"[\d\\]", stripped) else s


def strip_trailing_words(s: str) -> str:
    """Drop plain words after a value ("5 apples" -> "5"); used when the gold has no letters.

    Example:
        >>> strip_trailing_words("864 square inches")
        '864'
    """
    return _WORDS_TAIL.sub("", s).strip() or s


def has_letters(s: str) -> bool:
    """Whether a cleaned answer has letters outside LaTeX commands (variables or words)."""
    return bool(re.search(r"[a-zA-Z]", re.sub(r"\\[a-zA-Z]+", "", s)))


def has_relation(s: str) -> bool:
    """Whether a cleaned answer states an equation, inequality or membership."""
    return bool(re.search(r"=|<|>|\\le |\\ge |\\ne |\\in(?![a-zA-Z])", s))


def strip_assignment(s: str) -> str:
    """Drop ``x =`` / ``x \\in`` before the answer, and before each item of a list of answers.

    Example:
        >>> strip_assignment("x = 2, x = 3")
        '2, 3'
    """
    items = split_top_level(s)
    if not all(_ASSIGNMENT.match(item) for item in items):
        return s
    out = []
    for item in items:
        m = _ASSIGNMENT.match(item)
        rest = item[m.end():] if m else item
        if has_relation(rest):
            return s
        out.append(rest.strip())
    return ", ".join(out)


def key(s: str) -> str:
    """The string-equality key of a cleaned answer: the answer without spaces."""
    return s.replace(" ", "")


# --- text and choice answers --------------------------------------------------------------------

_WORDS_ONLY = re.compile(r"^[A-Za-z][A-Za-z' \-]*$")


def text_answer(raw: str) -> str | None:
    """The lower-cased words of a text answer (``\\text{Evelyn}``, ``even``), or None if it is math.

    Example:
        >>> text_answer("\\\\text{ Evelyn }")
        'evelyn'
        >>> text_answer("p - q") is None
        True
    """
    s = _strip_text_cmds(_DOLLARS.sub("", raw)).strip().rstrip(".")
    if not _WORDS_ONLY.match(s) or not re.search(r"[A-Za-z]{3,}", s):
        return None
    return " ".join(re.findall(r"[a-z0-9']+", s.lower()))


def choice_letter(raw: str) -> str | None:
    """The letter of a multiple-choice gold such as ``\\text{(C)}`` or ``(C)``, else None."""
    s = _strip_text_cmds(_DOLLARS.sub("", raw)).replace(" ", "")
    m = _CHOICE.match(s)
    return m.group(1) if m else None


def predicted_letter(raw: str) -> str | None:
    """The choice letter a prediction starts with (``(C)``, ``C``, ``\\textbf{(C)} 12``), upper-cased."""
    m = _CHOICE_PRED.match(_DOLLARS.sub("", raw))
    return m.group(1).upper() if m else None


# --- exact numbers ------------------------------------------------------------------------------

_INT = r"-?\d+"
_DEC = r"-?(?:\d+\.\d*|\.\d+|\d+)"
_NUMBER_FORMS = [
    ("dec", re.compile(rf"^({_DEC})$")),
    ("frac", re.compile(rf"^(-)?\\frac\{{({_DEC})\}}\{{({_DEC})\}}$")),
    ("slash", re.compile(rf"^({_DEC})/({_DEC})$")),
    ("mixed", re.compile(rf"^({_INT})\\frac\{{(\d+)\}}\{{(\d+)\}}$")),
    ("mixed_slash", re.compile(rf"^({_INT}) (\d+)/(\d+)$")),
    ("sci", re.compile(rf"^({_DEC})(?:[eE]|(?:\\times|\\cdot|\*|x)10\^)([-+]?\d+)$")),
]
MAX_EXPONENT = 1000


def parse_number(s: str) -> Fraction | None:
    """A cleaned answer that is one plain number, as an exact `Fraction`; else None.

    Accepts integers, decimals, ``a/b``, ``\\frac{a}{b}``, mixed numbers (``2\\frac{1}{2}``, ``2 1/2``)
    and scientific notation (``1.5\\times10^{3}``, ``1.5e3``). Anything else (powers, radicals,
    symbols) returns None and is left to the sympy stage.

    Example:
        >>> parse_number("-\\\\frac{3}{4}")
        Fraction(-3, 4)
    """
    s = s.strip()
    if len(s) > 200:
        return None
    compact = s.replace(" ", "") if "/" not in s else s
    for kind, pattern in _NUMBER_FORMS:
        m = pattern.match(compact if kind != "mixed_slash" else s)
        if not m:
            continue
        try:
            if kind == "dec":
                return Fraction(m.group(1))
            if kind == "frac":
                value = Fraction(m.group(2)) / Fraction(m.group(3))
                return -value if m.group(1) else value
            if kind == "slash":
                return Fraction(m.group(1)) / Fraction(m.group(2))
            if kind in ("mixed", "mixed_slash"):
                whole, part = int(m.group(1)), Fraction(int(m.group(2)), int(m.group(3)))
                return whole - part if m.group(1).startswith("-") else whole + part
            exponent = int(m.group(2))
            if abs(exponent) > MAX_EXPONENT:
                return None
            return Fraction(m.group(1)) * Fraction(10) ** exponent
        except (ValueError, ZeroDivisionError):
            return None
    return None


DECIMAL_TOLERANCE = Fraction(1, 10**6)
"""Relative tolerance for a written decimal against a non-integer value (``0.333333`` matches ``1/3``)."""


def numbers_equal(gold: Fraction, pred: Fraction) -> bool:
    """Exact for integer golds; within `DECIMAL_TOLERANCE` (relative) otherwise."""
    if gold == pred:
        return True
    if gold.denominator == 1:
        return False
    return abs(gold - pred) <= DECIMAL_TOLERANCE * max(abs(gold), abs(pred))


# --- numeric evaluation of simple expressions ---------------------------------------------------
#
# A small recursive-descent reader for the LaTeX most answers use (numbers, + - * /, \frac, \sqrt,
# powers, \pi, e, i, variables, trig and log functions, factorials), evaluated with mpmath at 50
# digits: constants once, expressions with variables at seeded random points. It decides only clear
# cases and follows latex2sympy's reading; anything it is unsure of raises `_Unsupported`, so the
# answer goes on to sympy.

_MP = mpmath.MPContext()
_MP.dps = 50
_TOKEN = re.compile(r"\s*(?:(\d+\.\d*|\.\d+|\d+)|(\\[a-zA-Z]+)|([a-zA-Z])|(\S))")
_FUNCS = {"\\sin": "sin", "\\cos": "cos", "\\tan": "tan", "\\cot": "cot", "\\sec": "sec", "\\csc": "csc",
          "\\arcsin": "asin", "\\arccos": "acos", "\\arctan": "atan", "\\sinh": "sinh", "\\cosh": "cosh",
          "\\tanh": "tanh", "\\ln": "ln", "\\log": "log10", "\\exp": "exp"}
_GREEK = {"\\alpha", "\\beta", "\\delta", "\\theta", "\\phi", "\\varphi", "\\lambda", "\\mu", "\\omega",
          "\\sigma", "\\tau", "\\rho", "\\psi", "\\xi", "\\eta", "\\kappa", "\\nu", "\\zeta", "\\chi"}
_MAX_TOKENS = 300
_MAX_MAGNITUDE = _MP.mpf(10) ** 30
_MIN_MAGNITUDE = _MP.mpf(10) ** -30


class _Unsupported(Exception):
    """The expression is outside the subset read here (or too large): leave it to sympy."""


class _Undefined(Exception):
    """The expression has no value at this point (division by zero, pole)."""


class _Reader:
    """Reads one expression into a tree of tuples: ``("num", text)``, ``("var", name)``, ``("add", a, b)``..."""

    def __init__(self, text: str):
        self.tokens: list[tuple[str, str]] = []
        for m in _TOKEN.finditer(text):
            kind = next(k for k, g in zip(("num", "cmd", "letter", "sym"), m.groups()) if g is not None)
            self.tokens.append((kind, m.group(m.lastindex or 0)))
        if not self.tokens or len(self.tokens) > _MAX_TOKENS:
            raise _Unsupported
        self.i = 0
        self.variables: set[str] = set()
        self.decimal = False

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        if self.take()[1] != value:
            raise _Unsupported

    def read(self) -> tuple:
        tree = self.expr()
        if self.peek()[0] != "end":
            raise _Unsupported
        return tree

    def expr(self) -> tuple:
        tree = self.term()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            tree = ("add" if op == "+" else "sub", tree, self.term())
        return tree

    def term(self) -> tuple:
        tree = self.unary()
        while True:
            kind, value = self.peek()
            if value in ("\\cdot", "\\times", "*"):
                self.take()
                tree = ("mul", tree, self.unary())
            elif value == "/":
                self.take()
                tree = ("div", tree, self.unary())
            elif kind in ("num", "letter") or value in ("(", "[", "{") or (
                    kind == "cmd" and value not in ("\\cdot", "\\times")):
                tree = ("mul", tree, self.power())
            else:
                return tree

    def unary(self) -> tuple:
        if self.peek()[1] in ("-", "+"):
            op = self.take()[1]
            operand = self.unary()
            return ("neg", operand) if op == "-" else operand
        return self.power()

    def power(self) -> tuple:
        base = self.postfix()
        if self.peek()[1] == "^":
            self.take()
            return ("pow", base, self.exponent())
        return base

    def exponent(self) -> tuple:
        kind, value = self.peek()
        if value == "{":
            return self.group("{", "}")
        if kind == "num" and len(value) == 1:
            self.take()
            return ("num", value)
        if kind == "letter" or value in ("\\pi",):
            return self.atom()
        raise _Unsupported  # x^23 and friends: latex2sympy and TeX disagree

    def postfix(self) -> tuple:
        tree = self.atom()
        while self.peek()[1] == "!":
            self.take()
            tree = ("fact", tree)
        return tree

    def group(self, open_: str, close: str) -> tuple:
        self.expect(open_)
        tree = self.expr()
        self.expect(close)
        return tree

    def atom(self) -> tuple:
        kind, value = self.take()
        if kind == "num":
            if "." in value:
                self.decimal = True
            elif self.peek()[1] == "\\frac" and self._mixed_fraction_follows():
                return ("add", ("num", value), self.atom())
            return ("num", value)
        if kind == "letter":
            if value == "E":
                raise _Unsupported  # latex2sympy reads it as a variable, "e" as Euler's number
            name = value.lower()
            if name in ("e", "i"):
                return ("const", name)
            return self.variable(name)
        if value in ("(", "[", "{"):
            self.i -= 1
            return self.group(value, {"(": ")", "[": "]", "{": "}"}[value])
        if value == "\\frac":
            return ("div", self.group("{", "}"), self.group("{", "}"))
        if value == "\\sqrt":
            index: tuple | None = None
            if self.peek()[1] == "[":
                index = self.group("[", "]")
            radicand = self.group("{", "}")
            return ("root", radicand, index or ("num", "2"))
        if value == "\\pi":
            return ("const", "pi")
        if value in _GREEK:
            return self.variable(value[1:])
        if value in _FUNCS:
            return self.function(_FUNCS[value])
        raise _Unsupported

    def _mixed_fraction_follows(self) -> bool:
        """After an integer: is it ``2\\frac{1}{2}`` (two and a half), at the start of a term?"""
        toks = [t[1] for t in self.tokens[self.i:self.i + 7]]
        kinds = [t[0] for t in self.tokens[self.i:self.i + 7]]
        before = self.tokens[self.i - 2][1] if self.i >= 2 else "+"
        return (len(toks) == 7 and toks[1] == "{" and toks[3] == "}" and toks[4] == "{" and toks[6] == "}"
                and kinds[2] == kinds[5] == "num" and "." not in toks[2] + toks[5]
                and before in ("+", "-", "(", "[", "{", ","))

    def variable(self, name: str) -> tuple:
        if self.peek()[1] == "_":
            self.take()
            kind, value = self.take()
            if value == "{":
                parts = []
                while self.peek()[1] != "}":
                    part = self.take()
                    if part[0] == "end":
                        raise _Unsupported
                    parts.append(part[1])
                self.take()
                value = "".join(parts)
            elif kind not in ("num", "letter"):
                raise _Unsupported
            name = f"{name}_{value}"
        self.variables.add(name)
        return ("var", name)

    def function(self, name: str) -> tuple:
        power: tuple | None = None
        if self.peek()[1] == "^":
            self.take()
            power = self.exponent()
            if power[0] != "num":
                raise _Unsupported  # \sin^{-1} is arcsin in latex2sympy
        if self.peek()[1] == "_":
            raise _Unsupported  # \log_b
        if self.peek()[1] in ("(", "{", "["):
            arg = self.atom()
        else:
            arg = self.power()
            kind, value = self.peek()
            if kind in ("num", "letter", "cmd") and value not in ("\\cdot", "\\times"):
                raise _Unsupported  # \sin 2x: where the argument ends is a guess
        tree = ("func", name, arg)
        return ("pow", tree, power) if power else tree


def _evaluate(tree: tuple, env: dict[str, Any]) -> Any:
    op = tree[0]
    if op == "num":
        if len(tree[1]) > 30:
            raise _Unsupported
        return _MP.mpf(tree[1])
    if op == "var":
        return env[tree[1]]
    if op == "const":
        return {"pi": _MP.pi, "e": _MP.e, "i": _MP.j}[tree[1]]
    if op == "func":
        value = getattr(_MP, tree[1])(_evaluate(tree[2], env))
    elif op == "neg":
        return -_evaluate(tree[1], env)
    elif op == "fact":
        n = _evaluate(tree[1], env)
        if n.imag or n.real != int(n.real) or not 0 <= n.real <= 100:
            raise _Unsupported
        return _MP.factorial(n.real)
    else:
        a = _evaluate(tree[1], env)
        b = _evaluate(tree[2], env)
        if op == "add":
            value = a + b
        elif op == "sub":
            value = a - b
        elif op == "mul":
            value = a * b
        elif op == "div":
            if b == 0:
                raise _Undefined
            value = a / b
        elif op == "pow":
            if abs(b) > 200:
                raise _Unsupported
            if a == 0 and _MP.re(b) <= 0:
                raise _Undefined
            value = _MP.power(a, b)
        else:  # root
            if b == 0:
                raise _Undefined
            value = _MP.power(a, 1 / b) if b != 2 else _MP.sqrt(a)
    if not _MP.isfinite(value):
        raise _Undefined
    if value and not _MIN_MAGNITUDE <= abs(value) <= _MAX_MAGNITUDE:
        raise _Unsupported  # tiny or huge intermediate values could hide a difference from 50 digits
    return value


@functools.lru_cache(maxsize=4096)
def _read(text: str) -> _Reader | None:
    try:
        reader = _Reader(text)
        reader.tree = reader.read()  # type: ignore[attr-defined]
        return reader
    except (_Unsupported, RecursionError, ValueError):
        return None


@functools.lru_cache(maxsize=256)
def _points(names: tuple[str, ...], n: int) -> list[dict[str, Any]]:
    """``n`` seeded random points (the same for every call with these variable names)."""
    rng = random.Random(20240601)
    return [{name: _MP.mpf(rng.randint(-60, 60)) / rng.randint(7, 23) + _MP.mpf(1) / 97 for name in names}
            for _ in range(n)]


def values_equal(gold: str, pred: str) -> bool | None:
    """Compare two single expressions by value (at random points if they have variables); None = unsure.

    Clear cases only: values equal to 40 digits (6 when a decimal was written) match, values apart
    by more than 1e-20 (relative) do not; anything between, very large or small values, and LaTeX
    outside the subset read here return None.

    Example:
        >>> values_equal("\\\\frac{\\\\sqrt{3}}{3}", "\\\\frac{1}{\\\\sqrt{3}}"), values_equal("2x+2", "2(x+1)")
        (True, True)
        >>> values_equal("1-\\\\frac{1}{e}", "1+\\\\frac{1}{e}")
        False
    """
    g, p = _read(gold), _read(pred)
    if g is None or p is None:
        return None
    decimal = g.decimal or p.decimal
    same, apart = (_MP.mpf(10) ** -6, _MP.mpf(10) ** -6) if decimal else (_MP.mpf("1e-40"), _MP.mpf("1e-20"))
    names = tuple(sorted(g.variables | p.variables))
    points = _points(names, 8) if names else [{}]
    agreed = 0
    for env in points:
        try:
            a, b = _evaluate(g.tree, env), _evaluate(p.tree, env)  # type: ignore[attr-defined]
        except _Undefined:
            continue
        except (_Unsupported, ValueError, ZeroDivisionError, OverflowError):
            return None
        scale = max(abs(a), abs(b))
        if scale > _MAX_MAGNITUDE or (0 < scale < _MIN_MAGNITUDE):
            return None
        diff = abs(a - b)
        if diff <= same * scale:
            agreed += 1
        elif diff > apart * scale:
            return False
        else:
            return None
    needed = min(len(points), 5)
    return True if agreed >= needed else None


# --- lists, tuples, intervals, sets -------------------------------------------------------------

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")": "(", "]": "[", "}": "{"}


def split_top_level(s: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside brackets and braces.

    Example:
        >>> split_top_level("(1,2), \\\\frac{1}{2}, 3")
        ['(1,2)', '\\\\frac{1}{2}', '3']
    """
    parts, depth, start = [], 0, 0
    for i, c in enumerate(s):
        if c in _OPENERS:
            depth += 1
        elif c in _CLOSERS:
            depth -= 1
        elif c == sep and depth == 0 and not (i > 0 and s[i - 1] == "\\"):
            parts.append(s[start:i].strip())
            start = i + 1
    parts.append(s[start:].strip())
    return parts


def max_depth(s: str) -> int:
    """Deepest nesting of brackets and braces in ``s`` (a guard against hostile input)."""
    depth = best = 0
    for c in s:
        if c in _OPENERS:
            depth += 1
            best = max(best, depth)
        elif c in _CLOSERS:
            depth -= 1
    return best


@dataclass(frozen=True)
class Container:
    """A bracketed or bare list, or a matrix: ``opener``/``closer`` are ``(``, ``[``, ``\\{``, ``""`` (bare)
    or ``matrix`` (then ``shape`` is rows x columns and ``items`` are read row by row)."""

    opener: str
    closer: str
    items: tuple[str, ...]
    shape: tuple[int, int] = (0, 0)

    @property
    def unordered(self) -> bool:
        return self.opener in ("", "\\{")


_MATRIX = re.compile(r"^[(\[]?\\begin\{([pbBvV]?matrix)\}(.*)\\end\{\1\}[)\]]?$", re.S)


def _outer_pair(s: str) -> tuple[str, str, str] | None:
    """(opener, inner, closer) when one bracket pair wraps the whole of ``s``."""
    if s.startswith("\\{") and s.endswith("\\}"):
        opener, closer, inner = "\\{", "\\}", s[2:-2]
    elif s[:1] in "([" and s[-1:] in ")]":
        opener, closer, inner = s[0], s[-1], s[1:-1]
    else:
        return None
    depth = 0
    for c in inner:
        if c in _OPENERS:
            depth += 1
        elif c in _CLOSERS:
            depth -= 1
            if depth < 0:
                return None
    return (opener, inner, closer) if depth == 0 else None


def container(s: str) -> Container | None:
    """The list or matrix structure of a cleaned answer, or None when it is a single item.

    Example:
        >>> container("\\\\begin{pmatrix} 1 \\\\\\\\ 2 \\\\end{pmatrix}")
        Container(opener='matrix', closer='matrix', items=('1', '2'), shape=(2, 1))
    """
    m = _MATRIX.match(s)
    if m:
        rows = [row for row in re.split(r"\\\\", m.group(2)) if row.strip()]
        cells = [[cell.strip() for cell in row.split("&")] for row in rows]
        if not cells or len({len(r) for r in cells}) != 1:
            return None
        return Container("matrix", "matrix", tuple(c for r in cells for c in r), (len(cells), len(cells[0])))
    pair = _outer_pair(s)
    if pair:
        opener, inner, closer = pair
        items = split_top_level(inner)
        if len(items) > 1 or opener == "\\{":
            return Container(opener, closer, tuple(items))
        return None
    items = split_top_level(s)
    return Container("", "", tuple(items)) if len(items) > 1 else None


_INFINITY = re.compile(r"^([-+]?)\\infty$")
_PLUS_MINUS = re.compile(r"\\pm|\\mp")
_BASE_N = re.compile(r"(?<![\w\\])\d+_\{?\d+\}?")


def item_equal(gold: str, pred: str) -> bool | None:
    """One item (number or simple expression, or +-infinity) by exact number, then by value; None = unsure."""
    if key(gold) == key(pred):
        return True
    g, p = parse_number(gold), parse_number(pred)
    if g is not None and p is not None:
        return numbers_equal(g, p)
    gi, pi = _INFINITY.match(key(gold)), _INFINITY.match(key(pred))
    if gi or pi:
        return bool(gi and pi and (gi.group(1) == "-") == (pi.group(1) == "-"))
    return values_equal(gold, pred)


def _match_any_order(gold: tuple[str, ...], pred: tuple[str, ...]) -> bool | None:
    if len(gold) != len(pred):
        return False
    left = list(pred)
    unsure = False
    for g in gold:
        for k, p in enumerate(left):
            same = item_equal(g, p)
            if same:
                del left[k]
                break
            unsure = unsure or same is None
        else:
            return None if unsure else False
    return True


def _match_in_order(gold: tuple[str, ...], pred: tuple[str, ...]) -> bool | None:
    if len(gold) != len(pred):
        return False
    results = [item_equal(g, p) for g, p in zip(gold, pred)]
    if False in results:
        return False
    return None if None in results else True


def cheap_equal(gold: str, pred: str) -> bool | None:
    """Decide equality of two cleaned answers without sympy when that is safe; None = undecided.

    Decides: equal keys; plain numbers (exactly); simple expressions by value; lists, tuples,
    intervals, sets and matrices of those (in order for tuples, intervals and matrices, whose
    brackets must match; in any order for bare lists and ``\\{...\\}`` sets). Everything else
    (``\\pm``, unions, equations, containers of different kinds) is left to sympy.

    Example:
        >>> cheap_equal("2, 3", "3, 2"), cheap_equal("[2, 5)", "[2, 5]"), cheap_equal("1", "x = 1")
        (True, False, None)
    """
    if ":" in gold or ":" in pred or _BASE_N.search(gold + " " + pred):
        return key(gold) == key(pred)  # times, ratios (12:00, 1:2) and base-n numbers (52_8): as written
    gc, pc = container(gold), container(pred)
    if gc is None and pc is None:
        return item_equal(gold, pred)
    if key(gold) == key(pred):
        return True
    if gc is None or pc is None or _PLUS_MINUS.search(gold + pred):
        return None
    if gc.unordered and pc.unordered:
        if "\\{" in (gc.opener, pc.opener):
            return _match_any_order(tuple(dict.fromkeys(gc.items)), tuple(dict.fromkeys(pc.items)))
        return _match_any_order(gc.items, pc.items)
    if gc.unordered or pc.unordered:
        return None
    if {gc.opener, pc.opener} == {"matrix", "("}:  # a vector written as a tuple
        matrix = gc if gc.opener == "matrix" else pc
        return _match_in_order(gc.items, pc.items) if 1 in matrix.shape else False
    if (gc.opener, gc.closer, gc.shape) != (pc.opener, pc.closer, pc.shape):
        return False
    return _match_in_order(gc.items, pc.items)
