"""The documents the code, recipes and docs cite are in the repository, and docs/paper.md's Table 3 is the one
the recipes run."""

from __future__ import annotations

import glob
import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CITING = ["README.md", "docs/*.md", "recipes/*.yaml", "recipes/*.md", "ssd_hf/**/*.py", "ssd_hf/templates/*.j2",
          "ssd_hf/space_app/*.md", "ssd_hf/space_app/*.yaml", "model_cards/examples/*.md", "tests/*.py"]
CITATION = re.compile(r"\b(PAPER\.md|docs/[\w-]+\.md)")
MODELS = {"Llama-3.1-8B-Instruct": "llama3_8b_instruct", "Qwen3-4B-Instruct-2507": "qwen3_4b_instruct",
          "Qwen3-4B-Thinking-2507": "qwen3_4b_thinking", "Qwen3-30B-A3B-Instruct-2507": "qwen3_30b",
          "Qwen3-30B-A3B-Thinking-2507": "qwen3_30b_thinking"}


def test_every_cited_document_is_in_the_repository():
    missing = []
    for pattern in CITING:
        for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            with open(path, encoding="utf-8") as handle:
                cited = set(CITATION.findall(handle.read()))
            missing += [f"{os.path.relpath(path, ROOT)} cites {doc}" for doc in cited
                        if not os.path.isfile(os.path.join(ROOT, doc))]
    assert missing == []


def _triple(cell: str) -> tuple:
    """'1.6 / 20 / 0.8' -> (1.6, 20, 0.8)."""
    t, k, p = (part.strip() for part in cell.split("/"))
    return float(t), int(k), float(p)


def test_paper_doc_table3_is_what_the_recipes_run():
    with open(os.path.join(ROOT, "docs", "paper.md"), encoding="utf-8") as handle:
        text = handle.read()
    table = text.split("## Decoding per model (paper Table 3")[1].split("\n## ")[0]
    rows = [line.strip("|").split("|") for line in table.splitlines() if line.startswith("| ") and "/" in line]
    seen = set()
    for hub_id, _base, train, evaluation in ([cell.strip() for cell in row] for row in rows):
        if hub_id.startswith("model"):
            continue
        name = MODELS[hub_id.split("/")[-1]]
        with open(os.path.join(ROOT, "recipes", f"{name}.yaml"), encoding="utf-8") as handle:
            recipe = yaml.safe_load(handle)
        assert recipe["model_name_or_path"] == hub_id
        assert _triple(train) == (recipe["temperature"], recipe["top_k"], recipe["top_p"]), name
        assert _triple(evaluation) == (recipe["eval_temperature"], recipe["eval_top_k"], recipe["eval_top_p"]), name
        seen.add(name)
    assert seen == set(MODELS.values())
