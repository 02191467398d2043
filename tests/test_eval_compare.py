"""The evaluator's comparison rules: printed output compared token by token without holding every token as
an object (the same answers as the whole-line rule it replaced), and exact answers compared as Python does."""

import random
from decimal import Decimal, InvalidOperation
from fractions import Fraction

import pytest

from ssd_hf.eval.compare import call_answer_matches, decode_value, lines_match
from ssd_hf.eval.sandbox_values import encode


def whole_line_rule(got: str, expected: str) -> bool:
    """The rule as upstream writes it: every token of both lines made a Decimal, then the lists compared."""
    g_lines, e_lines = [x.strip() for x in got.strip().split("\n")], [x.strip() for x in expected.strip().split("\n")]
    if len(g_lines) != len(e_lines):
        return False
    for g, e in zip(g_lines, e_lines):
        if g == e:
            continue
        try:
            g_num, e_num = [Decimal(t) for t in g.split()], [Decimal(t) for t in e.split()]
        except (InvalidOperation, ValueError):
            return False
        if g_num != e_num:
            return False
    return True


def test_token_by_token_gives_the_whole_line_answers():
    rng = random.Random(7)
    tokens = ["1", "1.0", "1e0", "2", "2.50", "2.5", "-0", "0", "abc", "NaN", "inf", "Infinity", "1_0", "10"]
    for _ in range(3000):
        def line():
            return rng.choice([" ", "  ", "\t"]).join(rng.choice(tokens) for _ in range(rng.randint(0, 4)))
        got = "\n".join(line() for _ in range(rng.randint(1, 3))) + rng.choice(["", "\n", " \n"])
        expected = "\n".join(line() for _ in range(rng.randint(1, 3)))
        assert lines_match(got, expected) == whole_line_rule(got, expected), (got, expected)


def test_a_signaling_nan_still_raises_as_upstream():
    with pytest.raises(InvalidOperation):
        lines_match("sNaN 1", "1 1")


def test_a_line_of_millions_of_numbers_is_refused_at_the_expected_count():
    assert lines_match("1 " * 2_000_000, "1 2") is False


def test_exact_answers_compare_as_python_compares_them():
    assert call_answer_matches(decode_value(encode(Fraction(1, 2))), 0.5)
    assert call_answer_matches(decode_value(encode(Decimal("2.5"))), 2.5)
    assert not call_answer_matches(decode_value(encode(Fraction(1, 3))), 0.5)
    assert call_answer_matches(decode_value(encode((Fraction(3, 1), Decimal("1")))), [3, 1])


def test_objects_of_other_types_equal_nothing():
    class Yes:
        def __eq__(self, other):
            return True

    assert decode_value(encode(Yes())) != decode_value(encode(Yes()))
    assert not call_answer_matches(decode_value(encode(Yes())), 3)
