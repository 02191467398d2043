"""Evaluation completions through the same engines and store as sampling (transformers, vLLM, endpoint).

`ssd-hf eval --engine ...` and the run's evaluation stage draw n completions per problem with
`sampling.runner.run_sampling`: the same resume, per-sample seeds, sharding over the launch's ranks
and record schema as the samples a model is trained on, cached under the eval output folder.
"""

from __future__ import annotations

import logging

from ..settings import ENDPOINT_PROTOCOLS, ENGINES, SSDSettings, resolve_engine
from .graders import LCB, Grader
from .problems import Problem

logger = logging.getLogger(__name__)


def add_engine_arguments(parser) -> None:
    """The engine flags of `ssd-hf eval`, with the names and defaults of the run's (`SSDConfig`)."""
    defaults = SSDSettings()
    group = parser.add_argument_group("engine (generation)")
    group.add_argument("--engine", default="auto", choices=ENGINES,
                       help="auto: vLLM when installed and a GPU is present, else transformers (default: auto)")
    group.add_argument("--endpoint", action="append", default=None,
                       help="with --engine endpoint: a TGI/OpenAI server URL (repeat for several)")
    group.add_argument("--endpoint_protocol", default="auto", choices=ENDPOINT_PROTOCOLS, help="default: auto")
    group.add_argument("--concurrency", type=int, default=defaults.concurrency, help="requests in flight (endpoint)")
    group.add_argument("--request_timeout", type=float, default=defaults.request_timeout, help="seconds per request (endpoint)")
    group.add_argument("--max_retries", type=int, default=defaults.max_retries, help="retries per request (endpoint)")
    group.add_argument("--batch_size", type=int, default=None, help="requests in flight (transformers engine)")
    group.add_argument("--vllm_tensor_parallel_size", type=int, default=defaults.vllm_tensor_parallel_size,
                       help="GPUs per vLLM engine")
    group.add_argument("--vllm_gpu_memory_utilization", type=float, default=defaults.vllm_gpu_memory_utilization,
                       help="fraction of each GPU vLLM may use")
    group.add_argument("--vllm_max_model_len", type=int, default=None, help="vLLM context length (default: the model's)")
    group.add_argument("--vllm_enforce_eager", action="store_true", help="skip vLLM's graph capture (faster start)")


def engine_settings(args, use_chat_template: bool) -> SSDSettings:
    """The engine part of a run's settings, from `ssd-hf eval`'s flags (validated like the run's)."""
    from ..config import validate_engine_settings

    settings = SSDSettings(
        engine=args.engine, endpoint=args.endpoint, endpoint_protocol=args.endpoint_protocol,
        concurrency=args.concurrency, request_timeout=args.request_timeout, max_retries=args.max_retries,
        sampling_batch_size=args.batch_size or SSDSettings.sampling_batch_size, use_chat_template=use_chat_template,
        vllm_tensor_parallel_size=args.vllm_tensor_parallel_size,
        vllm_gpu_memory_utilization=args.vllm_gpu_memory_utilization, vllm_max_model_len=args.vllm_max_model_len,
        vllm_enforce_eager=args.vllm_enforce_eager,
    )
    validate_engine_settings(settings)
    return settings


def problem_messages(problem: Problem, options, grader: Grader = LCB) -> list[dict]:
    """The chat messages for one problem: LCB's stdin form, or its starter-code form when the problem has
    starter code (LeetCode-style problems, and HumanEval, whose prompt is the function to complete).
    Under the ml-ssd grader, that harness's prompt form: a single user turn, no system prompt."""
    from ..prompts import build_messages, render_user_text

    if grader.name == "ml-ssd":
        from .graders import mlssd_user_text

        return [{"role": "user", "content": mlssd_user_text(problem)}]
    return build_messages(render_user_text(problem.question_content, problem.starter_code or None, options.template), options)


def problem_prompts(problems: list[Problem], options, grader: Grader = LCB) -> list:
    """One `PromptItem` per problem, keyed by problem id and messages (a changed prompt is a new generation)."""
    from ..prompts import PromptItem
    from ..records import stable_hash

    items = []
    for problem in problems:
        messages = problem_messages(problem, options, grader)
        items.append(PromptItem(prompt_id=stable_hash([problem.question_id, messages]), source_id=problem.question_id,
                                messages=messages))
    return items


class Generator:
    """Draws n completions per problem with one engine for every temperature of the run; `close()` releases it."""

    def __init__(self, model: str, revision: str | None, options, settings: SSDSettings, probe_params=None,
                 grader: Grader = LCB):
        from ..sampling.engines import load_engine

        self.options, self.grader, self.shard_size = options, grader, settings.sampling_batch_size
        name = resolve_engine(settings.engine)
        if settings.engine == "auto":
            logger.info("Evaluation engine: %s (engine auto: vLLM when it is installed and a GPU is present)", name)
        extra = {"probe_params": probe_params} if name == "endpoint" else {}
        self.engine = load_engine(name, model, config=settings, revision=revision, **extra)

    def generate(self, problems: list[Problem], params, n: int, samples_dir: str) -> list[dict]:
        """Completions as {"question_id", "sample_index", "completion"}; cached in `samples_dir`."""
        from ..sampling.runner import run_sampling

        dataset = run_sampling(problem_prompts(problems, self.options, self.grader), self.engine, params, self.options, samples_dir,
                               num_samples_per_prompt=n, shard_size=self.shard_size, purpose="evaluation")
        return [{"question_id": r["source_id"], "sample_index": int(r["sample_index"]), "completion": r["completion"]}
                for r in dataset.to_list()]

    def close(self) -> None:
        self.engine.close()
