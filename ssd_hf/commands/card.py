"""`ssd-hf card DIR`: render the card a push would upload, locally and without a Hub.

A model or adapter folder (with `ssd_provenance.json`) gives its model card, with the results found
beside it (`<DIR>/eval/results.json`, and a local base model's own, or `--results FILE`); a samples folder gives its dataset card.
"""

from __future__ import annotations

import argparse
import os

from ..errors import SSDError
from ..records import PROVENANCE_FILE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ssd-hf card", description=__doc__.splitlines()[0])
    parser.add_argument("path", help="a trained model/adapter folder, or a samples folder")
    parser.add_argument("--repo_id", default=None, help="the repo the card will name (default OWNER/NAME)")
    parser.add_argument("--results", action="append", default=[], help="results JSON to include (repeatable)")
    parser.add_argument("--output", default=None, help="write the card to this file instead of printing it")
    return parser


def render(path: str, repo_id: str | None = None, results: list[str] | None = None) -> str:
    from .. import cards
    from ..publish import load_results, model_folder_results

    if os.path.isfile(os.path.join(path, PROVENANCE_FILE)):
        found = list(results or []) or model_folder_results(path)
        return cards.render_model_card(path, load_results(found) or None, repo_id)
    if os.path.isdir(os.path.join(path, "data")):
        return cards.render_dataset_card(path, repo_id)
    raise SSDError(f"{path} is neither a trained model (no {PROVENANCE_FILE}) nor a samples folder (no data/); "
                   "give the --output_dir of `ssd-hf train` or a samples dir.")


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    text = render(args.path, args.repo_id, args.results)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
        print(f"card written to {args.output}")
    else:
        print(text)
    return 0
