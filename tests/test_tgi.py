"""The endpoint engine against a server that speaks TGI's /generate as TGI's OpenAPI document says (tests/tgi_server.py).

Every request the engine sends is validated against the schema (tests/tgi_schema.py); the samples must carry the
token ids of `details.tokens` and `details.prefill` exactly, every finish_reason maps onto ours, and TGI's error
answers lead where they should: 422 stops the run with one line and no retry (a prompt too long is skipped),
424 and 429 are retried until the request succeeds.
"""

from __future__ import annotations

import pytest
from tgi_server import TGIServer

from ssd_hf.config import SSDConfig
from ssd_hf.errors import SSDError
from ssd_hf.prompts import apply_chat_template, prepare_prompts
from ssd_hf.sampling.engines import load_engine
from ssd_hf.sampling.runner import run_sampling

MAX_NEW_TOKENS = 12


@pytest.fixture
def tgi(tiny_qwen3):
    with TGIServer(tiny_qwen3, max_total_tokens=400) as server:
        yield server


def sample(server, model, tmp_path, questions, **overrides):
    values = dict(output_dir=str(tmp_path / "out"), engine="endpoint", endpoint=[server.url], concurrency=4,
                  max_new_tokens=MAX_NEW_TOKENS, report_to="none", sampling_batch_size=8)
    config = SSDConfig(**{**values, **overrides})
    prompts = prepare_prompts([{"question": q} for q in questions], config.prompt_options())
    engine = load_engine("endpoint", model_name_or_path=model, config=config)
    engine.backoff_base_s = 0.01  # retries in milliseconds, not seconds
    assert [e.protocol for e in engine.endpoints] == ["tgi"]
    dataset = run_sampling(prompts, engine, config.sampling_params(), config.prompt_options(), str(tmp_path / "s"),
                           shard_size=config.sampling_batch_size)
    return prompts, dataset


def test_every_request_fits_tgi_schema_and_samples_are_its_token_ids(tgi, tiny_qwen3, tmp_path):
    from transformers import AutoTokenizer

    # sampling_seed 0: the probe's seed, which TGI's schema does not allow as such
    prompts, dataset = sample(tgi, tiny_qwen3, tmp_path, [f"Read n and print n + {i}." for i in range(15)],
                              sampling_seed=0)
    assert tgi.violations == [], tgi.violations[:3]
    assert len(tgi.requests) == 1 + len(prompts)  # the probe, then one request per sample
    parameters = tgi.requests[-1]["parameters"]
    assert (parameters["temperature"], parameters["top_k"], parameters["top_p"]) == (1.6, 20, 0.8)
    assert parameters["details"] and parameters["decoder_input_details"] and parameters["return_full_text"] is False

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen3)
    by_prompt = {p.prompt_id: p for p in prompts}
    seen = set()
    assert dataset.num_rows == len(prompts)
    for row in dataset:
        issued = tgi.issued[row["seed"]]
        seen.add(issued.finish_reason)
        assert row["completion_token_ids"] == issued.token_ids  # details.tokens ids, token-exact
        assert row["completion_tokens"] == len(issued.token_ids) <= MAX_NEW_TOKENS
        # the model saw the chat template's ids once (details.prefill), no special token doubled
        assert row["prompt_token_ids"] == issued.prompt_ids
        assert issued.prompt_ids == apply_chat_template(tokenizer, by_prompt[row["prompt_id"]].messages, True)
        assert row["finish_reason"] == {"length": "length", "eos_token": "stop", "stop_sequence": "stop"}[issued.finish_reason]
        assert row["token_ids"] == "engine" and tokenizer.eos_token not in row["completion"]
        assert (row["model_id"], row["model_revision"]) == ("org/tiny-tgi", "0123456789abcdef")  # /info's
    assert seen == {"length", "eos_token", "stop_sequence"}


def test_overloaded_and_generation_errors_are_retried(tgi, tiny_qwen3, tmp_path):
    tgi.script = [429, 429, 424, 429, 500]  # after the probe: TGI's error answers, then success
    prompts, dataset = sample(tgi, tiny_qwen3, tmp_path, ["Print 1.", "Print 2."], concurrency=1)
    assert dataset.num_rows == 2 and tgi.violations == []
    assert (tgi.answered[429], tgi.answered[424], tgi.answered[500], tgi.answered[200]) == (3, 1, 1, 3)


def test_validation_error_stops_at_once_with_one_line(tgi, tiny_qwen3, tmp_path):
    tgi.script = [422]  # after the probe: a parameter TGI refuses
    with pytest.raises(SSDError) as caught:
        sample(tgi, tiny_qwen3, tmp_path, ["Print 1.", "Print 2.", "Print 3."], concurrency=1)
    message = str(caught.value)
    assert "\n" not in message and "HTTP 422" in message and "`top_k` must be strictly positive" in message
    assert tgi.answered[422] == 1  # never retried


def test_prompt_too_long_for_the_server_is_skipped(tgi, tiny_qwen3, tmp_path):
    prompts, dataset = sample(tgi, tiny_qwen3, tmp_path, ["Print 1.", "Print this: " + "x y " * 600])
    assert dataset.num_rows == 1 and tgi.answered[422] == 1 and tgi.violations == []


def test_a_template_that_starts_with_bos_reaches_tgi_with_one(tiny_qwen3, tmp_path):
    """Llama 3's case: the chat template writes the BOS and the tokenizer adds one too, as TGI's /generate does."""
    from tokenizers import processors
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen3)
    tokenizer.add_special_tokens({"bos_token": "<|begin_of_text|>"})
    tokenizer._tokenizer.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", tokenizer.bos_token_id)])
    tokenizer.chat_template = "{{ bos_token }}" + tokenizer.chat_template
    folder = str(tmp_path / "bos-tokenizer")
    tokenizer.save_pretrained(folder)
    with TGIServer(folder) as server:
        prompts, dataset = sample(server, folder, tmp_path, ["Print 1.", "Print 2."])
    for row in dataset:
        assert row["prompt_token_ids"].count(tokenizer.bos_token_id) == 1
        assert row["prompt_token_ids"] == server.issued[row["seed"]].prompt_ids
