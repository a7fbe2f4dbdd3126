"""Text-level half of the ``math`` verifier: find the final answer in a completion, clean it, compare cheaply.

Everything here is plain Python (regular expressions, `fractions.Fraction`), never evaluates model text
and runs in linear time on any input, so it can run inline in the caller's process; only what it cannot
decide goes on to the sympy stage in `rft.verifiers.math`.

    >>> extract_answer("so it is $\\\\boxed{\\\\frac12}$.")
    '\\\\frac12'
    >>> clean("\\\\left( 3, \\\\dfrac{\\\\pi}{2} \\\\right)")
    '(3, \\\\frac{\\\\pi}{2})'
    >>> cheap_equal(clean("0.5"), clean("\\\\frac{1}{2}"))
    True
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

# --- extraction ---------------------------------------------------------------------------------

_BOX_CMDS = ("\\boxed", "\\fbox")
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_ANSWER_PHRASE = re.compile(r"(?:final answer|the answer|^\s*answer)\s*(?:is|:)\s*:?", re.I | re.M)
_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.S)
_HOPE = re.compile(r"\s*\.?\s*I hope it is correct\.?\s*$", re.I)


def _braced(text: str, i: int) -> tuple[str, int] | None:
    """The content of the brace group opening at ``text[i] == '{'`` and the index after it."""
    depth = 0
    for j in range(i, len(text)):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j], j + 1
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces) or ``\\boxed 5``.

    Example:
        >>> last_boxed("\\\\boxed{1} then \\\\boxed{\\\\frac{1}{2}}")
        '\\\\frac{1}{2}'
    """
    start = max(text.rfind(cmd) for cmd in _BOX_CMDS)
    while start >= 0:
        cmd = next(c for c in _BOX_CMDS if text.startswith(c, start))
        i = start + len(cmd)
        rest = text[i:i + 1]
        if rest == "{":
            group = _braced(text, i)
            if group is not None:
                return group[0]
        elif rest == " ":
            m = re.match(r" +([^\s$]+)", text[i:i + 200])
            if m:
                return m.group(1)
        start = max(text.rfind(c, 0, start) for c in _BOX_CMDS)
    return None


def _math_in(span: str) -> str:
    """The first ``$...$`` (or ``\\(...\\)``) inside ``span``, else ``span`` itself."""
    m = _MATH_SPAN.search(span)
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


def extract_answer(text: str) -> str | None:
    """The final-answer span of a completion, or None when it states none.

    Looks, in order, for the last ``\\boxed{}``/``\\fbox{}``, the last ``<answer>...</answer>``,
    the last "final answer is ..." / "the answer is ...", and a ``$...$`` that ends the text.

    Example:
        >>> extract_answer("Final Answer: The final answer is $7$. I hope it is correct.")
        '7'
    """
    boxed = last_boxed(text)
    if boxed is not None and boxed.strip():
        return boxed.strip()
    tags = _ANSWER_TAG.findall(text)
    if tags and tags[-1].strip():
        return _math_in(tags[-1]).strip()
    phrase = None
    for phrase in _ANSWER_PHRASE.finditer(text):
        pass
    if phrase is not None:
        line = text[phrase.end():phrase.end() + 2000].strip().split("\n", 1)[0]
        line = _HOPE.sub("", line).strip()
        line = _math_in(line).strip().rstrip(".").strip()
        if line:
            return line
    trailing = _trailing_math(text)
    return trailing.strip() if trailing else None


# --- cleaning -----------------------------------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
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
    r"(?<=[\d}).\]a-zA-Z])\s*(?:(?:" + _TEXT_CMDS + r"\s*\{\s*[a-zA-Z][a-zA-Z .]*\}|(?<!\\)\b(?:" + _UNIT_WORDS
    + r")\b)(?:\s*\^\s*\{?[23]\}?)?\s*)+$")
_WORDS_TAIL = re.compile(r"(?<=[\d}).\]])(?:\s+[a-zA-Z]{2,}\.?)+(?:\s*\^\s*\{?[23]\}?)?\s*$")
_TRAILING_PUNCT = re.compile(r"[\s.,;:!]+$")
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
    if _PLAIN_NUMBER.match(s):
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


def numbers_equal(gold: Fraction, pred: Fraction, rel_tol: float = 1e-6) -> bool:
    """Exact for integer golds; within ``rel_tol`` (relative) otherwise, so ``0.333333`` matches ``1/3``."""
    if gold == pred:
        return True
    if gold.denominator == 1:
        return False
    return abs(gold - pred) <= Fraction(rel_tol) * max(abs(gold), abs(pred))


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
    """A bracketed or bare list: ``opener``/``closer`` are ``(``, ``[``, ``\\{``... or ``""`` when bare."""

    opener: str
    closer: str
    items: tuple[str, ...]

    @property
    def unordered(self) -> bool:
        return self.opener in ("", "\\{")


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
    """The list structure of a cleaned answer, or None when it is a single item."""
    pair = _outer_pair(s)
    if pair:
        opener, inner, closer = pair
        items = split_top_level(inner)
        if len(items) > 1 or opener == "\\{":
            return Container(opener, closer, tuple(items))
        return None
    items = split_top_level(s)
    return Container("", "", tuple(items)) if len(items) > 1 else None


def cheap_equal(gold: str, pred: str) -> bool | None:
    """Decide equality of two cleaned answers without sympy when that is safe; None = undecided.

    Decides: equal keys; two plain numbers; two lists, tuples, intervals or sets of plain numbers
    (in order for tuples and intervals, whose brackets must match; in any order for bare lists and
    ``\\{...\\}`` sets). Everything else (radicals, symbols, mixed containers) is left undecided.

    Example:
        >>> cheap_equal("2, 3", "3, 2"), cheap_equal("[2, 5)", "[2, 5]"), cheap_equal("1", "x")
        (True, False, None)
    """
    if key(gold) == key(pred):
        return True
    g, p = parse_number(gold), parse_number(pred)
    if g is not None and p is not None:
        return numbers_equal(g, p)
    gc, pc = container(gold), container(pred)
    if gc is None or pc is None:
        return None
    gn = [parse_number(x) for x in gc.items]
    pn = [parse_number(x) for x in pc.items]
    if any(x is None for x in gn) or any(x is None for x in pn):
        return None
    if gc.unordered and pc.unordered:
        if "\\{" in (gc.opener, pc.opener):
            return set(gn) == set(pn)
        return Counter(gn) == Counter(pn)
    if gc.unordered or pc.unordered:
        return None
    if (gc.opener, gc.closer) != (pc.opener, pc.closer) or len(gn) != len(pn):
        return False
    return all(numbers_equal(a, b) for a, b in zip(gn, pn))  # type: ignore[arg-type]
