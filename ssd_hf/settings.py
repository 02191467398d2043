"""SSD's own settings, as a plain dataclass that `SSDConfig` (TRL's SFTConfig) inherits.

They live apart from TRL so that what only needs to read them (the grouped `--help`, the Space, the docs)
does not import TRL and transformers. Each field's metadata holds its help line; FIELD_GROUPS places it in a `--help` group.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .records import DEFAULT_SYSTEM_PROMPT

ENGINES = ("auto", "transformers", "vllm", "endpoint")
PROMPT_TEMPLATES = ("lcb", "plain", "ml-ssd")
ENDPOINT_PROTOCOLS = ("auto", "tgi", "openai")
TRUNCATED_POLICIES = ("keep", "drop")
GROUPS = {
    "sampling": "Sampling from the frozen base (T_train, top-k, top-p)",
    "prompts": "Prompts",
    "filters": "What goes into training",
    "engine": "Engine (transformers, vLLM in-process, or inference servers)",
    "stages": "Stages and where samples live",
    "training": "Training essentials (every TRL/Trainer flag: --help-all)",
    "evaluation": "Evaluation stage (T_eval, LiveCodeBench)",
}


# Which `--help` group lists each field (a test checks that every field is in exactly one).
FIELD_GROUPS = {
    "sampling": (
        "temperature",
        "top_k",
        "top_p",
        "num_samples_per_prompt",
        "max_new_tokens",
        "sampling_seed",
    ),
    "filters": (
        "truncated_samples",
        "drop_empty_and_stubs",
        "drop_shortest_fraction",
    ),
    "engine": (
        "engine",
        "sampling_batch_size",
        "continuous_batching",
        "native_cuda_graphs",
        "native_compile_level",
        "native_async_batching",
        "native_attention",
        "endpoint",
        "endpoint_protocol",
        "concurrency",
        "request_timeout",
        "max_retries",
        "vllm_tensor_parallel_size",
        "vllm_gpu_memory_utilization",
        "vllm_max_model_len",
        "vllm_enforce_eager",
    ),
    "prompts": (
        "prompt_template",
        "system_prompt",
        "use_chat_template",
        "deduplicate_prompts",
        "paper_prompt_selection",
        "max_prompts",
    ),
    "stages": (
        "samples_dataset",
        "samples_dir",
        "run_sample",
        "run_train",
        "run_eval",
        "num_rounds",
    ),
    "training": ("global_batch_size",),
    "evaluation": (
        "eval_benchmark",
        "eval_problems",
        "eval_start_date",
        "eval_end_date",
        "eval_limit",
        "eval_temperature",
        "eval_top_k",
        "eval_top_p",
        "eval_n",
        "eval_max_new_tokens",
        "eval_sweep_temperature",
        "eval_output_dir",
        "eval_workers",
        "eval_grader",
        "eval_controls",
        "eval_controls_dir",
        "eval_controls_grid",
    ),
}


def resolve_engine(name: str) -> str:
    """The engine `auto` stands for here: vLLM when it is installed and a GPU is present, else transformers."""
    if name != "auto":
        return name
    import importlib.util

    import torch

    return "vllm" if torch.cuda.is_available() and importlib.util.find_spec("vllm") else "transformers"


def group_of(name: str) -> str | None:
    return next((group for group, names in FIELD_GROUPS.items() if name in names), None)


@dataclass
class SSDSettings:
    """The SSD fields of `SSDConfig`: sampling, prompts, filters, engine, stages and evaluation."""

    # --- Sampling: the paper's T_train and rho_train ---
    temperature: float = field(
        default=1.6,
        metadata={
            "help": "Training-time sampling temperature T_train (paper: 1.6 for Qwen3-Instruct, see recipes/)."
        },
    )
    top_k: int = field(
        default=20, metadata={"help": "Top-k truncation applied after temperature; 0 disables it."}
    )
    top_p: float = field(
        default=0.8,
        metadata={"help": "Top-p (nucleus) truncation over the top-k survivors, in (0, 1]; 1 disables it."},
    )
    num_samples_per_prompt: int = field(
        default=1, metadata={"help": "Samples N drawn per prompt. The paper shows N=1 suffices."}
    )
    max_new_tokens: int = field(
        default=8192,
        metadata={"help": "Maximum completion length when sampling (paper: up to 65,536 with vLLM)."},
    )
    sampling_seed: int | None = field(
        default=None,
        metadata={"help": "Base seed for sampling; each sample derives its own. Defaults to `seed`."},
    )
    truncated_samples: str = field(
        default="keep",
        metadata={
            "help": "Samples that hit max_new_tokens: 'keep' them as sampled (the paper) or 'drop' them from training."
        },
    )
    # --- Engine ---
    engine: str = field(
        default="auto",
        metadata={
            "help": "Sampling/eval engine: 'auto' (vLLM when installed and a GPU is present, else transformers), 'transformers', 'vllm' (in-process, one engine per rank) or 'endpoint' (TGI/OpenAI servers)."
        },
    )
    sampling_batch_size: int = field(
        default=64,
        metadata={
            "help": "Requests kept in flight by the sampler; also how many finished samples make one shard."
        },
    )
    continuous_batching: bool = field(
        default=True,
        metadata={
            "help": "transformers engine: continuous batching (off: padded generate in fixed batches)."
        },
    )
    native_cuda_graphs: str = field(
        default="auto",
        metadata={"help": "transformers engine: CUDA graphs in continuous batching: auto (on when the attention needs no mask, i.e. flash), on, off."},
    )
    native_compile_level: int = field(
        default=0,
        metadata={"help": "transformers engine: torch.compile level of continuous batching, 0 (eager) to 3; paid once per engine."},
    )
    native_async_batching: str = field(
        default="auto",
        metadata={"help": "transformers engine: async batching (the next step prepared while one runs): auto (with CUDA graphs), on, off."},
    )
    native_attention: str = field(
        default="auto",
        metadata={"help": "transformers engine: attention for continuous batching: auto (flash when installed, else the model's) or an implementation (sdpa, flash_attention_2, paged|eager ...)."},
    )
    endpoint: list[str] | None = field(
        default=None,
        metadata={
            "help": "Base URL of a TGI or OpenAI-compatible server (vLLM, SGLang, `transformers serve`) for --engine endpoint; repeat for several servers."
        },
    )
    endpoint_protocol: str = field(
        default="auto",
        metadata={
            "help": "'tgi' (/generate), 'openai' (/v1/chat/completions) or 'auto' (TGI when the server answers /info)."
        },
    )
    concurrency: int = field(
        default=64, metadata={"help": "Requests kept in flight across all endpoints by the endpoint engine."}
    )
    request_timeout: float = field(
        default=600.0, metadata={"help": "Seconds one endpoint request may take before it is retried."}
    )
    max_retries: int = field(
        default=8,
        metadata={
            "help": "Retries per request on timeouts, dropped connections, 429 and 5xx (exponential backoff with jitter)."
        },
    )
    vllm_tensor_parallel_size: int = field(
        default=1,
        metadata={
            "help": "GPUs per vLLM engine. Under `accelerate launch` the ranks form groups of this size, each group one engine (vLLM's external launcher)."
        },
    )
    vllm_gpu_memory_utilization: float = field(
        default=0.9,
        metadata={
            "help": "Fraction of each GPU vLLM may use for weights and KV cache, in (0, 1]; released before training starts."
        },
    )
    vllm_max_model_len: int | None = field(
        default=None, metadata={"help": "vLLM context length (prompt + completion); default: the model's."}
    )
    vllm_enforce_eager: bool = field(
        default=False,
        metadata={"help": "Skip vLLM's graph capture/compilation: slower decoding, much faster start."},
    )
    # --- Prompts ---
    prompt_template: str = field(
        default="lcb",
        metadata={
            "help": "'lcb' renders LiveCodeBench-style user text (stdin or starter-code form); 'ml-ssd' the public SSD pipeline's wording; 'plain' sends the statement as is."
        },
    )
    system_prompt: str | None = field(
        default=DEFAULT_SYSTEM_PROMPT,
        metadata={
            "help": "System message asking for a Python solution in a markdown block; empty string for none."
        },
    )
    use_chat_template: bool = field(
        default=True,
        metadata={
            "help": "Wrap prompts in the model's chat template (the paper). False mimics the public data script."
        },
    )
    deduplicate_prompts: bool = field(
        default=True,
        metadata={"help": "Drop prompts whose whitespace-normalised statement was already seen."},
    )
    paper_prompt_selection: bool = field(
        default=False,
        metadata={
            "help": "rStar-Coder seed_sft only: keep one row per question_id with is_passed true (~10K, the paper's pool)."
        },
    )
    max_prompts: int | None = field(
        default=None,
        metadata={"help": "Use only the first N prompts after de-duplication (smoke runs, budgets)."},
    )
    # --- Filters (applied when building the training set; the samples dataset keeps everything) ---
    drop_empty_and_stubs: bool = field(
        default=True,
        metadata={"help": "The paper's only filter: drop empty completions and single-line stubs."},
    )
    drop_shortest_fraction: float = field(
        default=0.0,
        metadata={
            "help": "Also drop this fraction of shortest completions by characters (public script: 0.1). Not the paper's recipe."
        },
    )
    # --- Where samples live ---
    samples_dataset: str | None = field(
        default=None,
        metadata={
            "help": "Existing samples to train on instead of sampling: local path or Hub id (optionally id@revision)."
        },
    )
    samples_dir: str | None = field(
        default=None,
        metadata={
            "help": "Where the resumable sample store and the samples dataset go. Default: <output_dir>/samples."
        },
    )
    # --- Stages of `ssd-hf run` and the recipes ---
    run_sample: bool = field(
        default=True,
        metadata={"help": "Draw the frozen base model's samples (skipped when samples_dataset is set)."},
    )
    run_train: bool = field(default=True, metadata={"help": "Fine-tune on the samples."})
    run_eval: bool = field(
        default=False,
        metadata={"help": "Evaluate the trained model after training (the recipes turn it on)."},
    )
    global_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "Sequences per optimizer step over all processes (paper: 32); gradient_accumulation_steps is derived from it and the process count, unless given explicitly."
        },
    )
    # --- Evaluation stage (paper Table 3 T_eval / k / p) ---
    eval_benchmark: str = field(
        default="lcb-v6",
        metadata={"help": "lcb-v6, lcb-v5-heldout, humaneval, or custom (with eval_problems)."},
    )
    eval_problems: str | None = field(
        default=None, metadata={"help": "LCB-schema JSONL, 'fixtures', or a release name."}
    )
    eval_start_date: str | None = field(
        default=None, metadata={"help": "Keep problems with contest_date >= this (paper v6: 2025-02-01)."}
    )
    eval_end_date: str | None = field(
        default=None, metadata={"help": "Keep problems with contest_date <= this (paper v6: 2025-05-31)."}
    )
    eval_limit: int | None = field(default=None, metadata={"help": "Only the first N problems (smoke runs)."})
    eval_temperature: float = field(default=1.0, metadata={"help": "T_eval (paper Table 3)."})
    eval_top_k: int = field(default=20, metadata={"help": "Eval top-k (paper Table 3)."})
    eval_top_p: float = field(default=0.8, metadata={"help": "Eval top-p (paper Table 3)."})
    eval_n: int = field(
        default=10, metadata={"help": "Samples per problem (paper: 10, for pass@1 and pass@5)."}
    )
    eval_max_new_tokens: int | None = field(
        default=None, metadata={"help": "Eval generation budget; default: max_new_tokens."}
    )
    eval_sweep_temperature: str | None = field(
        default=None, metadata={"help": "Optional T_eval grid start:stop:step."}
    )
    eval_output_dir: str | None = field(
        default=None, metadata={"help": "Where results.json goes; default: <output_dir>/eval."}
    )
    eval_workers: int | None = field(
        default=None, metadata={"help": "Parallel sandboxes (default: all cores)."}
    )
    eval_grader: str = field(
        default="lcb",
        metadata={"help": "Whose rules judge: 'lcb' (LiveCodeBench's official harness) or 'ml-ssd' (the paper's harness)."},
    )
    eval_controls: bool = field(
        default=True,
        metadata={"help": "With run_eval, also evaluate the base at T_train and at its best T_eval (the report's controls), "
                          "once per base model, problem set and grader."},
    )
    eval_controls_dir: str | None = field(
        default=None, metadata={"help": "Where the base controls are kept (share it between runs); default: <output_dir>/controls."}
    )
    eval_controls_grid: str | None = field(
        default=None, metadata={"help": "T_eval grid for base@best-T; default: eval_sweep_temperature, else 0.5:1.5:0.1."}
    )
    num_rounds: int = field(
        default=1,
        metadata={"help": "SSD rounds: round r+1 samples from round r's trained model (frozen, LoRA merged) into "
                          "<output_dir>/round-<r+1>/; 1 is the paper's single round in <output_dir>."},
    )
