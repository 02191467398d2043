"""Pull the program out of a model completion, by the rule of the grader in use.

lcb (LiveCodeBench's rule): the text between the LAST TWO lines that contain a code fence (```),
whatever the language tag or info string after it; fewer than two such lines means no program. Lines are
split at "\n" only, so CRLF completions are found (the "\r" stays at the line ends, which Python accepts).
A trailing block that is not Python (sample output, another language) is what gets run, as upstream.
ml-ssd (the paper's harness): the last match of ```<letters>\n ... ``` (a fence whose tag is letters
only, followed directly by a newline), then cut at "</code>", "```python" removed, cut at the next
"```", "<code>" removed.
No program means verdict `no_code`, never "run the whole text".
"""

from __future__ import annotations

import re

_MLSSD_BLOCK = re.compile(r"```[A-Za-z]*\n(.*?)```", re.DOTALL)


def last_fenced_block(completion: str) -> str | None:
    """The text between the last two lines that contain a code fence, or None with fewer than two such lines."""
    lines = (completion or "").split("\n")
    fences = [i for i, line in enumerate(lines) if "```" in line]
    if len(fences) < 2:
        return None
    return "\n".join(lines[fences[-2] + 1: fences[-1]])


def extract_lcb(completion: str) -> str | None:
    code = last_fenced_block(completion)
    return code if code and code.strip() else None


def extract_mlssd(completion: str) -> str | None:
    blocks = _MLSSD_BLOCK.findall(completion or "")
    if not blocks:
        return None
    code = blocks[-1].split("</code>")[0].replace("```python", "").split("```")[0].replace("<code>", "")
    return code if code.strip() else None


EXTRACTORS = {"lcb": extract_lcb, "ml-ssd": extract_mlssd}


def extract_code(completion: str, grader: str = "lcb") -> str | None:
    """The program the named grader would run, or None."""
    return EXTRACTORS[grader](completion)
