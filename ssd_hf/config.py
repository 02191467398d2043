"""SSDConfig: TRL's SFTConfig plus SSD's sampling, stage and evaluation knobs, every one validated here.

One object flows through the CLI, the recipes and the Python API. Every SSD field is checked in
`__post_init__` with a one-line `SSDError` that says how to fix the value. Training defaults follow the
paper (AdamW 0.9/0.95, weight decay 0.1, cosine from 5e-6 down to a 1e-6 floor, 10% warm-up).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from trl import SFTConfig

from .errors import SSDError
from .records import DEFAULT_SYSTEM_PROMPT, PromptOptions, SamplingParams, stable_hash  # noqa: F401 - re-exported
from .refs import redact_url
from .settings import (
    ENDPOINT_PROTOCOLS,
    ENGINES,
    PROMPT_TEMPLATES,
    TRUNCATED_POLICIES,
    SSDSettings,
    resolve_engine,
)

logger = logging.getLogger(__name__)
MAX_NEW_TOKENS = 1 << 20  # no model generates more in one turn; a bigger value is a typo (1e12)


@dataclass
class SSDConfig(SFTConfig, SSDSettings):
    r"""Configuration for [`SSDTrainer`] and the `ssd-hf` commands: SFT arguments plus SSD's stages.

    The sampling fields keep TRL's generation names (`temperature`, `top_k`, `top_p`, `max_new_tokens`).
    Decoding order is always temperature -> top-k -> top-p -> sample, with no min-p and no penalties.
    """

    # --- Paper optimiser defaults (override TrainingArguments' defaults) ---
    learning_rate: float = field(default=5e-6, metadata={"help": "Peak learning rate (paper: 5e-6)."})
    lr_scheduler_type: str = field(default="cosine_with_min_lr", metadata={"help": "Paper: cosine decay to a floor."})
    lr_scheduler_kwargs: dict | str | None = field(default_factory=lambda: {"min_lr": 1e-6}, metadata={"help": "Paper: cosine floor at 1e-6."})
    warmup_steps: float = field(default=0.1, metadata={"help": "Warm-up; a value below 1 is a fraction of training (paper: 250/2500)."})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay (paper: 0.1)."})
    adam_beta2: float = field(default=0.95, metadata={"help": "AdamW beta2 (paper: 0.95)."})
    logging_steps: float = field(default=1, metadata={"help": "Log every N steps."})

    def __post_init__(self):
        self.validate_ssd_fields()
        self.apply_global_batch_size()
        if self.bf16 is None and not self.fp16:
            # TRL turns bf16 on by default, which transformers rejects on a machine without a bf16 GPU.
            self.bf16 = _bf16_available()
        super().__post_init__()

    # ------------------------------------------------------------------ validation
    def validate_ssd_fields(self) -> None:
        """Check every SSD field; raise one readable line on the first bad value."""
        for ok, message in self._sampling_checks() + self._stage_checks() + self._training_checks():
            if not ok:
                raise SSDError(message)
        validate_engine_settings(self)

    def _sampling_checks(self) -> list[tuple[bool, str]]:
        return [
            (self.temperature > 0, f"temperature must be > 0 (got {self.temperature}); the paper uses 0.8-1.6 for T_train."),
            (0 < self.top_p <= 1, f"top_p must be in (0, 1] (got {self.top_p}); use 1.0 to disable nucleus truncation."),
            (self.top_k >= 0, f"top_k must be >= 0 (got {self.top_k}); use 0 to disable top-k truncation."),
            (self.num_samples_per_prompt >= 1, f"num_samples_per_prompt must be >= 1 (got {self.num_samples_per_prompt})."),
            (self.max_new_tokens >= 1, f"max_new_tokens must be >= 1 (got {self.max_new_tokens})."),
            (self.max_new_tokens <= MAX_NEW_TOKENS, f"max_new_tokens must be at most {MAX_NEW_TOKENS} (got "
             f"{self.max_new_tokens}); give at most the model's context length."),
            (self.prompt_template in PROMPT_TEMPLATES, f"prompt_template must be one of {', '.join(PROMPT_TEMPLATES)} (got {self.prompt_template!r})."),
            (0 <= self.drop_shortest_fraction < 1, f"drop_shortest_fraction must be in [0, 1) (got {self.drop_shortest_fraction})."),
            (self.max_prompts is None or self.max_prompts >= 1, f"max_prompts must be >= 1 when set (got {self.max_prompts})."),
            (self.truncated_samples in TRUNCATED_POLICIES, f"truncated_samples must be 'keep' or 'drop' (got {self.truncated_samples!r})."),
        ]

    def _stage_checks(self) -> list[tuple[bool, str]]:
        return [
            (self.eval_temperature > 0, f"eval_temperature must be > 0 (got {self.eval_temperature})."),
            (0 < self.eval_top_p <= 1, f"eval_top_p must be in (0, 1] (got {self.eval_top_p})."),
            (self.eval_top_k >= 0, f"eval_top_k must be >= 0 (got {self.eval_top_k})."),
            (self.eval_n >= 1, f"eval_n must be >= 1 (got {self.eval_n})."),
            (self.eval_grader in ("lcb", "ml-ssd"), f"eval_grader must be 'lcb' or 'ml-ssd' (got {self.eval_grader!r})."),
            (self.global_batch_size is None or self.global_batch_size >= 1, f"global_batch_size must be >= 1 when set (got {self.global_batch_size})."),
        ]

    def _training_checks(self) -> list[tuple[bool, str]]:
        return [
            (self.per_device_train_batch_size >= 1, f"per_device_train_batch_size must be >= 1 (got {self.per_device_train_batch_size})."),
            (self.gradient_accumulation_steps >= 1, f"gradient_accumulation_steps must be >= 1 (got {self.gradient_accumulation_steps})."),
            (self.learning_rate >= 0, f"learning_rate must be >= 0 (got {self.learning_rate:g}); the paper uses 5e-6."),
            (self.max_steps != 0, "max_steps must be > 0, or -1 to train for num_train_epochs (got 0)."),
            (self.num_train_epochs > 0, f"num_train_epochs must be > 0 (got {self.num_train_epochs:g})."),
            (self.max_length is None or self.max_length >= 1, f"max_length must be >= 1 (got {self.max_length})."),
            (self.weight_decay >= 0, f"weight_decay must be >= 0 (got {self.weight_decay:g})."),
            (self.warmup_steps >= 0, f"warmup_steps must be >= 0 (got {self.warmup_steps:g})."),
        ]

    def apply_global_batch_size(self) -> None:
        """gradient_accumulation_steps = global batch / (per-device batch x processes), which must divide exactly.

        The process count is the launch's (WORLD_SIZE), known before any process group exists. A
        gradient_accumulation_steps that disagrees with the derived one is a conflict, not silently replaced.
        """
        if self.global_batch_size is None:
            return
        processes = int(os.environ.get("WORLD_SIZE", "1"))
        per_step = self.per_device_train_batch_size * processes
        if self.global_batch_size % per_step:
            raise SSDError(
                f"global_batch_size {self.global_batch_size} is not a multiple of per_device_train_batch_size "
                f"{self.per_device_train_batch_size} x {processes} processes; change one of them."
            )
        derived = self.global_batch_size // per_step
        if self.gradient_accumulation_steps not in (1, derived):
            raise SSDError(
                f"gradient_accumulation_steps {self.gradient_accumulation_steps} conflicts with global_batch_size "
                f"{self.global_batch_size} ({derived} on {processes} process(es)); give one of them."
            )
        self.gradient_accumulation_steps = derived

    def get_warmup_steps(self, num_training_steps: int) -> int:
        """Warm-up in whole steps (a fraction rounds to the nearest step), never every step: a 1-step run must
        train, not spend its only step at learning rate 0."""
        steps = int(self.warmup_steps) if self.warmup_steps >= 1 else round(num_training_steps * self.warmup_steps)
        capped = min(steps, max(num_training_steps - 1, 0))
        if capped < steps:
            logger.info("Warm-up of %d steps capped at %d: training has %d steps", steps, capped, num_training_steps)
        return capped

    # ------------------------------------------------------------------ derived values
    @property
    def effective_sampling_seed(self) -> int:
        return self.seed if self.sampling_seed is None else self.sampling_seed

    def resolved_samples_dir(self) -> str:
        return self.samples_dir or os.path.join(self.output_dir or ".", "samples")

    def resolved_eval_dir(self) -> str:
        from .records import model_eval_dir

        return self.eval_output_dir or model_eval_dir(self.output_dir or ".")

    def resolved_engine(self) -> str:
        return resolve_engine(self.engine)

    def sampling_params(self) -> SamplingParams:
        return SamplingParams(
            temperature=self.temperature, top_k=self.top_k, top_p=self.top_p,
            max_new_tokens=self.max_new_tokens, seed=self.effective_sampling_seed,
        )

    def eval_params(self, temperature: float | None = None) -> SamplingParams:
        return SamplingParams(
            temperature=self.eval_temperature if temperature is None else temperature, top_k=self.eval_top_k,
            top_p=self.eval_top_p, max_new_tokens=self.eval_max_new_tokens or self.max_new_tokens,
            seed=self.effective_sampling_seed,
        )

    def prompt_options(self) -> PromptOptions:
        return PromptOptions(
            template=self.prompt_template, system_prompt=self.system_prompt or None,
            use_chat_template=self.use_chat_template,
        )


def validate_engine_settings(settings) -> None:
    """The engine fields of an `SSDConfig` or of `ssd-hf eval`'s settings; one readable line on the first bad value."""
    s = settings
    checks = [
        (s.engine in ENGINES, f"engine must be one of {', '.join(ENGINES)} (got {s.engine!r})."),
        (s.sampling_batch_size >= 1, f"sampling_batch_size must be >= 1 (got {s.sampling_batch_size})."),
        (s.endpoint_protocol in ENDPOINT_PROTOCOLS, f"endpoint_protocol must be one of {', '.join(ENDPOINT_PROTOCOLS)} (got {s.endpoint_protocol!r})."),
        (s.concurrency >= 1, f"concurrency must be >= 1 (got {s.concurrency})."),
        (s.request_timeout > 0, f"request_timeout must be > 0 seconds (got {s.request_timeout})."),
        (s.max_retries >= 0, f"max_retries must be >= 0 (got {s.max_retries})."),
        (s.vllm_tensor_parallel_size >= 1, f"vllm_tensor_parallel_size must be >= 1 (got {s.vllm_tensor_parallel_size})."),
        (0 < s.vllm_gpu_memory_utilization <= 1, f"vllm_gpu_memory_utilization must be in (0, 1] (got {s.vllm_gpu_memory_utilization})."),
    ]
    for ok, message in checks:
        if not ok:
            raise SSDError(message)
    if isinstance(s.endpoint, str):  # YAML `endpoint: http://...`
        s.endpoint = [s.endpoint]
    for url in s.endpoint or []:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise SSDError(f"endpoint {redact_url(url)!r} is not an http(s) URL; pass e.g. --endpoint http://127.0.0.1:8080.")
    if s.engine == "endpoint" and not s.endpoint:
        raise SSDError("--engine endpoint needs at least one server: pass --endpoint http://HOST:PORT (repeat for more).")


def _bf16_available() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
