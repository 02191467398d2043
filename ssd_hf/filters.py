"""The only filters SSD applies to its own samples, with counts for the cards.

The paper keeps everything except empty responses and single-line stubs: no execution, no tests, no
correctness check. The public data script also drops the shortest 10% by characters; that is offered
as `drop_shortest_fraction` and is off by default.
"""

from __future__ import annotations

from .eval.extract import last_fenced_block


def _content_lines(completion: str) -> list[str]:
    """Non-blank lines of the last code block (the evaluator's rule for finding it), or of the whole text
    when there is no block."""
    block = last_fenced_block(completion)
    body = completion if block is None else block
    return [line for line in body.splitlines() if line.strip()]


def is_empty_or_stub(completion: str) -> bool:
    """Empty, whitespace only, or at most one non-blank line of content."""
    return len(_content_lines(completion or "")) <= 1


def apply_filters(dataset, drop_empty_and_stubs: bool = True, drop_shortest_fraction: float = 0.0):
    """Return (filtered dataset, stats) where stats counts what each filter removed, in order."""
    stats = {"before": len(dataset), "removed": {}}
    if drop_empty_and_stubs:
        before = len(dataset)
        dataset = dataset.filter(lambda row: not is_empty_or_stub(row["completion"]), desc="Dropping empty/stub samples")
        stats["removed"]["empty_or_stub"] = before - len(dataset)
    if drop_shortest_fraction > 0 and len(dataset):
        lengths = sorted(len(c) for c in dataset["completion"])
        cut = int(len(lengths) * drop_shortest_fraction)
        threshold = lengths[cut] if cut < len(lengths) else lengths[-1] + 1
        before = len(dataset)
        # Drop exactly `cut` rows: all strictly shorter than the threshold, then ties in order.
        keep_ties = (len(lengths) - cut) - sum(1 for n in lengths if n > threshold)
        indices, ties = [], 0
        for index, completion in enumerate(dataset["completion"]):
            if len(completion) > threshold:
                indices.append(index)
            elif len(completion) == threshold and ties < keep_ties:
                indices.append(index)
                ties += 1
        dataset = dataset.select(indices)
        stats["removed"]["shortest_fraction"] = before - len(dataset)
    stats["after"] = len(dataset)
    return dataset, stats
