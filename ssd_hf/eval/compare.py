"""How an answer is compared with the expected one; all of it runs in the evaluator, none in the sandbox.

Printed output (both graders): both texts are stripped, split at "\n" and each line stripped; the line
counts must agree; a line matches when equal as text, or when every whitespace-separated token of both
lines parses as a Decimal and the two lists of Decimals are equal (so `2.5` = `2.500`, `1e3` = `1000`).
A signaling NaN makes that comparison raise, as it does upstream; the caller turns that into a verdict.
Functional answers: lcb compares values with Python's `==` after a top-level tuple becomes a list (nested
tuples stay tuples, so they differ from lists; numpy scalars arrive as the numbers they equal); ml-ssd
compares str(answer) with str(expected) by the printed-output rule.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

DIGIT_CHUNK = 4000  # under Python's default int-from-text limit (4300 digits)


def _stripped_lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(token) for token in line.split()]
    except (InvalidOperation, ValueError):
        return None


def lines_match(got: str, expected: str) -> bool:
    """The printed-output rule above. May raise decimal.InvalidOperation (signaling NaN)."""
    got_lines, expected_lines = _stripped_lines(got), _stripped_lines(expected)
    if len(got_lines) != len(expected_lines):
        return False
    for g, e in zip(got_lines, expected_lines):
        if g == e:
            continue
        g_num, e_num = _decimals(g), _decimals(e)
        if g_num is None or e_num is None or g_num != e_num:
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


class Opaque:
    """An answer of a type we do not rebuild (the program's own class, a generator, a numpy array):
    it equals nothing, because judging it would mean running the program's code in the evaluator."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __eq__(self, other) -> bool:
        return False

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


def decode_value(tagged):
    """The runner's tagged JSON (sandbox_child.encode) back into Python values."""
    if isinstance(tagged, list):
        return [decode_value(v) for v in tagged]
    if not isinstance(tagged, dict):
        return tagged
    (tag, payload), = tagged.items()
    if tag == "t":
        return tuple(decode_value(v) for v in payload)
    if tag == "d":
        return {decode_value(k): decode_value(v) for k, v in payload}
    if tag in ("s", "f"):
        items = (decode_value(v) for v in payload)
        return set(items) if tag == "s" else frozenset(items)
    if tag == "i":
        return int(payload, 16)
    if tag == "b":
        return payload.encode("latin-1")
    if tag == "c":
        return complex(*payload)
    if tag == "o":
        return Opaque(str(payload))
    raise ValueError(f"unknown tag {tag!r}")


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
