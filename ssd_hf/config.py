"""SSDConfig: TRL's SFTConfig plus the knobs of SSD's sampling stage.

One object flows through the CLI, the recipes and the Python API. Every SSD field is validated in
`__post_init__` with a one-line `SSDError` that says how to fix the value. Training defaults follow the
paper (AdamW 0.9/0.95, weight decay 0.1, cosine from 5e-6 down to a 1e-6 floor, 10% warm-up).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from trl import SFTConfig

from .errors import SSDError

DEFAULT_SYSTEM_PROMPT = (
    "You are an expert Python programmer. Solve the user's programming problem and give the complete "
    "solution as Python code in a single markdown code block (```python ... ```)."
)

ENGINES = ("transformers", "endpoint", "vllm")
PROMPT_TEMPLATES = ("lcb", "plain")


@dataclass
class SSDConfig(SFTConfig):
    r"""Configuration for [`SSDTrainer`]: SFT arguments plus SSD's frozen-base sampling stage.

    The sampling fields keep TRL's generation names (`temperature`, `top_k`, `top_p`, `max_new_tokens`).
    Decoding order is always temperature -> top-k -> top-p -> sample, with no min-p and no penalties.
    """

    # --- Sampling: the paper's T_train and rho_train ---
    temperature: float = field(
        default=1.6,
        metadata={"help": "Training-time sampling temperature T_train (paper: 1.6 for Qwen3-Instruct, see recipes/)."},
    )
    top_k: int = field(default=20, metadata={"help": "Top-k truncation applied after temperature; 0 disables it."})
    top_p: float = field(
        default=0.8, metadata={"help": "Top-p (nucleus) truncation over the top-k survivors, in (0, 1]; 1 disables it."}
    )
    num_samples_per_prompt: int = field(
        default=1, metadata={"help": "Samples N drawn per prompt. The paper shows N=1 suffices."}
    )
    max_new_tokens: int = field(
        default=8192,
        metadata={"help": "Maximum completion length when sampling (paper: up to 65,536 with vLLM)."},
    )
    engine: str = field(
        default="transformers",
        metadata={"help": "Sampling engine: 'transformers' (in-process), 'endpoint' (TGI/OpenAI server) or 'vllm'."},
    )
    sampling_batch_size: int = field(
        default=64,
        metadata={"help": "Requests kept in flight by the sampler; also how many finished samples make one shard."},
    )
    sampling_seed: int | None = field(
        default=None, metadata={"help": "Base seed for sampling; each sample derives its own. Defaults to `seed`."}
    )
    # --- Prompts ---
    prompt_template: str = field(
        default="lcb",
        metadata={"help": "'lcb' renders LiveCodeBench-style user text (stdin or starter-code form); 'plain' sends the statement as is."},
    )
    system_prompt: str | None = field(
        default=DEFAULT_SYSTEM_PROMPT,
        metadata={"help": "System message asking for a Python solution in a markdown block; empty string for none."},
    )
    use_chat_template: bool = field(
        default=True,
        metadata={"help": "Wrap prompts in the model's chat template (the paper). False mimics the public data script."},
    )
    deduplicate_prompts: bool = field(
        default=True, metadata={"help": "Drop prompts whose whitespace-normalised statement was already seen."}
    )
    paper_prompt_selection: bool = field(
        default=False,
        metadata={"help": "rStar-Coder seed_sft only: keep one row per question_id with is_passed true (~10K, the paper's pool)."},
    )
    max_prompts: int | None = field(
        default=None, metadata={"help": "Use only the first N prompts after de-duplication (smoke runs, budgets)."}
    )
    # --- Filters (applied when building the training set; the samples dataset keeps everything) ---
    drop_empty_and_stubs: bool = field(
        default=True, metadata={"help": "The paper's only filter: drop empty completions and single-line stubs."}
    )
    drop_shortest_fraction: float = field(
        default=0.0,
        metadata={"help": "Also drop this fraction of shortest completions by characters (public script: 0.1). Not the paper's recipe."},
    )
    # --- Where samples live ---
    samples_dataset: str | None = field(
        default=None,
        metadata={"help": "Existing samples to train on instead of sampling: local path or Hub id (optionally id@revision)."},
    )
    samples_dir: str | None = field(
        default=None, metadata={"help": "Where the resumable sample store and the samples dataset go. Default: <output_dir>/samples."}
    )
    # --- Endpoint engine ---
    endpoint: list[str] | None = field(
        default=None,
        metadata={"help": "Base URL of a TGI or OpenAI-compatible server (vLLM, SGLang, `transformers serve`) for --engine endpoint; repeat the flag for several servers."},
    )
    endpoint_protocol: str = field(
        default="auto",
        metadata={"help": "'tgi' (/generate), 'openai' (/v1/chat/completions) or 'auto' (TGI when the server answers /info)."},
    )
    concurrency: int = field(
        default=64, metadata={"help": "Requests kept in flight across all endpoints by the endpoint engine."}
    )
    request_timeout: float = field(
        default=600.0, metadata={"help": "Seconds one endpoint request may take before it is retried."}
    )
    max_retries: int = field(
        default=8,
        metadata={"help": "Retries per request on timeouts, dropped connections, 429 and 5xx (exponential backoff with jitter)."},
    )
    # --- vLLM engine ---
    vllm_tensor_parallel_size: int = field(default=1, metadata={"help": "vLLM tensor parallel size (GPUs per model replica)."})
    vllm_data_parallel_size: int = field(default=1, metadata={"help": "vLLM data parallel size (model replicas)."})
    vllm_gpu_memory_utilization: float = field(
        default=0.9, metadata={"help": "Fraction of GPU memory vLLM may use for weights and KV cache, in (0, 1]."}
    )
    vllm_max_model_len: int | None = field(
        default=None, metadata={"help": "vLLM context length (prompt + completion); default: the model's."}
    )
    vllm_enforce_eager: bool = field(
        default=False, metadata={"help": "Skip vLLM's graph capture/compilation: slower decoding, much faster start."}
    )
    # --- Paper optimiser defaults (override TrainingArguments' defaults) ---
    learning_rate: float = field(default=5e-6, metadata={"help": "Peak learning rate (paper: 5e-6)."})
    lr_scheduler_type: str = field(default="cosine_with_min_lr", metadata={"help": "Paper: cosine decay to a floor."})
    lr_scheduler_kwargs: dict | str | None = field(
        default_factory=lambda: {"min_lr": 1e-6}, metadata={"help": "Paper: cosine floor at 1e-6."}
    )
    warmup_steps: float = field(default=0.1, metadata={"help": "Warm-up; a value below 1 is a fraction of training (paper: 250/2500)."})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay (paper: 0.1)."})
    adam_beta2: float = field(default=0.95, metadata={"help": "AdamW beta2 (paper: 0.95)."})
    logging_steps: float = field(default=1, metadata={"help": "Log every N steps."})

    def __post_init__(self):
        self.validate_sampling()
        if self.bf16 is None and not self.fp16:
            # TRL turns bf16 on by default, which transformers rejects on a machine without a bf16 GPU.
            self.bf16 = _bf16_available()
        super().__post_init__()

    def validate_sampling(self) -> None:
        """Check every SSD field; raise one readable line on the first bad value."""
        if not self.temperature > 0:
            raise SSDError(f"temperature must be > 0 (got {self.temperature}); the paper uses 0.8-1.6 for T_train.")
        if not 0 < self.top_p <= 1:
            raise SSDError(f"top_p must be in (0, 1] (got {self.top_p}); use 1.0 to disable nucleus truncation.")
        if self.top_k < 0:
            raise SSDError(f"top_k must be >= 0 (got {self.top_k}); use 0 to disable top-k truncation.")
        if self.num_samples_per_prompt < 1:
            raise SSDError(f"num_samples_per_prompt must be >= 1 (got {self.num_samples_per_prompt}).")
        if self.max_new_tokens < 1:
            raise SSDError(f"max_new_tokens must be >= 1 (got {self.max_new_tokens}).")
        if self.sampling_batch_size < 1:
            raise SSDError(f"sampling_batch_size must be >= 1 (got {self.sampling_batch_size}).")
        if self.engine not in ENGINES:
            raise SSDError(f"engine must be one of {', '.join(ENGINES)} (got {self.engine!r}).")
        if self.prompt_template not in PROMPT_TEMPLATES:
            raise SSDError(f"prompt_template must be one of {', '.join(PROMPT_TEMPLATES)} (got {self.prompt_template!r}).")
        if not 0 <= self.drop_shortest_fraction < 1:
            raise SSDError(f"drop_shortest_fraction must be in [0, 1) (got {self.drop_shortest_fraction}).")
        if self.max_prompts is not None and self.max_prompts < 1:
            raise SSDError(f"max_prompts must be >= 1 when set (got {self.max_prompts}).")
        # --- Endpoint / vLLM engines ---
        from .sampling.endpoint import validate_endpoint_fields

        validate_endpoint_fields(self)

    @property
    def effective_sampling_seed(self) -> int:
        return self.seed if self.sampling_seed is None else self.sampling_seed

    def resolved_samples_dir(self) -> str:
        import os

        return self.samples_dir or os.path.join(self.output_dir or ".", "samples")

    def sampling_params(self) -> SamplingParams:
        return SamplingParams(
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            max_new_tokens=self.max_new_tokens,
            seed=self.effective_sampling_seed,
        )

    def prompt_options(self) -> PromptOptions:
        return PromptOptions(
            template=self.prompt_template,
            system_prompt=self.system_prompt or None,
            use_chat_template=self.use_chat_template,
        )


@dataclass(frozen=True)
class SamplingParams:
    """The decoding settings that define a sample; their hash keys the sample store."""

    temperature: float
    top_k: int
    top_p: float
    max_new_tokens: int
    seed: int

    def to_dict(self) -> dict:
        return {
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "max_new_tokens": self.max_new_tokens,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class PromptOptions:
    """How a problem statement becomes the messages sent to the model."""

    template: str = "lcb"
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    use_chat_template: bool = True

    def to_dict(self) -> dict:
        return {"template": self.template, "system_prompt": self.system_prompt, "use_chat_template": self.use_chat_template}


def _bf16_available() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def stable_hash(obj, length: int = 16) -> str:
    """Hash of a JSON-serialisable object that is the same on every machine and Python run."""
    payload = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:length]
