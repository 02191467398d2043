"""Pull the program out of a model completion: the LAST ```python block, as LiveCodeBench does.

Why the last: reasoning models often sketch code first and give the final program at the end.
No block means no program (verdict `no_code`), never "run the whole text".
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*(python3?|py)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


def extract_code(completion: str) -> str | None:
    """The body of the last ```python (or ```py) block; an unclosed final block counts; None if none."""
    blocks = _FENCE.findall(completion or "")
    if not blocks:
        return None
    code = blocks[-1][1].strip("\n")
    return code if code.strip() else None
