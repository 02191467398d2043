"""A table of bad inputs, as a new user makes them: each ends with exit status 2 and at most three lines (progress
bars aside), no traceback, the fix named, and nothing already written lost.

Most cases fail before any model loads, so they run in-process through `ssd_hf.cli.main`; a few need the tiny
model (another tokenizer's token ids, a LoRA target that matches nothing, a half-written checkpoint).
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hub_fixtures import make_samples_dir

from ssd_hf.cli import main
from ssd_hf.sampling.store import SampleStore

SAMPLE = "sample --model_name_or_path {M} --dataset_name {D}/prompts.jsonl --output_dir {O}"
TRAIN = "train --model_name_or_path {M} --samples_dataset {S} --output_dir {O}"
RUN = "run --model_name_or_path {M} --dataset_name {D}/prompts.jsonl --output_dir {O}"
EVAL = "eval --output {E}"
SOLVE = "eval --output {E} --problems fixtures --solutions {D}/solutions.jsonl"

# (id, command line, a word of the fix that the one line must hold)
CASES = [
    # --- values of sampling flags
    ("temperature-abc", SAMPLE + " --temperature abc", "invalid float value"),
    ("temperature-0", SAMPLE + " --temperature 0", "temperature must be > 0"),
    ("temperature-negative", SAMPLE + " --temperature -1", "temperature must be > 0"),
    ("top-k-negative", SAMPLE + " --top_k -1", "top_k must be >= 0"),
    ("top-k-float", SAMPLE + " --top_k 2.5", "invalid int value"),
    ("top-p-0", SAMPLE + " --top_p 0", "top_p must be in (0, 1]"),
    ("top-p-big", SAMPLE + " --top_p 1.5", "top_p must be in (0, 1]"),
    ("max-new-tokens-1e12", SAMPLE + " --max_new_tokens 1e12", "invalid int value"),
    ("max-new-tokens-huge", SAMPLE + " --max_new_tokens 1000000000000", "context length"),
    ("max-new-tokens-0", SAMPLE + " --max_new_tokens 0", "max_new_tokens must be >= 1"),
    ("samples-per-prompt-0", SAMPLE + " --num_samples_per_prompt 0", "num_samples_per_prompt must be >= 1"),
    ("prompt-template", SAMPLE + " --prompt_template nosuch", "prompt_template must be one of"),
    ("max-prompts-0", SAMPLE + " --max_prompts 0", "max_prompts must be >= 1"),
    ("sampling-batch-0", SAMPLE + " --sampling_batch_size 0", "sampling_batch_size must be >= 1"),
    ("bool-value", SAMPLE + " --use_chat_template maybe", "use_chat_template"),
    # --- engines and their flags
    ("engine-unknown", SAMPLE + " --engine nosuch", "engine must be one of"),
    ("endpoint-missing", SAMPLE + " --engine endpoint", "--endpoint http"),
    ("endpoint-not-url", SAMPLE + " --engine endpoint --endpoint notaurl", "http(s) URL"),
    ("endpoint-concurrency-0", SAMPLE + " --engine endpoint --endpoint http://127.0.0.1:9 --concurrency 0",
     "concurrency must be >= 1"),
    ("endpoint-timeout-0", SAMPLE + " --engine endpoint --endpoint http://127.0.0.1:9 --request_timeout 0",
     "request_timeout must be > 0"),
    ("endpoint-retries", SAMPLE + " --engine endpoint --endpoint http://127.0.0.1:9 --max_retries -1",
     "max_retries must be >= 0"),
    ("endpoint-protocol", SAMPLE + " --engine endpoint --endpoint http://127.0.0.1:9 --endpoint_protocol grpc",
     "endpoint_protocol must be one of"),
    ("vllm-flag-transformers", SAMPLE + " --engine transformers --vllm_enforce_eager true", "--engine vllm"),
    ("vllm-memory-transformers", SAMPLE + " --engine transformers --vllm_gpu_memory_utilization 0.5", "--engine vllm"),
    ("endpoint-flag-transformers", SAMPLE + " --engine transformers --endpoint http://127.0.0.1:9", "--engine endpoint"),
    ("concurrency-transformers", SAMPLE + " --engine transformers --concurrency 4", "--engine endpoint"),
    ("endpoint-not-an-inference-server", SAMPLE + " --engine endpoint --endpoint {U}", "inference server"),
    ("endpoint-flag-auto", SAMPLE + " --endpoint http://127.0.0.1:9", "--engine endpoint"),
    ("vllm-memory-2", SAMPLE + " --engine vllm --vllm_gpu_memory_utilization 2", "vllm_gpu_memory_utilization must be"),
    ("vllm-tp-0", SAMPLE + " --engine vllm --vllm_tensor_parallel_size 0", "vllm_tensor_parallel_size must be"),
    # --- flags the command does not use
    ("sample-learning-rate", SAMPLE + " --learning_rate 1e-4", "not used by `ssd-hf sample`"),
    ("sample-max-steps", SAMPLE + " --max_steps 5", "not used by `ssd-hf sample`"),
    ("sample-max-length", SAMPLE + " --max_length 512", "not used by `ssd-hf sample`"),
    ("sample-run-eval", SAMPLE + " --run_eval true", "not used by `ssd-hf sample`"),
    ("sample-samples-dataset", SAMPLE + " --samples_dataset {S}", "not used by `ssd-hf sample`"),
    ("sample-eval-n", SAMPLE + " --eval_n 3", "not used by `ssd-hf sample`"),
    ("sample-drop-stubs", SAMPLE + " --drop_empty_and_stubs false", "not used by `ssd-hf sample`"),
    ("train-run-eval", TRAIN + " --run_eval true", "not used by `ssd-hf train`"),
    ("train-eval-temperature", TRAIN + " --eval_temperature 0.5", "not used by `ssd-hf train`"),
    ("train-num-rounds", TRAIN + " --num_rounds 2", "not used by `ssd-hf train`"),
    ("sample-num-rounds", SAMPLE + " --num_rounds 2", "not used by `ssd-hf sample`"),
    ("unknown-flag", SAMPLE + " --no_such_flag 1", "no_such_flag"),
    ("misspelt-flag", SAMPLE + " --temprature 1.0", "temprature"),
    # --- YAML configs
    ("config-missing", SAMPLE + " --config {D}/nosuch.yaml", "does not exist"),
    ("config-no-value", SAMPLE + " --config", "--config needs a YAML file"),
    ("yaml-list-for-number", SAMPLE + " --config {D}/topk.yaml", "top_k must be one whole number"),
    ("yaml-word-for-number", SAMPLE + " --config {D}/hot.yaml", "temperature must be one number"),
    ("yaml-mapping-for-number", SAMPLE + " --config {D}/mapping.yaml", "max_new_tokens must be one whole number"),
    ("yaml-invalid", SAMPLE + " --config {D}/invalid.yaml", "not valid YAML"),
    ("yaml-list", SAMPLE + " --config {D}/list.yaml", "YAML mapping"),
    ("yaml-unknown-key", SAMPLE + " --config {D}/unknown.yaml", "unknown keys"),
    ("yaml-bad-value", SAMPLE + " --config {D}/cold.yaml", "temperature must be > 0"),
    # --- models
    ("model-missing-absolute", SAMPLE.replace("{M}", "/nonexistent/model"), "check the path"),
    ("model-missing-relative", SAMPLE.replace("{M}", "./no/such/model"), "check the path"),
    ("model-not-cached-offline", SAMPLE.replace("{M}", "nosuchorg/nosuchmodel"), "HF_HUB_OFFLINE"),
    ("model-bad-id", SAMPLE.replace("{M}", "org/na..me"), "neither a local folder nor a Hub id"),
    ("model-folder-without-config", SAMPLE.replace("{M}", "{D}/emptydir"), "config.json"),
    ("model-is-a-file", SAMPLE.replace("{M}", "{D}/prompts.jsonl"), "is a file"),
    ("model-none", "sample --dataset_name {D}/prompts.jsonl --output_dir {O}", "--model_name_or_path"),
    ("train-model-missing", TRAIN.replace("{M}", "/nonexistent/model"), "check the path"),
    ("eval-model-missing", EVAL + " --problems fixtures --model /nonexistent/model", "check the path"),
    ("eval-model-not-cached", EVAL + " --problems fixtures --model nosuchorg/nosuch", "HF_HUB_OFFLINE"),
    # --- prompt pools
    ("prompts-missing", SAMPLE.replace("{D}/prompts.jsonl", "{D}/nosuch.jsonl"), "check the path"),
    ("prompts-none", "sample --model_name_or_path {M} --output_dir {O}", "--dataset_name"),
    ("prompts-empty-file", SAMPLE.replace("prompts.jsonl", "empty.jsonl"), "at least one record"),
    ("prompts-blank-lines", SAMPLE.replace("prompts.jsonl", "blank.jsonl"), "at least one record"),
    ("prompts-bad-line", SAMPLE.replace("prompts.jsonl", "badline.jsonl"), "line 2 is not JSON"),
    ("prompts-not-objects", SAMPLE.replace("prompts.jsonl", "numbers.jsonl"), "not a JSON object"),
    ("prompts-not-utf8", SAMPLE.replace("prompts.jsonl", "latin1.jsonl"), "not UTF-8"),
    ("prompts-wrong-suffix", SAMPLE.replace("prompts.jsonl", "prompts.txt"), ".jsonl, .json, .parquet or .csv"),
    ("prompts-mixed-folder", SAMPLE.replace("prompts.jsonl", "mixed"), "keep one format"),
    ("prompts-empty-folder", SAMPLE.replace("prompts.jsonl", "emptydir"), "empty folder"),
    ("prompts-empty-parquet", SAMPLE.replace("prompts.jsonl", "empty.parquet"), "at least one record"),
    ("prompts-corrupt-parquet", SAMPLE.replace("prompts.jsonl", "corrupt.parquet"), "write or download it again"),
    ("prompts-no-prompt-column", SAMPLE.replace("prompts.jsonl", "noprompt.jsonl"), "prompt"),
    ("prompts-hub-offline", SAMPLE.replace("{D}/prompts.jsonl", "nosuchorg/nosuchprompts"), "nosuchorg/nosuchprompts"),
    # --- training values
    ("batch-size-0", TRAIN + " --per_device_train_batch_size 0", "per_device_train_batch_size must be >= 1"),
    ("learning-rate-negative", TRAIN + " --learning_rate -1", "learning_rate must be >= 0"),
    ("max-steps-0", TRAIN + " --max_steps 0", "max_steps must be > 0"),
    ("accumulation-0", TRAIN + " --gradient_accumulation_steps 0", "gradient_accumulation_steps must be >= 1"),
    ("global-batch-indivisible", TRAIN + " --global_batch_size 3 --per_device_train_batch_size 2", "not a multiple"),
    ("global-batch-conflict", TRAIN + " --per_device_train_batch_size 1 --global_batch_size 4 --gradient_accumulation_steps 3", "conflicts"),
    ("global-batch-0", TRAIN + " --global_batch_size 0", "global_batch_size must be >= 1"),
    ("max-length-0", TRAIN + " --max_length 0", "max_length must be >= 1"),
    ("epochs-0", TRAIN + " --max_steps -1 --num_train_epochs 0", "num_train_epochs must be > 0"),
    ("warmup-negative", TRAIN + " --warmup_steps -1", "warmup_steps must be >= 0"),
    ("weight-decay-negative", TRAIN + " --weight_decay -1", "weight_decay must be >= 0"),
    ("drop-fraction-1", TRAIN + " --drop_shortest_fraction 1", "drop_shortest_fraction must be in [0, 1)"),
    ("truncated-policy", TRAIN + " --truncated_samples nope", "truncated_samples must be 'keep' or 'drop'"),
    ("learning-rate-abc", TRAIN + " --learning_rate fast", "invalid float value"),
    # --- samples
    ("samples-conflicting-temperature", TRAIN + " --temperature 0.3", "drop --temperature"),
    ("samples-conflicting-top-k", TRAIN + " --top_k 5", "drop --top_k"),
    ("samples-missing", TRAIN.replace("{S}", "{D}/nosuch"), "does not exist"),
    ("samples-missing-relative", TRAIN.replace("{S}", "in/nosuch"), "does not exist"),
    ("samples-empty-parquet", TRAIN.replace("{S}", "{D}/empty.parquet"), "at least one record"),
    ("samples-corrupt-parquet", TRAIN.replace("{S}", "{D}/corrupt.parquet"), "write or download it again"),
    ("samples-unfinished-folder", TRAIN.replace("{S}", "{D}/emptydir"), "ssd-hf sample"),
    ("samples-hub-offline", TRAIN.replace("{S}", "nosuchorg/nosuchsamples"), "HF_HUB_OFFLINE"),
    ("samples-unfinished-store", TRAIN.replace("{S}", "{D}/extending"), "rerun that `ssd-hf sample` command"),
    ("samples-of-another-tokenizer", TRAIN.replace("{S}", "{D}/othertok.parquet") + " --max_steps 1 --drop_empty_and_stubs false", "another tokenizer"),
    ("lora-target-matches-nothing", TRAIN + " --use_peft --lora_target_modules nosuch_proj --max_steps 1", "q_proj"),
    ("resume-missing", TRAIN + " --resume_from_checkpoint {D}/nosuch-checkpoint", "not a checkpoint folder"),
    ("resume-incomplete", TRAIN + " --resume_from_checkpoint {D}/broken/checkpoint-2 --max_steps 1", "is incomplete"),
    ("sample-samples-dir-train-only", "train --model_name_or_path {M} --output_dir {D}/nosamples", "ssd-hf sample"),
    # --- run
    ("run-every-stage-off", RUN + " --run_sample false --run_train false --run_eval false", "turn one on"),
    ("run-eval-n-0", RUN + " --eval_n 0", "eval_n must be >= 1"),
    ("run-eval-temperature-0", RUN + " --eval_temperature 0", "eval_temperature must be > 0"),
    ("run-eval-grader", RUN + " --eval_grader nosuch", "eval_grader must be"),
    ("run-eval-top-p", RUN + " --eval_top_p 2", "eval_top_p must be in (0, 1]"),
    ("unknown-command", "nosuch --x 1", "choose one of"),
    # --- eval
    ("eval-temperature-abc", SOLVE + " --temperature abc", "invalid float value"),
    ("eval-n-0", SOLVE + " --n 0", "--n must be at least 1"),
    ("eval-top-p-0", SOLVE + " --top_p 0", "--top_p must be in (0, 1]"),
    ("eval-timeout-0", SOLVE + " --timeout 0", "--timeout must be > 0"),
    ("eval-limit-0", SOLVE + " --limit 0", "--limit must be at least 1"),
    ("eval-workers-0", SOLVE + " --workers 0", "--workers must be at least 1"),
    ("eval-memory-0", SOLVE + " --memory_mb 0", "--memory_mb must be > 0"),
    ("eval-sweep-0", EVAL + " --problems fixtures --model {M} --sweep_temperature 0:1:0.5", "start the grid above 0"),
    ("eval-grader", SOLVE + " --grader nosuch", "invalid choice"),
    ("eval-engine", EVAL + " --problems fixtures --model {M} --engine nosuch", "invalid choice"),
    ("eval-problems-missing", EVAL + " --problems {D}/nosuch.jsonl --solutions {D}/solutions.jsonl", "nosuch.jsonl"),
    ("eval-solutions-missing", SOLVE.replace("solutions.jsonl", "nosuch.jsonl"), "nosuch.jsonl"),
    ("eval-solutions-bad-row", SOLVE.replace("solutions.jsonl", "numbers.jsonl"), "numbers.jsonl"),
    ("eval-solutions-no-completion", SOLVE.replace("solutions.jsonl", "prompts.jsonl"), "completion"),
    ("eval-output-is-a-file", SOLVE.replace("--output {E}", "--output {D}/prompts.jsonl"), "pass a folder"),
    ("eval-output-of-another-run", SOLVE.replace("--output {E}", "--output {D}/other-eval"), "pass another --output"),
    ("eval-output-with-old-results", SOLVE.replace("--output {E}", "--output {D}/old-results"), "pass another --output"),
    ("eval-nothing", EVAL + " --problems fixtures", "pass --model"),
    ("eval-model-and-solutions", SOLVE + " --model {M}", "drop --model"),
    ("eval-unknown-flag", SOLVE + " --no_such_flag", "unrecognized arguments"),
    # --- push, card, toy
    ("push-nothing", "push", "required"),
    ("push-kind", "push nosuch {D} --repo_id a/b", "invalid choice"),
    ("push-samples-no-token", "push samples {D}/emptydir --repo_id me/x", "HF_TOKEN"),
    ("push-model-no-token", "push model {D}/emptydir --repo_id me/x", "HF_TOKEN"),
    ("push-no-repo", "push model {D}/emptydir", "--repo_id"),
    ("card-nothing", "card {D}/emptydir", "ssd-hf train"),
    ("card-no-path", "card", "required"),
    ("toy-unknown-flag", "toy --no_such_flag", "unrecognized arguments"),
]


def write_files(data: str, model: str) -> None:
    def put(name: str, text: str) -> None:
        with open(os.path.join(data, name), "w", encoding="utf-8") as handle:
            handle.write(text)

    put("prompts.jsonl", "".join(json.dumps({"prompt": f"Print {i}."}) + "\n" for i in range(3)))
    put("prompts.txt", "Print 1.\n")
    put("empty.jsonl", "")
    put("blank.jsonl", "\n\n")
    put("badline.jsonl", '{"prompt": "a"}\n{"prompt": \n')
    put("numbers.jsonl", "1\n2\n")
    put("noprompt.jsonl", '{"text": "a"}\n')
    put("solutions.jsonl", json.dumps({"question_id": "x", "completion": "print(1)"}) + "\n")
    with open(os.path.join(data, "latin1.jsonl"), "wb") as handle:
        handle.write('{"prompt": "caf\u00e9"}\n'.encode("latin-1"))
    put("topk.yaml", "top_k: [10, 20]\n")
    put("hot.yaml", "temperature: hot\n")
    put("cold.yaml", "temperature: -2\n")
    put("mapping.yaml", "max_new_tokens: {a: 1}\n")
    put("invalid.yaml", "temperature: [1\n")
    put("list.yaml", "- temperature\n")
    put("unknown.yaml", "no_such_key: 1\n")
    for folder in ("emptydir", "mixed", "broken/checkpoint-2", "nosamples", "other-eval", "old-results"):
        os.makedirs(os.path.join(data, folder), exist_ok=True)
    put("mixed/a.jsonl", '{"prompt": "a"}\n')
    pq.write_table(pa.table({"prompt": ["b"]}), os.path.join(data, "mixed", "b.parquet"))
    pq.write_table(pa.table({"prompt": pa.array([], pa.string())}), os.path.join(data, "empty.parquet"))
    with open(os.path.join(data, "corrupt.parquet"), "wb") as handle:
        pq.write_table(pa.table({"prompt": ["a"] * 100}), os.path.join(data, "whole.parquet"))
        handle.write(open(os.path.join(data, "whole.parquet"), "rb").read()[:-20])
    put("broken/checkpoint-2/config.json", "{}")
    put("other-eval/eval_run.json", json.dumps({"model": "someone/else"}))
    put("other-eval/verdicts.jsonl", "")
    put("old-results/results.json", "{}")
    prompt = [{"role": "user", "content": "Print 1."}]
    pq.write_table(pa.Table.from_pylist([{
        "prompt": prompt, "completion": "print(1)", "sample_index": 0, "finish_reason": "stop", "model_id": model,
        "prompt_token_ids": [1, 2, 3], "completion_token_ids": [5, 10**7]}]), os.path.join(data, "othertok.parquet"))


@pytest.fixture(scope="module")
def world(tiny_qwen3, tmp_path_factory):
    data = str(tmp_path_factory.mktemp("bad-inputs"))
    write_files(data, tiny_qwen3)
    samples = make_samples_dir(os.path.join(data, "samples"), model_id=tiny_qwen3)
    # A finished store that a sampling run was extending when it was killed (the runner unmarks it first).
    SampleStore(make_samples_dir(os.path.join(data, "extending"), model_id=tiny_qwen3), "cfg123").update_manifest(
        finalized=False)
    # A web server that is not an inference server: it answers POST with HTTP 501.
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=os.path.join(data, "emptydir")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"M": tiny_qwen3, "D": data, "S": samples, "U": f"http://127.0.0.1:{server.server_port}"}
    server.shutdown()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def is_progress(line: str) -> bool:
    return "it/s]" in line or "%|" in line or "examples/s]" in line or "s/it]" in line


@pytest.mark.parametrize("case, command, fix", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_that_names_the_fix(world, tmp_path, monkeypatch, capsys, case, command, fix):
    out, evaluation = tmp_path / "out", tmp_path / "eval"
    for folder in (out, evaluation):
        folder.mkdir()
        (folder / "kept.txt").write_text("written before")
    (tmp_path / "in").mkdir()
    monkeypatch.chdir(tmp_path)
    argv = [part.format(**world, O=out, E=evaluation) for part in shlex.split(command)]
    code = main(argv)
    captured = capsys.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip() and not is_progress(line)]
    text = "\n".join(lines)
    assert code == 2, text
    assert "Traceback" not in text
    assert len(lines) <= 3, text
    assert fix.lower() in text.lower(), text
    for folder in (out, evaluation):
        assert (folder / "kept.txt").read_text() == "written before"


def test_the_table_is_large_and_every_case_is_distinct():
    assert len(CASES) >= 80
    assert len({case[0] for case in CASES}) == len(CASES)
    assert len({case[1] for case in CASES}) == len(CASES)
