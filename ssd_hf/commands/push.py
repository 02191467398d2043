"""`ssd-hf push samples|model|results PATH --repo_id ID`: share a run's artifacts on the Hub."""

from __future__ import annotations

import argparse
import logging

from .. import publish

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ssd-hf push", description="Push SSD samples, a trained model or "
                                     "evaluation results to the Hugging Face Hub, with cards written from provenance.")
    parser.add_argument("kind", choices=["samples", "model", "results"], help="what PATH holds")
    parser.add_argument("path", help="samples dir, model/adapter dir, or results JSON file")
    parser.add_argument("--repo_id", required=True, help="target repo, e.g. me/qwen3-4b-ssd")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--revision", default=None, help="branch to push samples to (default main)")
    parser.add_argument("--results", action="append", default=[], help="results JSON to include with `push model` "
                        "(default: the folder's eval/results.json, and a local base model's)")
    parser.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or `hf auth login`)")
    return parser


def main(argv: list[str]) -> int:
    """Entry point of `ssd-hf push`; SSDError propagates to the dispatcher, which prints one line."""
    args = _parser().parse_args(argv)
    if args.kind == "samples":
        url = publish.push_samples(args.path, args.repo_id, private=args.private, token=args.token, revision=args.revision)
    elif args.kind == "model":
        url = publish.push_model(args.path, args.repo_id, private=args.private, token=args.token, results=args.results or None)
    else:
        url = publish.push_results(args.path, args.repo_id, token=args.token)
    logger.info("Pushed %s to %s", args.kind, url)
    print(url)  # noqa: T201 - the CLI's result, for scripts
    return 0
