"""`ssd-hf push samples|model|results|run PATH`: share a run's artifacts on the Hub."""

from __future__ import annotations

import argparse
import logging

from .. import publish

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ssd-hf push", description="Push SSD samples, a trained model, "
                                     "evaluation results or a whole run to the Hugging Face Hub, with cards written "
                                     "from provenance.")
    parser.add_argument("kind", choices=["samples", "model", "results", "run"], help="what PATH holds")
    parser.add_argument("path", help="samples dir, model/adapter dir, results JSON file, or a run's output_dir")
    parser.add_argument("--repo_id", default=None, help="target repo, e.g. me/qwen3-4b-ssd (`run`: the model repo, "
                        "default the folder's name; the others are named after it)")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--revision", default=None, help="branch to push samples to (default main)")
    parser.add_argument("--results", action="append", default=[], help="results JSON to include with `push model` or "
                        "`push run` (default: the folder's eval/results.json, and a local base model's)")
    parser.add_argument("--traces_repo", default=None, help="dataset for the evaluation traces (default <repo>-eval-traces)")
    parser.add_argument("--collection", default=None, help="`run`: gather every repo in the Hub Collection of this title")
    parser.add_argument("--space_dir", default=None, help="`run`: a Space assembled by `ssd-hf space push --output_dir`")
    parser.add_argument("--space_repo", default=None, help="`run`: the Space repo to push --space_dir to")
    parser.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or `hf auth login`)")
    return parser


def main(argv: list[str]) -> int:
    """Entry point of `ssd-hf push`; SSDError propagates to the dispatcher, which prints one line."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.kind != "run" and not args.repo_id:
        parser.error(f"`push {args.kind}` needs --repo_id, e.g. --repo_id me/qwen3-4b-ssd")
    if args.kind == "samples":
        url = publish.push_samples(args.path, args.repo_id, private=args.private, token=args.token, revision=args.revision)
    elif args.kind == "model":
        url = publish.push_model(args.path, args.repo_id, private=args.private, token=args.token,
                                 results=args.results or None, traces_repo=args.traces_repo)
    elif args.kind == "results":
        url = publish.push_results(args.path, args.repo_id, token=args.token, traces_repo=args.traces_repo)
    else:
        from ..publish_run import push_run

        pushed = push_run(args.path, args.repo_id, args.collection, private=args.private, token=args.token,
                          results=args.results, traces_repo=args.traces_repo, space_dir=args.space_dir,
                          space_repo=args.space_repo)
        for repo_id, repo_type, _ in pushed.items:
            print(f"{repo_type}: {repo_id}")  # noqa: T201 - the CLI's result, for scripts
        url = pushed.collection_url or pushed.model
    logger.info("Pushed %s to %s", args.kind, url)
    print(url)  # noqa: T201 - the CLI's result, for scripts
    return 0
