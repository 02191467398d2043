"""A pane's engine on a real tiny model: streaming grows one completion, greedy streaming equals plain greedy
generate, token statistics line up with the completion, and load failures become one readable line."""

from __future__ import annotations

import pytest

from ssd_hf.space_app import compare_models, demo_config

MESSAGES = [{"role": "user", "content": "Print the sum of two integers read from stdin."}]


def test_streaming_grows_and_greedy_matches_generate(tiny_qwen3):
    import torch

    slot = compare_models.ModelSlot(demo_config.ModelSpec("base", tiny_qwen3))
    steps = list(slot.stream(MESSAGES, temperature=0, top_k=20, top_p=0.8, max_new_tokens=24))
    assert len(steps) > 1 and all(later.startswith(earlier) for earlier, later in zip(steps, steps[1:]))

    model, tokenizer = slot.load()
    ids = torch.tensor([slot.prompt_ids(tokenizer, MESSAGES)])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=24, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    assert steps[-1] == tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)

    stats = slot.token_stats(MESSAGES, steps[-1])
    assert "".join(s.text for s in stats) == steps[-1]
    assert all(0 <= s.entropy <= 6.3 and 0 < s.top1 <= 1 and s.label in ("lock", "fork", "other") for s in stats)


def test_load_failures_and_bad_decoding_are_one_readable_line(tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    for path, expected in ((str(empty), "holds no config.json"), ("./missing-folder", "does not exist")):
        slot = compare_models.ModelSlot(demo_config.ModelSpec("SSD", path))
        with pytest.raises(compare_models.ModelLoadError, match=expected) as failure:
            slot.load()
        assert "\n" not in str(failure.value) and str(failure.value).startswith("Could not load SSD:")
        with pytest.raises(compare_models.ModelLoadError):  # remembered, not retried on every click
            slot.load()
    assert "top-p" in compare_models.validate_decoding(0.7, 20, 1.5)
    assert "Temperature" in compare_models.validate_decoding(-1, 20, 0.8)
    assert "top-k" in compare_models.validate_decoding(0.7, 2.5, 0.8)
    assert compare_models.validate_decoding(0, 0, 1) is None


def test_toy_answers_are_judged_by_the_toy_rule_not_as_code(learned_toy, tiny_qwen3):
    """The learned toy's models answer in toy words: the pane judges them by the toy's PASS rule (the rule its
    evaluation used), where the coding rules would call every answer "no code"."""
    from ssd_hf.space_app import sandbox_bridge, ui

    toy = compare_models.ModelSlot(demo_config.ModelSpec("SSD", learned_toy["models"]["ssd"]["path"]))
    coder = compare_models.ModelSlot(demo_config.ModelSpec("base", tiny_qwen3))
    assert toy.is_toy and not coder.is_toy
    assert sandbox_bridge.toy_verdict("tok1 tok0 tok0 tok0 tok0").startswith("**PASS** by the toy's rule")
    for wrong in ("tok2 tok0 tok0 tok0 tok0", "tok0 tok1 tok0 tok0 tok0", "tok0 tok0 tok0 tok0", ""):
        assert sandbox_bridge.toy_verdict(wrong).startswith("**FAIL** by the toy's rule")

    # Greedy takes each state's most likely token: the root's failing tok2 and the fork's wrong tok1 (the paper's point).
    answer = list(toy.stream(MESSAGES, temperature=0, top_k=0, top_p=1.0, max_new_tokens=8))[-1]
    assert answer.split() == ["tok2", "tok1", "tok0", "tok0", "tok0"]
    status, code = ui._finished(toy, answer)
    assert status == "**Done**: " + sandbox_bridge.toy_verdict(answer) and "**FAIL**" in status and code == ""
    judge = ui.make_tests(toy, {})
    assert judge("", "any problem", "", answer) == sandbox_bridge.toy_verdict(answer)
    status, _ = ui._finished(coder, "no fenced block here")
    assert "no ```python block" in status
