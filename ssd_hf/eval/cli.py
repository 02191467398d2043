"""`ssd-hf eval`: score given completions, or generate and score, with sweeps and the decode baseline.

    ssd-hf eval --problems P.jsonl --solutions S.jsonl --output R/
    ssd-hf eval --benchmark humaneval --solutions S.jsonl --output R/
    ssd-hf eval --model M --benchmark lcb-v6 --n 10 --temperature 1.1 --top_k 20 --top_p 0.8 --output R/
    ssd-hf eval --model M --sweep_temperature 0.5:1.5:0.1 --heldout_problems lcb-v5-heldout ...
    ssd-hf eval --model BASE --decode_baseline ...
    ssd-hf eval ... --grader ml-ssd        # the paper's own harness rules instead of LiveCodeBench's

The output folder is checked before anything runs; verdicts go to OUTPUT/verdicts.jsonl as they are
judged, so rerunning the same command after a kill or an error judges only what is missing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections import Counter

from ..errors import SSDError
from .generation import Generator, add_engine_arguments, engine_settings
from .graders import GRADERS, get_grader
from .isolation import choose_backend, choose_layers
from .problems import load_problems
from .results import build_results, write_results
from .runner import (
    default_workers,
    parse_grid,
    read_solutions,
    score_completions,
    ssd_train_temperature,
)
from .sandbox import SandboxLimits
from .verdict_store import VerdictStore, prepare_output

logger = logging.getLogger(__name__)
DEFAULT_BASELINE_GRID = "0.5:1.5:0.1"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssd-hf eval", description="Evaluate code generation (LiveCodeBench, HumanEval) in a sandbox.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", help="Hub id or local folder to generate with (omit when passing --solutions).")
    p.add_argument("--model_revision", default=None, help="Hub revision of --model (branch, tag or commit).")
    p.add_argument("--benchmark", default=None, help="lcb-v6 (default; the paper's window), lcb-v6-delta, lcb-release-v6, lcb-v5-heldout, humaneval, humaneval-plus, mbpp, "
                   "or custom (with --problems; with mbpp/humaneval-plus, --problems is a JSONL of their rows).")
    p.add_argument("--problems", default=None, help="LCB-schema JSONL file, 'fixtures', or a release name (release_v6, v5 ...).")
    p.add_argument("--solutions", default=None, help="JSONL of {question_id|task_id, completion} to score without a model.")
    p.add_argument("--output", default=None, help="Directory for results.json and cached generations (default: "
                   "<model>/eval for a local model folder, where `ssd-hf card`, push and the Space look; else eval_results).")
    p.add_argument("--start_date", default=None, help="Keep problems with contest_date >= this (YYYY-MM-DD).")
    p.add_argument("--end_date", default=None, help="Keep problems with contest_date <= this (YYYY-MM-DD).")
    p.add_argument("--release", default=None, help="LiveCodeBench release file set (release_v6 ...).")
    p.add_argument("--limit", type=int, default=None, help="Only the first N selected problems.")
    p.add_argument("--n", type=int, default=10, help="Samples per problem.")
    p.add_argument("--temperature", type=float, default=1.0, help="T_eval: sampling temperature of the evaluated model.")
    p.add_argument("--top_k", type=int, default=20, help="Top-k truncation after temperature; 0 disables it.")
    p.add_argument("--top_p", type=float, default=0.8, help="Top-p truncation over the top-k survivors, in (0, 1].")
    p.add_argument("--max_new_tokens", type=int, default=4096, help="Generation budget per completion.")
    p.add_argument("--seed", type=int, default=0, help="Base seed; each completion derives its own.")
    p.add_argument("--system_prompt", default=None, help="Override the default system prompt ('' for none).")
    p.add_argument("--no_chat_template", action="store_true", help="Send raw prompts, without the model's chat template.")
    p.add_argument("--sweep_temperature", default=None, help="Grid of T_eval, start:stop:step or a comma list.")
    p.add_argument("--decode_baseline", action="store_true", help="Sweep the (base) model's T_eval and record its best as the bar to beat.")
    p.add_argument("--heldout_problems", default=None, help="Choose T_eval on these problems (e.g. lcb-v5-heldout), report on --problems/--benchmark.")
    p.add_argument("--heldout_start_date", default=None, help="Date window start for --heldout_problems.")
    p.add_argument("--heldout_end_date", default=None, help="Date window end for --heldout_problems.")
    p.add_argument("--timeout", type=float, default=6.0, help="Per-test wall-time limit in seconds (LCB: 6).")
    p.add_argument("--memory_mb", type=int, default=4096, help="Memory limit per program: for all its processes and pages (cgroup), and per process (RLIMIT_AS).")
    p.add_argument("--workers", type=int, default=None, help="Parallel sandboxes (default: all cores).")
    p.add_argument("--grader", default="lcb", choices=sorted(GRADERS),
                   help="Whose rules judge: lcb (LiveCodeBench's official harness, default) or ml-ssd (the paper's harness).")
    p.add_argument("--sandbox", default="auto", choices=("auto", "bwrap", "fallback"),
                   help="auto: bubblewrap, else the weaker fallback with a warning; bwrap: require it; fallback: limits only.")
    p.add_argument("--sandbox_cgroup", default="auto", choices=("auto", "off"),
                   help="auto: a cgroup per program (memory and process limits for the whole program) where one can be "
                        "made, else a warning; off: per-process limits only.")
    add_engine_arguments(p)
    return p


def check_options(args) -> None:
    """Bad numbers stop here with one line, before any model is loaded or any program is run."""
    checks = [
        (args.temperature > 0, f"--temperature must be > 0 (got {args.temperature:g}); evaluation samples, e.g. 0.6 to 1.2"),
        (0 < args.top_p <= 1, f"--top_p must be in (0, 1] (got {args.top_p:g}); use 1.0 to disable nucleus truncation"),
        (args.top_k >= 0, f"--top_k must be >= 0 (got {args.top_k}); use 0 to disable top-k truncation"),
        (args.n >= 1, f"--n must be at least 1 (got {args.n}); it is the number of samples per problem"),
        (args.max_new_tokens >= 1, f"--max_new_tokens must be at least 1 (got {args.max_new_tokens})"),
        (args.timeout > 0, f"--timeout must be > 0 seconds (got {args.timeout:g}); LiveCodeBench uses 6"),
        (args.memory_mb > 0, f"--memory_mb must be > 0 (got {args.memory_mb})"),
        (args.workers is None or args.workers >= 1, f"--workers must be at least 1 (got {args.workers})"),
        (args.limit is None or args.limit >= 1, f"--limit must be at least 1 (got {args.limit})"),
    ]
    for ok, message in checks:
        if not ok:
            raise SSDError(message)
    if args.sweep_temperature:
        bad = [t for t in parse_grid(args.sweep_temperature) if not t > 0]
        if bad:
            raise SSDError(f"--sweep_temperature values must be > 0 (got {bad[0]:g}); start the grid above 0, e.g. 0.1:1.5:0.1")


def _problems(args):
    bench = args.benchmark or ("custom" if args.problems else "lcb-v6")
    if bench == "humaneval":
        from .humaneval import load_humaneval
        from .problem_sets import selection_record

        problems, selection = load_humaneval()
        if args.limit:
            problems = problems[: args.limit]
            selection = selection_record("humaneval", selection["description"] + f", first {args.limit}",
                                         [p.question_id for p in problems], whole_set=False)
        return bench, problems, selection
    if bench in ("mbpp", "humaneval-plus"):
        from .transfer import load_transfer

        problems, selection = load_transfer(bench, args.problems, args.limit)
        return bench, problems, selection
    source = args.problems or bench
    problems, selection = load_problems(source, args.start_date, args.end_date, args.release, args.limit)
    return bench, problems, selection


RUN_FILE = "eval_run.json"
# Flags that change how fast an evaluation runs, not what it finds: a rerun may change them and still resume.
SPEED_FLAGS = {"output", "workers", "batch_size", "concurrency", "request_timeout", "max_retries",
               "vllm_gpu_memory_utilization", "vllm_enforce_eager", "vllm_tensor_parallel_size"}


def claim_output(args) -> None:
    """An output folder holds one evaluation: the same command resumes in it, another one is refused (it would
    overwrite results.json, or mix its verdicts with the earlier run's)."""
    from ..records import atomic_write

    what = {k: os.path.abspath(v) if k == "solutions" and v else v for k, v in sorted(vars(args).items())
            if k not in SPEED_FLAGS}
    path = os.path.join(args.output, RUN_FILE)
    holds = [n for n in ("results.json", "verdicts.jsonl", "generations") if os.path.exists(os.path.join(args.output, n))]
    if os.path.exists(path) and holds:
        try:
            with open(path, encoding="utf-8") as handle:
                before = json.load(handle)
        except (OSError, ValueError):
            before = {}
        changed = [k for k in sorted(set(before) | set(what)) if before.get(k) != what.get(k)]
        if changed:
            k = changed[0]
            raise SSDError(f"--output {args.output} holds another evaluation (its --{k} was {before.get(k)!r}, this "
                           f"one is {what.get(k)!r}); pass another --output, or delete the folder to start over there.")
        return
    if "results.json" in holds:
        raise SSDError(f"--output {args.output} holds the results.json of an earlier evaluation; pass another --output, "
                       "or delete the folder to start over there.")
    atomic_write(path, json.dumps(what, indent=1, default=str) + "\n")


def _decoding(args, temperature):
    return {"temperature": temperature, "top_k": args.top_k, "top_p": args.top_p, "max_new_tokens": args.max_new_tokens}


def _main_process() -> bool:
    """Under a launch every rank generates its share; only the main process judges (one verdict store)."""
    from accelerate import PartialState

    return PartialState().is_main_process


def _share(value):
    """The main process's value on every rank (the sweep's chosen T_eval), or the value itself in one process.
    The other ranks may wait here for as long as the main process judges (nodes.from_main)."""
    from .. import nodes

    return nodes.from_main(value)


def _score(problems, completions, limits, args):
    if not _main_process():
        return None
    return score_completions(problems, completions, limits, args.workers, grader=get_grader(args.grader),
                             store=VerdictStore(args.output))


def _params(args, temperature):
    from ..records import SamplingParams

    return SamplingParams(temperature=temperature, top_k=args.top_k, top_p=args.top_p,
                          max_new_tokens=args.max_new_tokens, seed=args.seed)


def _evaluate_at(gen, args, problems, temperature, tag, limits):
    params = _params(args, temperature)
    samples_dir = os.path.join(args.output, "generations", f"{tag}-T{temperature:g}")
    completions = gen.generate(problems, params, args.n, samples_dir)
    return _score(problems, completions, limits, args)


def _sweep(gen, args, problems, grid, bench, config, limits, tag):
    from .results import aggregates_for

    t_train = ssd_train_temperature(args.model) if args.model and os.path.isdir(args.model) else None
    points, best = [], None
    for t in grid:
        samples = _evaluate_at(gen, args, problems, t, tag, limits)
        if samples is None:  # another rank judges
            continue
        res = build_results(bench, config, problems, samples, args.seed, get_grader(args.grader).record())
        point = {"temperature": t, "aggregates": aggregates_for([r for r in res["problems"] if r["n"]], args.seed)}
        if t_train is not None:
            point["t_eff"] = round(t_train * t, 6)
        points.append(point)
        if best is None or point["aggregates"]["all"]["pass@1"]["value"] > best["pass@1"]["value"]:
            best = {"temperature": t, "t_eff": point.get("t_eff"), "pass@1": point["aggregates"]["all"]["pass@1"]}
        logger.info("T_eval=%g pass@1=%.4f", t, point["aggregates"]["all"]["pass@1"]["value"])
    return points, _share(best)


def default_output(model: str | None) -> str:
    """A local model folder's evaluation goes beside it (records.model_eval_dir); anything else to ./eval_results."""
    from ..records import model_eval_dir

    return model_eval_dir(model) if model and os.path.isdir(model) else "eval_results"


def run(args) -> dict:
    """Check everything, then generate (if asked) and score; returns the results dict (not yet written)."""
    check_options(args)
    args.output = args.output or default_output(args.model)
    grader = get_grader(getattr(args, "grader", "lcb"))
    args.grader = grader.name
    limits = SandboxLimits(timeout_s=args.timeout, memory_bytes=args.memory_mb * 1024**2, sandbox=getattr(args, "sandbox", "auto"),
                           cgroup=getattr(args, "sandbox_cgroup", "auto"))
    bench, problems, selection = _problems(args)
    if args.solutions and (args.model or args.sweep_temperature or args.decode_baseline):
        raise SSDError("--solutions scores given completions; drop --model/--sweep_temperature/--decode_baseline")
    solutions = read_solutions(args.solutions) if args.solutions else None
    if _main_process():
        prepare_output(args.output)
        claim_output(args)
    base_config = {"model": args.model, "model_revision": args.model_revision, "seed": args.seed,
                   "timeout_s": args.timeout, "problem_selection": selection, "sandbox": choose_backend(limits.sandbox),
                   "sandbox_layers": choose_layers(limits.sandbox, limits.cgroup).record()}
    if solutions is not None:
        samples = _score(problems, solutions, limits, args)
        if samples is None:  # another rank judges and writes
            return None
        config = {**base_config, "decoding": {"temperature": None, "top_k": None, "top_p": None, "max_new_tokens": None}}
        results = build_results(bench, config, problems, samples, args.seed, grader.record())
        missing = results["config"]["problems_without_solutions"]
        if missing:
            logger.warning("%d of %d selected problems have no solutions in %s; they count as failed", missing, len(problems), args.solutions)
        return results
    if not args.model:
        raise SSDError("nothing to evaluate; pass --model to generate or --solutions to score given completions")
    from ..inputs import check_model_ref

    check_model_ref(args.model, args.model_revision, flag="--model")
    from ..records import DEFAULT_SYSTEM_PROMPT, PromptOptions

    options = PromptOptions(system_prompt=DEFAULT_SYSTEM_PROMPT if args.system_prompt is None else (args.system_prompt or None),
                            use_chat_template=not args.no_chat_template)
    gen = Generator(args.model, args.model_revision, options, engine_settings(args, options.use_chat_template),
                    probe_params=_params(args, args.temperature), grader=grader)
    try:
        return _generate_and_score(gen, args, bench, problems, base_config, limits)
    finally:
        gen.close()


def _generate_and_score(gen, args, bench, problems, base_config, limits) -> dict:
    base_config["model_revision"], base_config["engine"] = gen.engine.model_revision, gen.engine.name
    grid = parse_grid(args.sweep_temperature) if args.sweep_temperature else None
    if args.decode_baseline and grid is None:
        grid = parse_grid(DEFAULT_BASELINE_GRID)
    extra, temperature = {}, args.temperature
    if grid:
        tune_on = problems
        if args.heldout_problems:
            tune_on, held_sel = load_problems(args.heldout_problems, args.heldout_start_date, args.heldout_end_date)
            extra["heldout_selection"] = held_sel
        points, best = _sweep(gen, args, tune_on, grid, bench, {**base_config, "decoding": _decoding(args, None)}, limits,
                              "heldout" if args.heldout_problems else "sweep")
        extra.update(sweep=points, best=best)
        temperature = best["temperature"]
        if args.decode_baseline:
            extra["baseline"] = {"model": args.model, "temperature": best["temperature"], "pass@1": best["pass@1"]}
    config = {**base_config, "decoding": _decoding(args, temperature)}
    samples = _evaluate_at(gen, args, problems, temperature, "test" if args.heldout_problems else "sweep" if grid else "eval", limits)
    if samples is None:
        return None
    results = build_results(bench, config, problems, samples, args.seed, gen.grader.record())
    results.update(extra)
    return results


def summary(results: dict) -> str:
    grader = results.get("grader") or {}
    lines = [f"{results['benchmark']}: {results['config']['problem_selection']['count']} problems, n={results['config']['n']}, "
             f"grader {grader.get('name', '?')} v{grader.get('version', '?')}"]
    for group, agg in results["aggregates"].items():
        scores = ", ".join(f"{k}={v['value']:.4f} [{v['ci_low']:.4f}, {v['ci_high']:.4f}]" for k, v in agg.items() if k.startswith("pass@"))
        lines.append(f"  {group:<6} ({agg['num_problems']} problems): {scores}")
    verdicts = Counter(sample["verdict"] for sample in results["samples"])
    lines.append("  verdicts: " + ", ".join(f"{name} {count}" for name, count in sorted(verdicts.items(), key=lambda v: -v[1])))
    missing = results["config"].get("problems_without_solutions")
    if missing:
        lines.append(f"  warning: {missing} selected problem(s) had no solutions and count as failed (c=0, n={results['config']['n']})")
    if results.get("best"):
        b = results["best"]
        lines.append(f"  best T_eval={b['temperature']:g}" + (f" (T_eff={b['t_eff']:g})" if b.get("t_eff") else "") + f": pass@1={b['pass@1']['value']:.4f}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from ..distributed import init_distributed_state

    args = build_parser().parse_args(argv)
    if args.workers is None:
        args.workers = default_workers()
    init_distributed_state()  # under a launch, every rank generates its share
    results = run(args)
    if results is None:  # not the main process: it judged and writes
        return 0
    path = write_results(results, args.output)
    print(summary(results))  # the CLI's summary table
    print(f"results: {path}")
    unjudged = results["config"].get("unjudged_samples", 0)
    if unjudged:  # fail closed: an incomplete evaluation is not a success
        print(f"incomplete: {unjudged} samples could not be judged (the sandbox would not start); rerun the same command")
        return 1
    return 0
