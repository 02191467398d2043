"""Values as data, inside the sandbox: how an answer (or a HumanEval call's arguments) crosses a process border.

Runs inside the sandbox as part of the runner (sandbox.py loads it ahead of sandbox_child.py); it imports
nothing from ssd_hf. The tagged JSON keeps what Python's `==` sees: tuples, dict keys of any type, sets,
big ints, exact fractions and decimals, numpy scalars (as the Python numbers they equal). Objects of other
types travel as their type name only, so no object of the program's can answer a comparison itself.
The evaluator reads the same tags back in compare.decode_value; `decode` here serves HumanEval's checks.
"""

import json
import sys

BIG_INT_BITS = 12000  # about 3,600 digits: larger ints travel as hex, which no digit limit applies to


def encode(value):
    """`value` as tagged JSON data (see the module docstring)."""
    kind = type(value)
    if value is None or kind in (bool, str, float):
        return value
    if kind is int:
        return value if value.bit_length() <= BIG_INT_BITS else {"i": hex(value)}
    if kind is list:
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {"t": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"d": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, (set, frozenset)):
        return {"f" if isinstance(value, frozenset) else "s": [encode(v) for v in value]}
    exact = _exact_number(value, kind)
    if exact is not None:
        return exact
    if kind.__module__ == "numpy" and getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return encode(value.item())  # numpy scalars equal the Python numbers they hold
    if kind.__module__ == "numpy" and kind.__name__ == "ndarray":  # upstream's `==` gives an array: an error there
        raise TypeError("the answer is a numpy array, whose == comparison with a list is not a truth value")
    for base in (bool, int, float, str, list):
        if isinstance(value, base):
            return encode(base(value))
    if isinstance(value, (bytes, bytearray)):
        return {"b": bytes(value).decode("latin-1")}
    if isinstance(value, complex):
        return {"c": [value.real, value.imag]}
    return {"o": f"{kind.__module__}.{kind.__qualname__}"}


def _exact_number(value, kind):
    """Fraction and Decimal (exactly those types, not the program's subclasses) as their exact data."""
    fractions, decimal = sys.modules.get("fractions"), sys.modules.get("decimal")
    if fractions is not None and kind is fractions.Fraction:
        return {"q": [encode(value.numerator), encode(value.denominator)]}
    if decimal is not None and kind is decimal.Decimal:
        return {"m": str(value)}
    return None


class Opaque:
    """A value of a type not rebuilt as data: it equals nothing but itself."""

    def __init__(self, type_name):
        self.type_name = type_name

    def __eq__(self, other):
        return self is other

    __hash__ = object.__hash__

    def __repr__(self):
        return f"<{self.type_name}>"


def decode(tagged):
    """Tagged JSON back into Python values (Fraction and Decimal imported only when one arrives)."""
    if isinstance(tagged, list):
        return [decode(v) for v in tagged]
    if not isinstance(tagged, dict):
        return tagged
    (tag, payload), = tagged.items()
    if tag == "t":
        return tuple(decode(v) for v in payload)
    if tag == "d":
        return {decode(k): decode(v) for k, v in payload}
    if tag in ("s", "f"):
        items = (decode(v) for v in payload)
        return set(items) if tag == "s" else frozenset(items)
    if tag == "i":
        return int(payload, 16)
    if tag == "q":
        from fractions import Fraction

        return Fraction(decode(payload[0]), decode(payload[1]))
    if tag == "m":
        from decimal import Decimal

        return Decimal(payload)
    if tag == "b":
        return payload.encode("latin-1")
    if tag == "c":
        return complex(*payload)
    if tag == "o":
        return Opaque(str(payload))
    raise ValueError(f"unknown tag {tag!r}")


def mlssd_scalar(text, unquote=False):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text.strip('"') if unquote else text


def mlssd_args(text):
    """ml-ssd's reading of a functional test input: `name = value` pairs split at commas, else one value
    per line: a quoted line is a string (quotes stripped, no unescaping), a bracketed line is JSON, then
    int, float, or the raw text (so `true` and `{...}` stay strings)."""
    if "=" in text:
        parts = text.split(",") if "," in text else [text]
        values = []
        for part in parts:
            _key, value = (s.strip() for s in part.split("="))
            values.append(mlssd_scalar(value, unquote=True))
        return values
    values = []
    for line in (raw.strip() for raw in text.split("\n")):
        if not line:
            continue
        if line.startswith('"') and line.endswith('"'):
            values.append(line.strip('"'))
        elif line.startswith("[") and line.endswith("]"):
            values.append(json.loads(line))
        else:
            values.append(mlssd_scalar(line))
    return values
