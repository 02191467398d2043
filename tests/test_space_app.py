"""The Space in a real browser: the app runs as its own process on 127.0.0.1 and headless Chromium drives it.

Two Spaces: one on a recipe smoke run's models (`recipe_run`: the base, evaluated into its own eval output
dir, and the SSD model with `eval/results.json` beside it), where programs go through the sandbox and the
Results tab reads both results; one on the learned toy world's base and SSD student (`learned_toy`), whose
answers are judged by the toy's PASS rule, whose tokens show locks and forks, and whose results carry a sweep.

Needs Debian's chromium (/usr/bin/chromium) and the Python packages gradio and playwright; the test is
skipped, saying why, when one is missing. No browser is downloaded and nothing leaves 127.0.0.1: every
request the page makes to another host is blocked and makes the test fail.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.parse import urlparse

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "spaces_demo", "app.py")
CHROMIUM = os.environ.get("SSD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO_SCREENSHOTS = os.path.join(ROOT, "spaces_demo", "screenshots")

if os.environ.get("SSD_REQUIRE_BROWSER") == "1":  # CI: a missing browser is a failure, not a skip
    import gradio  # noqa: F401
    import playwright.sync_api as playwright_sync

    assert os.path.exists(CHROMIUM), f"no Chromium at {CHROMIUM}: apt-get install -y chromium"
else:
    pytest.importorskip("gradio", reason="pip install gradio")
    playwright_sync = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no `playwright install`)")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ProxyRecorder:
    """A listening socket set as the app's HTTP(S) proxy: any outgoing request from the server is recorded."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.seen: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    self.seen.append(connection.recv(200))
                except OSError:
                    self.seen.append(b"?")

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


SUM_TWO = {"question_id": "sum-two", "question_title": "Sum of two integers", "difficulty": "easy",
           "question_content": "Given two integers a and b on one line, print a + b.", "starter_code": "",
           "platform": "atcoder", "metadata": "{}", "private_test_cases": "", "contest_date": "2025-03-01",
           "public_test_cases": json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"},
                                            {"input": "-5 5\n", "output": "0\n", "testtype": "stdin"}])}


@contextlib.contextmanager
def running_app(work, models: str):
    """The app as a subprocess on 127.0.0.1 with `models` (config.yaml lines) and the sum-two problem; yields its URL.

    The server must not phone home: it gets a recording proxy, and anything sent there fails the test."""
    (work / "problems.jsonl").write_text(json.dumps(SUM_TWO) + "\n")
    (work / "config.yaml").write_text(f"models:\n{models}max_new_tokens: 48\nproblems: problems.jsonl\n")
    port = _free_port()
    env = {**os.environ, "SSD_SPACE_CONFIG": str(work / "config.yaml"), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    env.pop("SSD_SPACE_MODELS", None)
    proxy = ProxyRecorder()
    env.update({"HTTP_PROXY": proxy.url, "HTTPS_PROXY": proxy.url, "ALL_PROXY": proxy.url,
                "http_proxy": proxy.url, "https_proxy": proxy.url, "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost"})
    log = open(work / "app.log", "w")
    process = subprocess.Popen([sys.executable, APP], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log.close()
                proxy.close()
                pytest.fail(f"the app did not start:\n{(work / 'app.log').read_text()[-3000:]}")
            time.sleep(0.5)
    try:
        yield url
    finally:  # the app never outlives the test, whatever failed
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        proxy.close()
    assert not proxy.seen, f"the app tried to reach the network through the proxy: {proxy.seen}"


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for both Spaces (Playwright's sync API allows one driver at a time)."""
    with playwright_sync.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextlib.contextmanager
def browser_page(browser, url: str):
    """A page on the app; any request to a host other than 127.0.0.1 is blocked and fails the test."""
    external: list[str] = []
    page = browser.new_page(viewport={"width": 1400, "height": 1000})

    def only_loopback(route):
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    try:
        page.goto(url)
        yield page
    finally:
        page.close()
    assert not external, f"the page tried to reach other hosts: {external}"


@pytest.fixture(scope="module")
def recipe_space(tmp_path_factory, recipe_run, browser):
    """The Space on a recipe smoke run's models: the base (its results in the eval output dir of `ssd-hf eval`,
    named in the config), the SSD model (its results beside it, `<output_dir>/eval/results.json`, found on its own),
    and a path that does not exist."""
    work = tmp_path_factory.mktemp("recipe-space")
    models = (f"  - name: base\n    path: {recipe_run['base']}\n    results: [{recipe_run['base_eval']}]\n"
              f"  - name: SSD\n    path: {recipe_run['ssd']}\n"
              "  - name: broken\n    path: ./no-such-model-folder\n")
    with running_app(work, models) as url, browser_page(browser, url) as page:
        yield page, work


@pytest.fixture(scope="module")
def toy_space(tmp_path_factory, learned_toy, browser):
    """The Space on the learned toy world's base and SSD student (their measured results in their folders)."""
    work = tmp_path_factory.mktemp("toy-space")
    models = "".join(f"  - name: {name}\n    path: {learned_toy['models'][key]['path']}\n"
                     for name, key in (("base", "base"), ("SSD", "ssd")))
    with running_app(work, models) as url, browser_page(browser, url) as page:
        yield page, work


def _shot(page, tmp_dir, name: str) -> None:
    """Full-page PNG into the test's tmp dir; with SSD_SPACE_SCREENSHOTS=update, a palette-compressed copy for the
    repo's committed set too (never by default: a test run leaves the checkout as it found it)."""
    path = os.path.join(tmp_dir, f"{name}.png")
    page.wait_for_timeout(1000)  # let Gradio's fade-in of fresh outputs finish
    page.screenshot(path=path, full_page=True)
    if os.environ.get("SSD_SPACE_SCREENSHOTS") != "update":
        return
    os.makedirs(REPO_SCREENSHOTS, exist_ok=True)
    try:
        from PIL import Image

        Image.open(path).convert("RGB").quantize(colors=64).save(os.path.join(REPO_SCREENSHOTS, f"{name}.png"), optimize=True)
    except ImportError:
        shutil.copy(path, REPO_SCREENSHOTS)


def test_recipe_models_generate_at_their_recorded_decoding_and_run_the_tests(recipe_space):
    page, work = recipe_space
    expect = playwright_sync.expect
    # The broken model's pane explains itself as soon as the page loads; the others are ready.
    expect(page.locator("#status-2")).to_contain_text("Could not load broken", timeout=30_000)
    expect(page.locator("#status-2")).to_contain_text("does not exist")
    expect(page.locator("#status-0")).to_contain_text("ready", timeout=30_000)
    expect(page.locator("#status-1")).to_contain_text("ready")
    # Each pane decodes at the decoding its evaluation recorded: the base at T 0.7 (results in its eval output
    # dir), the SSD model at the recipe's T_eval 1.1 (results beside it), never the fallback.
    assert page.locator("#pane-0 input[type=number]").first.input_value() == "0.7"
    assert page.locator("#pane-1 input[type=number]").first.input_value() == "1.1"
    expect(page.locator("#decoding-0")).to_contain_text("T_eval as evaluated in base-eval/results.json")
    expect(page.locator("#decoding-1")).to_contain_text("T_eval as evaluated in eval/results.json")

    page.locator("#generate-btn").click()
    for index in (0, 1):
        expect(page.locator(f"#status-{index}")).to_contain_text("Done", timeout=60_000)
        assert page.locator(f"#output-{index} textarea").input_value().strip(), f"pane {index} printed nothing"
    expect(page.locator("#status-2")).to_contain_text("Could not load broken")
    assert page.locator("#output-2 textarea").input_value() == ""
    _shot(page, work, "generate")

    # The extracted code is editable: a right and a wrong program go through the project's sandbox.
    for index, program in ((0, "a, b = map(int, input().split()); print(a + b)"),
                           (1, "a, b = map(int, input().split()); print(a - b)")):
        page.locator(f"#code-{index} .cm-content").click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(program)
        page.locator(f"#tests-btn-{index}").click()
    if importlib.util.find_spec("ssd_hf.eval.checking") is None:  # evaluator not installed: said, not faked
        expect(page.locator("#verdict-0")).to_contain_text("Cannot run tests", timeout=30_000)
    else:
        expect(page.locator("#verdict-0")).to_contain_text("pass: every test", timeout=30_000)
        expect(page.locator("#verdict-0")).to_contain_text("2 tests")
        expect(page.locator("#verdict-1")).to_contain_text("fail: a test gave a wrong answer", timeout=30_000)
    _shot(page, work, "generate-tests")


def test_recipe_results_tab_reads_results_beside_the_model_and_in_the_eval_dir(recipe_space, recipe_run):
    page, work = recipe_space
    expect = playwright_sync.expect
    page.get_by_role("tab", name="Results").click()
    expect(page.locator("#passk-plot img")).to_be_visible(timeout=30_000)
    table = page.locator("#results-table")
    for name, where, shown in (("base", recipe_run["base_eval"], "base-eval/results.json"),
                               ("SSD", os.path.join(recipe_run["ssd"], "eval"), "eval/results.json")):
        with open(os.path.join(where, "results.json")) as handle:
            measured = json.load(handle)["aggregates"]["all"]["pass@1"]
        row = table.locator("tr").filter(has_text=name).filter(has_text="pass@1")
        expect(row).to_contain_text(f"{100 * measured['value']:.1f} [{100 * measured['ci_low']:.1f}, "
                                    f"{100 * measured['ci_high']:.1f}]")
        expect(table).to_contain_text(f"{name}: {shown}, benchmark custom, n=1")
    expect(table).to_contain_text("T=1.1, top-k=20, top-p=0.8")
    expect(table).to_contain_text("broken: no results found")
    _shot(page, work, "results")


def test_recipe_results_tab_shows_the_report_summary(recipe_space, recipe_run):
    """`ssd-hf report` into the SSD model's report/ folder: Reload shows its summary under the model's name."""
    from ssd_hf.cli import main

    page, _ = recipe_space
    out = os.path.join(recipe_run["ssd"], "report")
    assert main(["report", recipe_run["base_eval"], recipe_run["ssd"], "--output", out]) == 0
    with open(os.path.join(out, "report.json")) as handle:
        sentence = json.load(handle)["summary"][0]
    page.get_by_role("tab", name="Results").click()
    page.get_by_role("button", name="Reload results").click()
    table = page.locator("#results-table")
    playwright_sync.expect(table).to_contain_text("Report: SSD", timeout=30_000)
    playwright_sync.expect(table).to_contain_text(sentence.split(":")[0])


def test_toy_answers_are_judged_by_the_toy_rule(toy_space):
    page, work = toy_space
    expect = playwright_sync.expect
    for index in (0, 1):
        expect(page.locator(f"#status-{index}")).to_contain_text("ready", timeout=30_000)
        expect(page.locator(f"#tests-btn-{index}")).to_have_text("Judge by the toy's PASS rule")
        expect(page.locator(f"#decoding-{index}")).to_contain_text("T_eval best of the sweep in eval/results.json")
    page.locator("#generate-btn").click()
    for index in (0, 1):
        # The toy models answer the toy's one question (their chat template asks it whatever the problem says):
        # five toy words, judged at once by the toy's PASS rule, at the model's own best temperature.
        expect(page.locator(f"#status-{index}")).to_contain_text("by the toy's rule", timeout=60_000)
        words = page.locator(f"#output-{index} textarea").input_value().split()
        assert len(words) == 5 and all(w.startswith("tok") for w in words), words
        page.locator(f"#tests-btn-{index}").click()
        expect(page.locator(f"#verdict-{index}")).to_contain_text("by the toy's rule", timeout=15_000)
        expect(page.locator(f"#verdict-{index}")).not_to_contain_text("python block")
    _shot(page, work, "toy-generate")


def test_tokens_tab_scores_the_same_completion_under_each_model(toy_space):
    page, work = toy_space
    expect = playwright_sync.expect
    page.get_by_role("tab", name="Tokens").click()
    page.locator("#score-btn").click()
    for index in (0, 1):
        expect(page.locator(f"#tokens-{index} .ssd-token-summary")).to_contain_text("mean entropy", timeout=30_000)
        assert page.locator(f"#tokens-{index} .ssd-token").count() > 3
    _shot(page, work, "tokens")
    page.get_by_text("lock/fork").click()
    page.locator("#score-btn").click()
    for index in (0, 1):
        expect(page.locator(f"#tokens-{index} .ssd-token-summary")).to_contain_text("lock fork other", timeout=30_000)


def test_toy_results_tab_draws_passk_and_sweep_charts(toy_space, learned_toy):
    page, work = toy_space
    expect = playwright_sync.expect
    page.get_by_role("tab", name="Results").click()
    expect(page.locator("#passk-plot img")).to_be_visible(timeout=30_000)
    expect(page.locator("#sweep-plot img")).to_be_visible()
    measured = learned_toy["models"]["ssd"]["sampled_at_best"]  # SSD pass@1 with its CI, from its results.json
    expect(page.locator("#results-table")).to_contain_text(
        f"{100 * measured['success']:.1f} [{100 * measured['ci_low']:.1f}, {100 * measured['ci_high']:.1f}]")
    _shot(page, work, "toy-results")
