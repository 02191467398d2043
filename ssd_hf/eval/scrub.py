"""Scrub secrets from text a candidate program produced, and cap it, before it enters any file.

Why here and not only in the sandbox: the sandbox keeps secrets out of a program's reach, but anything a
program prints (stderr, a wrong answer) ends up in results.json, which `ssd-hf push` publishes. So every
such string passes through `safe_detail` first: the value of every secret-looking variable of our
environment and anything shaped like a well-known token is replaced by "***", and the text is cut to a
few hundred characters.
"""

from __future__ import annotations

import os
import re

SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
# Shapes of tokens worth hiding even when they are not in our environment (read from a file, say).
TOKEN_SHAPES = re.compile(
    r"hf_[A-Za-z0-9]{20,}|ghp_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|sk-[A-Za-z0-9_-]{16,}"
    r"|AKIA[0-9A-Z]{16}|xox[abpr]-[A-Za-z0-9-]{10,}"
)
DETAIL_CHARS = 300


def scrub_secrets(text: str) -> str:
    """`text` with secret values of our environment and token-shaped strings replaced by "***" (values
    under 4 characters are too short to be secrets and would mangle unrelated text)."""
    for name, value in os.environ.items():
        if len(value) >= 4 and SECRET_NAME.search(name) and value in text:
            text = text.replace(value, "***")
    return TOKEN_SHAPES.sub("***", text)


def safe_detail(text: str, limit: int = DETAIL_CHARS) -> str:
    """Scrubbed, then cut to `limit` characters (scrubbing first, so a cut never leaves half a secret)."""
    text = scrub_secrets(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
