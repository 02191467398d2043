"""The evaluation stage of `ssd-hf run` and the recipes: `ssd-hf eval` with the run's eval_* settings.

Every process generates its share (evaluation generations shard over the ranks like sampling, with the
run's engine); the main process scores and writes results.json, the others wait for it.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def eval_argv(model_dir: str, config) -> list[str]:
    """The `ssd-hf eval` command line equivalent to a run's evaluation settings."""
    argv = [
        "--model", model_dir, "--output", config.resolved_eval_dir(),
        "--n", str(config.eval_n), "--temperature", str(config.eval_temperature),
        "--top_k", str(config.eval_top_k), "--top_p", str(config.eval_top_p),
        "--max_new_tokens", str(config.eval_max_new_tokens or config.max_new_tokens),
        "--seed", str(config.effective_sampling_seed), "--benchmark", config.eval_benchmark,
        "--grader", config.eval_grader,
    ]
    optional = {
        "--problems": config.eval_problems, "--start_date": config.eval_start_date, "--end_date": config.eval_end_date,
        "--limit": config.eval_limit, "--sweep_temperature": config.eval_sweep_temperature,
        "--workers": config.eval_workers, "--system_prompt": config.system_prompt,
    }
    argv += [item for flag, value in optional.items() if value is not None for item in (flag, str(value))]
    argv += [item for url in config.endpoint or [] for item in ("--endpoint", url)]
    if not config.use_chat_template:
        argv.append("--no_chat_template")
    return argv + engine_argv(config)


def engine_argv(config) -> list[str]:
    """The run's engine, as `ssd-hf eval` flags: evaluation generates with the engine the run sampled with."""
    argv = ["--engine", config.engine, "--endpoint_protocol", config.endpoint_protocol,
            "--concurrency", str(config.concurrency), "--request_timeout", str(config.request_timeout),
            "--max_retries", str(config.max_retries), "--batch_size", str(config.sampling_batch_size),
            "--vllm_tensor_parallel_size", str(config.vllm_tensor_parallel_size),
            "--vllm_gpu_memory_utilization", str(config.vllm_gpu_memory_utilization)]
    if config.vllm_max_model_len:
        argv += ["--vllm_max_model_len", str(config.vllm_max_model_len)]
    return argv + (["--vllm_enforce_eager"] if config.vllm_enforce_eager else [])


def evaluate_model(model_dir: str, config):
    """Evaluate; on the main process returns (results path, pass@1 by difficulty, verdict counts), else None."""
    from collections import Counter

    from accelerate import PartialState

    from .cli import build_parser, run
    from .results import write_results

    args = build_parser().parse_args(eval_argv(model_dir, config))
    results = run(args)  # None on every process but the main one, which judges
    state = PartialState()
    outcome = None
    if results is not None:
        path = write_results(results, args.output)
        scores = {d: agg["pass@1"]["value"] for d, agg in results["aggregates"].items() if "pass@1" in agg}
        outcome = path, scores, dict(Counter(s["verdict"] for s in results["samples"]))
    state.wait_for_everyone()
    return outcome
