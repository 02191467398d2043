"""How an answer is compared with the expected one; all of it runs in the evaluator, none in the sandbox.

Printed output (both graders): both texts are stripped, split at "\n" and each line stripped; the line
counts must agree; a line matches when equal as text, or when every whitespace-separated token of both
lines parses as a Decimal and the two lists of Decimals are equal (so `2.5` = `2.500`, `1e3` = `1000`).
A signaling NaN makes that comparison raise, as it does upstream; the caller turns that into a verdict.
Functional answers: lcb compares values with Python's `==` after a top-level tuple becomes a list (nested
tuples stay tuples, so they differ from lists; numpy scalars arrive as the numbers they equal, Fraction and
Decimal answers as themselves, so `Fraction(1, 2) == 0.5` as there); ml-ssd
compares str(answer) with str(expected) by the printed-output rule.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from itertools import zip_longest

from .sandbox_values import decode

DIGIT_CHUNK = 4000  # under Python's default int-from-text limit (4300 digits)


TOKEN = re.compile(r"\S+")


def _lines(text: str):
    """The lines of `text` stripped as a whole, each line stripped, without copying the whole text."""
    start, end = len(text) - len(text.lstrip()), len(text.rstrip())
    while True:
        stop = text.find("\n", start, end)
        yield text[start:end if stop < 0 else stop].strip()
        if stop < 0:
            return
        start = stop + 1


def _line_count(text: str) -> int:
    start, end = len(text) - len(text.lstrip()), len(text.rstrip())
    return text.count("\n", start, end) + 1


def _same_numbers(got: str, expected: str) -> bool:
    """Both lines' tokens as Decimals, equal pairwise. Token by token, so a line of millions of numbers is
    never held as millions of objects: first every pair must parse (and the counts agree), then the values
    are compared in order (where a signaling NaN raises, as upstream's list comparison does)."""
    for pass_ in ("parse", "compare"):
        pairs = zip_longest(TOKEN.finditer(got), TOKEN.finditer(expected))
        for g, e in pairs:
            if g is None or e is None:
                return False
            try:
                g_num, e_num = Decimal(g.group()), Decimal(e.group())
            except (InvalidOperation, ValueError):
                return False
            if pass_ == "compare" and g_num != e_num:
                return False
    return True


def lines_match(got: str, expected: str) -> bool:
    """The printed-output rule above, in memory that does not grow with the number of tokens. May raise
    decimal.InvalidOperation (signaling NaN)."""
    if _line_count(got) != _line_count(expected):
        return False
    for g, e in zip(_lines(got), _lines(expected)):
        if g != e and not _same_numbers(g, e):
            return False
    return True


def big_int(text: str) -> int:
    """int(text) with no digit limit: upstream parses expected outputs with the limit raised to 50,000
    digits, and a value may exceed our process's default of 4,300."""
    if len(text) <= DIGIT_CHUNK:
        return int(text)
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    head, tail = digits[:-DIGIT_CHUNK], digits[-DIGIT_CHUNK:]
    return sign * (big_int(head) * 10**DIGIT_CHUNK + int(tail))


def load_json(text: str):
    """json.loads that reads integers of any length."""
    return json.loads(text, parse_int=big_int)


def decode_value(tagged):
    """The runner's tagged JSON (sandbox_values.encode) back into Python values: data only, nothing of the
    program's (an object of another type is an Opaque that equals nothing of ours)."""
    return decode(tagged)


def call_answer_matches(got, expected) -> bool:
    """lcb: a top-level tuple becomes a list, then plain ==."""
    if isinstance(got, tuple):
        got = list(got)
    return bool(got == expected)


def mlssd_expected_text(output: str) -> str:
    """ml-ssd: the expected output stripped, read as JSON when it is JSON, then str() of that value."""
    text = output.strip()
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, str) else str(value)
