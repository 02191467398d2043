"""The evaluation stage of `ssd-hf run` and the recipes: the evaluator (eval.api) with the run's eval_* settings.

Every process generates its share (evaluation generations shard over the ranks like sampling, with the
run's engine); the main process scores and writes results.json, the others wait for it. With
`eval_controls`, the base model is also evaluated at T_train (with the samples' top-k/top-p) and at its
best T_eval over a grid: the report's controls, kept in <output_dir>/controls/ (or `eval_controls_dir`)
and reused while the base model, problem set, grader and evaluation settings stay the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os

from .api import EvalRequest, evaluate

logger = logging.getLogger(__name__)
DEFAULT_CONTROL_GRID = "0.5:1.5:0.1"
CONTROLS = {"base@T_train": "base-T_train", "base@best-T": "base-best-T"}


def engine_options(config) -> dict:
    """The run's engine, as evaluator options: evaluation generates with the engine the run sampled with."""
    return {"engine": config.engine, "endpoint": list(config.endpoint) if config.endpoint else None,
            "endpoint_protocol": config.endpoint_protocol, "concurrency": config.concurrency,
            "request_timeout": config.request_timeout, "max_retries": config.max_retries,
            "batch_size": config.sampling_batch_size, "vllm_tensor_parallel_size": config.vllm_tensor_parallel_size,
            "vllm_gpu_memory_utilization": config.vllm_gpu_memory_utilization,
            "vllm_max_model_len": config.vllm_max_model_len or None, "vllm_enforce_eager": bool(config.vllm_enforce_eager)}


def eval_request(model_dir: str, config, output: str | None = None, **changes) -> EvalRequest:
    """The run's evaluation settings as a request (`changes` override fields: decoding, role, output ...)."""
    request = EvalRequest(
        model=model_dir, output=output or config.resolved_eval_dir(), benchmark=config.eval_benchmark,
        problems=config.eval_problems, start_date=config.eval_start_date, end_date=config.eval_end_date,
        limit=config.eval_limit, n=config.eval_n, temperature=config.eval_temperature, top_k=config.eval_top_k,
        top_p=config.eval_top_p, max_new_tokens=config.eval_max_new_tokens or config.max_new_tokens,
        seed=config.effective_sampling_seed, system_prompt=config.system_prompt,
        no_chat_template=not config.use_chat_template, sweep_temperature=config.eval_sweep_temperature,
        workers=config.eval_workers, grader=config.eval_grader, engine=engine_options(config))
    for name, value in changes.items():
        setattr(request, name, value)
    return request


def _write(results: dict | None, output: str):
    """On the main process: write results.json; (path, pass@1 by difficulty, verdict counts). Others: None."""
    from collections import Counter

    from .. import nodes
    from .results import write_results

    outcome = None
    if results is not None:
        path = write_results(results, output)
        scores = {d: agg["pass@1"]["value"] for d, agg in results["aggregates"].items() if "pass@1" in agg}
        outcome = path, scores, dict(Counter(s["verdict"] for s in results["samples"]))
    nodes.wait_all("the main process writes the results")
    return outcome


def evaluate_model(model_dir: str, config, role: str | None = None, round_: int | None = None, output: str | None = None):
    """Evaluate; on the main process returns (results path, pass@1 by difficulty, verdict counts), else None."""
    request = eval_request(model_dir, config, output, role=role, round=round_)
    return _write(evaluate(request), request.output)


def control_requests(base_model: str, config) -> list[EvalRequest]:
    """base@T_train (the samples' decoding) and base@best-T (a sweep over the control grid)."""
    root = config.eval_controls_dir or os.path.join(config.output_dir, "controls")
    grid = config.eval_controls_grid or config.eval_sweep_temperature or DEFAULT_CONTROL_GRID
    return [eval_request(base_model, config, os.path.join(root, CONTROLS["base@T_train"]), role="base@T_train",
                         temperature=config.temperature, top_k=config.top_k, top_p=config.top_p, sweep_temperature=None),
            eval_request(base_model, config, os.path.join(root, CONTROLS["base@best-T"]), role="base@best-T",
                         sweep_temperature=grid, decode_baseline=True)]


def control_key(request: EvalRequest) -> str:
    """What a control's numbers depend on: the base model, the problems, the grader, decoding and budget."""
    fields = {k: getattr(request, k) for k in ("model", "benchmark", "problems", "start_date", "end_date", "limit", "n",
                                               "temperature", "top_k", "top_p", "max_new_tokens", "seed", "system_prompt",
                                               "no_chat_template", "sweep_temperature", "grader")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _cached(request: EvalRequest, key: str) -> str | None:
    path = os.path.join(request.output, "results.json")
    try:
        with open(path, encoding="utf-8") as handle:
            return path if json.load(handle).get("control_key") == key else None
    except (OSError, ValueError):
        return None


def evaluate_controls(base_model: str, config) -> list[str]:
    """The base controls' results files, evaluated unless already there for the same key; each evaluation's
    cost goes to the run's ledger and into its results.json."""
    from ..costs import attach, timed

    paths = []
    for request in control_requests(base_model, config):
        key = control_key(request)
        path = _cached(request, key)
        if path:
            logger.info("Control %s: reusing %s (same base model, problems, grader and settings)", request.role, path)
        else:
            with timed("eval-control", config.output_dir) as cost:
                results = evaluate(request)
                if results is not None:
                    results["control_key"] = key
                outcome = _write(results, request.output)
                cost.samples = sum(outcome[2].values()) if outcome else None
            path = outcome[0] if outcome else os.path.join(request.output, "results.json")
            attach(path, [cost])
        paths.append(path)
    return paths
