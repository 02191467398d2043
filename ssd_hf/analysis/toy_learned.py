"""The paper's toy world, learned: a tiny causal LM that speaks it, improved by SSD through the real pipeline.

`toy.py` computes the toy world exactly. Here the same world becomes a model, so that the project's own
parts can be checked against a known answer:

1. **The base.** A tiny Qwen3 (built from a config) trained by soft-target cross-entropy until its
   next-token distribution at each completion position is the toy state's (root, fork, lock, lock, lock),
   then end of turn. The user turn is `root`; a completion is five words such as `tok1 tok0 tok0 tok0 tok0`.
   The state depends on the position only: both paths of the paper share the same fork and locks, so the
   success probability is the paper's `(q_root(tok0) + q_root(tok1)) * q_fork(tok0) * q_lock(tok0)^3`.
2. **SSD, unchanged.** `SSDTrainer` with the paper's student settings (T_train 0.9, top-p 0.85, no top-k)
   samples the frozen base through the `transformers` engine into the resumable store, then fine-tunes on
   the raw samples with completion-only cross-entropy. Nothing in that step knows it is a toy.
3. **The evaluator.** (a) exact success of one global decoding rule, from the model's own next-token
   distributions along the two passing paths, swept over the eval temperature; (b) at each model's best
   temperature, fresh samples through the same engine and store, judged by the toy's PASS rule, with a
   Wilson 95% interval. (a) picks the temperature, (b) measures it: the reported rate is not the one the
   temperature was chosen on.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time

import numpy as np

from . import toy

logger = logging.getLogger(__name__)

TOY_WORDS = [f"tok{i}" for i in range(toy.VOCAB)]
ROOT_PROMPT = "root"
STATES = ("root", "fork", "lock", "lock", "lock")  # the state behind each completion position
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>"]
# The toy world has one question, so the template asks it whatever the user turn says: any tool that applies
# the chat template (the samplers, SFT, the Space, `ssd-hf analyze`) gets the toy's prompt and its answers.
CHAT_TEMPLATE = (
    "<|im_start|>" + ROOT_PROMPT + "<|im_end|>"
    "{% for message in messages %}{% if message['role'] == 'assistant' %}"
    "<|im_start|>{{ message['content'] }}<|im_end|>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>{% endif %}"
)
EVAL_TOP_P = 0.80  # the paper's headline eval truncation for the toy
FIT_FILE = "toy_fit.json"
RESULTS_FILE = "toy_results.json"


# ----------------------------------------------------------------------------- the world as a model
def build_toy_tokenizer():
    """One word per token: the 16 toy tokens, `root`, ChatML-style specials and `<unk>` (any text encodes)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate([*SPECIAL_TOKENS, ROOT_PROMPT, *TOY_WORDS])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def prompt_ids(tokenizer) -> list[int]:
    """The rendered prompt, exactly as the sampling engine sends it."""
    from ..prompts import apply_chat_template

    return apply_chat_template(tokenizer, [{"role": "user", "content": ROOT_PROMPT}])


def target_distributions(tokenizer) -> np.ndarray:
    """[6, vocab]: the toy state at each completion position, then end of turn with certainty."""
    first = tokenizer.convert_tokens_to_ids(TOY_WORDS[0])
    targets = np.zeros((len(STATES) + 1, len(tokenizer)))
    for position, state in enumerate(STATES):
        targets[position, first : first + toy.VOCAB] = toy.BASE[state]
    targets[len(STATES), tokenizer.eos_token_id] = 1.0
    return targets


def train_toy_base(output_dir: str, steps: int = 600, learning_rate: float = 3e-3, batch_size: int = 256,
                   seed: int = 0, show_progress: bool = True) -> str:
    """Train and save the base model that speaks the toy world (skipped when `output_dir` has one).

    Soft-target cross-entropy against the exact state distributions, on completions drawn from the toy
    world itself (failing ones included), so every context the sampler can reach is seen. The fit is
    written to `toy_fit.json`: how far the learned distributions are from the paper's.
    """
    if os.path.isfile(os.path.join(output_dir, "config.json")):
        return output_dir
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM, GenerationConfig

    from ..tiny import tiny_config

    tokenizer = build_toy_tokenizer()
    eos, pad, first = tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.convert_tokens_to_ids(TOY_WORDS[0])
    prompt = prompt_ids(tokenizer)
    targets = torch.tensor(target_distributions(tokenizer), dtype=torch.float32)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = AutoModelForCausalLM.from_config(tiny_config("qwen3", len(tokenizer), eos, pad))
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    start = len(prompt) - 1  # logits at this position predict the first completion token
    model.train()
    for _ in tqdm(range(steps), desc="Training the toy base", disable=not show_progress):
        words = np.stack([rng.choice(toy.VOCAB, size=batch_size, p=toy.BASE[s]) for s in STATES], axis=1) + first
        rows = np.concatenate([np.tile(prompt, (batch_size, 1)), words, np.full((batch_size, 1), eos)], axis=1)
        logits = model(input_ids=torch.tensor(rows)).logits[:, start : start + len(STATES) + 1].float()
        loss = -(targets[None] * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, do_sample=True)
    fit = fit_report(model, tokenizer)
    tmp = f"{output_dir}.tmp-{os.getpid()}"
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    with open(os.path.join(tmp, FIT_FILE), "w") as handle:
        json.dump({**fit, "steps": steps, "learning_rate": learning_rate, "batch_size": batch_size, "seed": seed}, handle, indent=2)
    os.makedirs(os.path.dirname(os.path.abspath(output_dir)), exist_ok=True)
    os.replace(tmp, output_dir)
    return output_dir


# ----------------------------------------------------------------------------- reading a model's decisions
def path_distributions(model, tokenizer) -> dict[int, np.ndarray]:
    """Next-token distributions along each passing path: {root choice: [6, vocab]} (positions as STATES, then end)."""
    import torch

    prompt = prompt_ids(tokenizer)
    first = tokenizer.convert_tokens_to_ids(TOY_WORDS[0])
    rows = [prompt + [first + root] + [first] * (len(STATES) - 1) for root in (0, 1)]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(rows, device=model.device)).logits.double()
    probs = torch.softmax(logits[:, len(prompt) - 1 : len(prompt) + len(STATES)], dim=-1).cpu().numpy()
    return {0: probs[0], 1: probs[1]}


def fit_report(model, tokenizer) -> dict:
    """How closely the model's distributions match the toy's: max |p - p_toy| per state, mass off the toy tokens."""
    targets = target_distributions(tokenizer)
    first = tokenizer.convert_tokens_to_ids(TOY_WORDS[0])
    paths = path_distributions(model, tokenizer)
    report = {}
    for position, state in enumerate([*STATES, "end"]):
        errors = [float(np.abs(paths[r][position] - targets[position]).max()) for r in (0, 1)]
        off_toy = [float(1 - paths[r][position][first : first + toy.VOCAB].sum()) for r in (0, 1)] if state != "end" else None
        report[f"{position}:{state}"] = {"max_abs_error": max(errors), **({"mass_off_toy_tokens": max(off_toy)} if off_toy else {})}
    return {"positions": report, "max_abs_error": max(v["max_abs_error"] for v in report.values())}


def exact_success(model, tokenizer, temperatures, top_p: float = EVAL_TOP_P, top_k: int = 0) -> np.ndarray:
    """Probability of PASS under one global decoding rule, per temperature, from the model's own logits.

    The sampler's chain (temperature -> top-k -> top-p) is applied over the whole vocabulary, special
    tokens included, exactly as generation would; end of turn after the fifth word is not required here.
    """
    first = tokenizer.convert_tokens_to_ids(TOY_WORDS[0])
    paths = path_distributions(model, tokenizer)
    total = np.zeros(len(temperatures))
    for root in (0, 1):
        rate = toy.decode_batch(paths[root][0], temperatures, top_k, top_p)[:, first + root]
        for position in range(1, len(STATES)):
            rate = rate * toy.decode_batch(paths[root][position], temperatures, top_k, top_p)[:, first]
        total += rate
    return total


def state_table(model, tokenizer) -> dict[str, list[float]]:
    """Untempered distributions over tok0..tok15 at root, fork and first lock (along path tok0)."""
    first = tokenizer.convert_tokens_to_ids(TOY_WORDS[0])
    path = path_distributions(model, tokenizer)[0]
    return {state: [float(x) for x in path[position][first : first + toy.VOCAB]]
            for position, state in ((0, "root"), (1, "fork"), (2, "lock"))}


def passes(completion: str) -> bool:
    """The toy's verifier: tok0 or tok1 at the root, then tok0 at the fork and the three locks, then the end."""
    words = completion.split()
    return len(words) == len(STATES) and words[0] in TOY_WORDS[:2] and all(w == TOY_WORDS[0] for w in words[1:])


def is_toy_tokenizer(tokenizer) -> bool:
    """Whether a tokenizer is the toy world's (its chat template asks the toy's one question), so a tool that
    shows answers, such as the Space, judges them by `passes` instead of as code."""
    return getattr(tokenizer, "chat_template", None) == CHAT_TEMPLATE


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial rate (sound near 0, unlike the normal approximation)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


# ----------------------------------------------------------------------------- the run
def toy_prompts():
    from datasets import Dataset

    return Dataset.from_list([{"prompt": ROOT_PROMPT}])


def sampled_success(model, tokenizer, model_id: str, temperature: float, n: int, samples_dir: str,
                    top_p: float = EVAL_TOP_P, seed: int = 0) -> dict:
    """n fresh samples at one decoding rule through the transformers engine and store, judged by `passes`."""
    from ..prompts import prepare_prompts
    from ..records import PromptOptions, SamplingParams
    from ..sampling.engines.native import TransformersEngine
    from ..sampling.runner import run_sampling

    options = PromptOptions(template="plain", system_prompt=None, use_chat_template=True)
    prompts = prepare_prompts(toy_prompts(), options)
    engine = TransformersEngine(model_id, model=model, tokenizer=tokenizer)
    params = SamplingParams(temperature=float(temperature), top_k=0, top_p=top_p, max_new_tokens=len(STATES) + 3, seed=seed)
    samples = run_sampling(prompts, engine, params, options, samples_dir, num_samples_per_prompt=n, shard_size=256,
                           purpose="toy evaluation")
    wins = sum(passes(c) for c in samples["completion"])
    low, high = wilson_interval(wins, len(samples))
    return {"temperature": float(temperature), "top_p": top_p, "n": len(samples), "passes": wins,
            "success": wins / len(samples), "ci_low": low, "ci_high": high, "samples_dir": samples_dir}


def train_student(base_dir: str, output_dir: str, num_samples: int, t_train: float, top_p_train: float,
                  epochs: float, learning_rate: float, seed: int, samples_dir: str | None = None):
    """SSD on the toy base: SSDTrainer samples the frozen base, then fine-tunes on the raw samples.

    The optimiser differs from the paper's on purpose: a 75K-parameter model needs a learning rate near
    3e-3 (the paper's 5e-6 is for billions of parameters), and AdamW's decoupled weight decay scales with
    the learning rate, so at that rate the paper's 0.1 would pull every logit towards uniform and undo the
    support compression SSD is about. Decay is therefore off here.
    """
    from ..config import SSDConfig
    from ..trainer import SSDTrainer

    args = SSDConfig(
        output_dir=output_dir,
        samples_dir=samples_dir or os.path.join(os.path.dirname(output_dir), "samples"),
        temperature=t_train, top_k=0, top_p=top_p_train,  # the paper's toy student: T 0.9, top-p 0.85
        num_samples_per_prompt=num_samples, max_new_tokens=len(STATES) + 3, sampling_batch_size=256, engine="transformers",
        prompt_template="plain", system_prompt="",
        drop_empty_and_stubs=False,  # every toy completion is one line: the stub filter would drop them all
        learning_rate=learning_rate, num_train_epochs=epochs, per_device_train_batch_size=64,
        weight_decay=0.0, warmup_steps=0.05, gradient_checkpointing=False, save_strategy="no", report_to="none",
        logging_steps=10, seed=seed, dataloader_pin_memory=False,
    )
    trainer = SSDTrainer(model=base_dir, args=args, train_dataset=toy_prompts())
    trainer.train()
    trainer.save_model(output_dir)
    trainer.processing_class.save_pretrained(output_dir)
    return trainer


def run_learned_toy(output_dir: str, num_samples: int = 8000, eval_samples: int = 4000, t_train: float = 0.9,
                    top_p_train: float = 0.85, eval_top_p: float = EVAL_TOP_P, epochs: float = 3,
                    learning_rate: float = 3e-3, base_steps: int = 600, seed: int = 0) -> dict:
    """Base -> SSD -> evaluation, all on disk under `output_dir`; returns (and writes) the results."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    base_dir = train_toy_base(os.path.join(output_dir, "base"), steps=base_steps, seed=seed)
    trainer = train_student(base_dir, os.path.join(output_dir, "ssd"), num_samples, t_train, top_p_train, epochs,
                            learning_rate, seed)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    models = {
        "base": (base_dir, AutoModelForCausalLM.from_pretrained(base_dir).eval()),
        "ssd": (trainer.args.output_dir, trainer.accelerator.unwrap_model(trainer.model).eval()),
    }
    grid = toy.TEMPERATURE_GRID
    analytic = {"base": toy.best_of(toy.BASE, eval_top_p).to_dict(),
                "ssd": toy.best_of(toy.ssd_student(t_train, top_p_train), eval_top_p).to_dict()}
    results = {"t_train": t_train, "top_p_train": top_p_train, "eval_top_p": eval_top_p, "num_samples": num_samples,
               "eval_samples": eval_samples, "analytic": analytic, "models": {},
               "training": {"epochs": epochs, "learning_rate": learning_rate, "weight_decay": 0.0,
                            "per_device_train_batch_size": 64, "base_steps": base_steps, "seed": seed}}
    eval_dir = os.path.join(output_dir, "eval")
    shutil.rmtree(eval_dir, ignore_errors=True)  # the student was just retrained: earlier eval samples are stale
    curves = {}
    for name, (path, model) in models.items():
        with torch.no_grad():
            curves[name] = exact_success(model, tokenizer, grid, eval_top_p)
        best = int(np.argmax(curves[name]))
        measured = sampled_success(model, tokenizer, path, grid[best], eval_samples,
                                   os.path.join(eval_dir, name), eval_top_p, seed)
        results["models"][name] = {
            "path": path,
            "exact_best": {"success": float(curves[name][best]), "temperature": float(grid[best])},
            "sampled_at_best": measured,
            "states": state_table(model, tokenizer),
        }
    with open(os.path.join(base_dir, FIT_FILE)) as handle:
        results["base_fit"] = json.load(handle)
    results["samples_dir"] = trainer.args.resolved_samples_dir()
    results["plots"] = write_plots(results, grid, curves, os.path.join(output_dir, "plots"))
    results["token_stats"] = token_statistics(base_dir, trainer.args.output_dir, results["samples_dir"],
                                              os.path.join(output_dir, "plots", "tokens"), eval_top_p)
    results["plots"] += results["token_stats"].pop("plots")
    for name, (path, _) in models.items():
        write_eval_results(results, name, grid, curves[name], path)
    results["wall_seconds"] = time.perf_counter() - started
    with open(os.path.join(output_dir, RESULTS_FILE), "w") as handle:
        json.dump(results, handle, indent=2)
    return results


def token_statistics(base_dir: str, ssd_dir: str, samples_dir: str, output_dir: str, top_p: float) -> dict:
    """`ssd-hf analyze` on the toy: the paper's four panels and lock/fork counts, base vs SSD, same samples."""
    from ..data import load_samples
    from .tokens import analyze

    stats = analyze(base_dir, ssd_dir, load_samples(samples_dir), output_dir, max_samples=32, top_k=0, top_p=top_p)
    return {"labels": {name: stats[name]["labels"] for name in ("base", "ssd")}, "transitions": stats["transitions"],
            "plots": stats["plots"]}


def write_eval_results(results: dict, name: str, grid, curve: np.ndarray, model_dir: str) -> str:
    """The model's toy evaluation as a results JSON of `ssd-hf eval`'s schema, so cards and the Space read it.

    The toy is one problem sampled many times. pass@1 is the sampled rate at the best temperature with its
    Wilson interval; pass@5 the unbiased estimator on the same samples, its interval the Wilson bounds mapped
    through 1 - (1 - p)^5. The sweep is the exact curve on a 0.1 grid (`"method": "exact"`, no interval).
    """
    from ..eval.passk import pass_at_k
    from ..eval.results import SCHEMA_VERSION, write_results
    from ..records import model_eval_dir

    m = results["models"][name]["sampled_at_best"]
    pass1 = {"value": m["success"], "ci_low": m["ci_low"], "ci_high": m["ci_high"]}
    pass5 = {"value": pass_at_k(m["n"], m["passes"], 5), "ci_low": 1 - (1 - m["ci_low"]) ** 5,
             "ci_high": 1 - (1 - m["ci_high"]) ** 5}
    t_train = results["t_train"] if name == "ssd" else None
    sweep = []
    for t in np.round(np.arange(0.3, 3.0 + 1e-9, 0.1), 2):
        value = float(curve[int(np.argmin(np.abs(grid - t)))])
        point = {"temperature": float(t), "method": "exact",
                 "aggregates": {"all": {"num_problems": 1, "pass@1": {"value": value, "ci_low": value, "ci_high": value}}}}
        if t_train is not None:
            point["t_eff"] = round(float(t) * t_train, 4)
        sweep.append(point)
    data = {
        "schema_version": SCHEMA_VERSION, "benchmark": "toy-world",
        "config": {"model": model_dir, "model_revision": "local",
                   "decoding": {"temperature": m["temperature"], "top_k": 0, "top_p": m["top_p"], "max_new_tokens": len(STATES) + 3},
                   "n": m["n"], "seed": results["training"]["seed"], "timeout_s": None,
                   "problem_selection": {"description": "the paper's toy world (one prompt, PASS rule)", "count": 1,
                                         "question_ids": ["toy-world"]}},
        "aggregates": {"all": {"num_problems": 1, "pass@1": pass1, "pass@5": pass5}},
        "problems": [{"question_id": "toy-world", "difficulty": None, "n": m["n"], "c": m["passes"]}],
        "samples": [],
        "sweep": sweep,
        "best": {"temperature": m["temperature"], **({"t_eff": round(m["temperature"] * t_train, 4)} if t_train else {}),
                 "pass@1": pass1},
    }
    return write_results(data, model_eval_dir(model_dir))  # where `ssd-hf card`, push and the Space look


def write_plots(results: dict, grid, curves: dict, plot_dir: str) -> list[str]:
    from .plots import toy_learned_plot, toy_states_plot

    analytic_curves = {"base": toy.sweep(toy.BASE, results["eval_top_p"], grid),
                       "ssd": toy.sweep(toy.ssd_student(results["t_train"], results["top_p_train"]), results["eval_top_p"], grid)}
    return [
        toy_learned_plot(list(grid), curves, analytic_curves, results, os.path.join(plot_dir, "toy_learned_sweep.png")),
        toy_states_plot(results, os.path.join(plot_dir, "toy_learned_states.png")),
    ]
