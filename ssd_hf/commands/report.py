"""`ssd-hf report`: one report.md with PNG plots from result folders or a run folder.

    ssd-hf report RUN_DIR                                  # controls/ and each round of an `ssd-hf run`
    ssd-hf report BASE_EVAL/ SSD_MODEL/ --transfer MBPP_BASE/ MBPP_SSD/ --output report/

Results on different problem sets or graders are refused in one line naming both (docs/report.md).
"""

from __future__ import annotations

import argparse
import os

from ..errors import SSDError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssd-hf report", description="Base controls vs SSD rounds, paired differences, "
                                "sweeps, transfer, habits and cost, from results files.")
    p.add_argument("results", nargs="+", help="results.json files, `ssd-hf eval --output` folders, model folders "
                   "(their eval/results.json) or a run folder; all on one problem set and grader.")
    p.add_argument("--transfer", nargs="*", default=[], help="results on other sets (MBPP, HumanEval+ ...): compared "
                   "within each set.")
    p.add_argument("--label", action="append", default=[], metavar="PATH=NAME", help="name a results file in the report.")
    p.add_argument("--output", default=None, help="folder for report.md and plots/ (default: <first folder>/report).")
    return p


def _groups(entries) -> list[list]:
    groups: dict[tuple, list] = {}
    for entry in entries:
        groups.setdefault((entry.selection.get("name"), entry.selection.get("ids_sha256")), []).append(entry)
    return list(groups.values())


def make_report(results: list[str], output: str, transfer: list[str] | None = None,
                labels: dict[str, str] | None = None) -> tuple[str, dict]:
    """Write the report; returns (report.md path, the report's numbers)."""
    from ..report import render
    from ..report.inputs import load_entries

    entries = load_entries(results, labels)
    transfer_entries = load_entries(transfer, labels) if transfer else []
    report = render.build(entries, _groups(transfer_entries))
    os.makedirs(output, exist_ok=True)
    return render.write(report, entries, _groups(transfer_entries), output), report


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    labels = {}
    for item in args.label:
        path, sep, name = item.rpartition("=")
        if not sep:
            raise SSDError(f"--label {item!r} needs PATH=NAME")
        from ..report.inputs import results_path

        labels[results_path(path)] = name
    first = args.results[0]
    output = args.output or os.path.join(first if os.path.isdir(first) else os.path.dirname(first), "report")
    path, report = make_report(args.results, output, args.transfer, labels)
    print("\n".join(report["summary"]) or "No SSD model and base to compare.")
    print(f"report: {path}")
    return 0
