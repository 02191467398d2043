"""The Space in a real browser: the app runs as its own process on 127.0.0.1 and headless Chromium drives it.

The compared models are the learned toy world's base and SSD student (the `learned_toy` fixture), so the
panes, token colours and charts show a real SSD run and its measured results.

Needs Debian's chromium (/usr/bin/chromium) and the Python packages gradio and playwright; the test is
skipped, saying why, when one is missing. No browser is downloaded and nothing leaves 127.0.0.1: every
request the page makes to another host is blocked and makes the test fail.
"""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def space(tmp_path_factory, learned_toy):
    """The app as a subprocess with three panes: the learned toy's base and SSD student (their measured results
    are found in their folders) and one path that does not exist."""
    work = tmp_path_factory.mktemp("space")
    problem = {"question_id": "sum-two", "question_title": "Sum of two integers", "difficulty": "easy",
               "question_content": "Given two integers a and b on one line, print a + b.", "starter_code": "",
               "platform": "atcoder", "metadata": "{}", "private_test_cases": "", "contest_date": "2025-03-01",
               "public_test_cases": json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"},
                                                {"input": "-5 5\n", "output": "0\n", "testtype": "stdin"}])}
    (work / "problems.jsonl").write_text(json.dumps(problem) + "\n")
    config = work / "config.yaml"
    config.write_text(
        "models:\n"
        f"  - name: base\n    path: {learned_toy['models']['base']['path']}\n"
        f"  - name: SSD\n    path: {learned_toy['models']['ssd']['path']}\n"
        "  - name: broken\n    path: ./no-such-model-folder\n"
        "max_new_tokens: 48\nproblems: problems.jsonl\n"
    )
    port = _free_port()
    env = {**os.environ, "SSD_SPACE_CONFIG": str(config), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    env.pop("SSD_SPACE_MODELS", None)
    proxy = ProxyRecorder()  # the server must not phone home: anything it sends outside 127.0.0.1 lands here
    env.update({"HTTP_PROXY": proxy.url, "HTTPS_PROXY": proxy.url, "ALL_PROXY": proxy.url,
                "http_proxy": proxy.url, "https_proxy": proxy.url, "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost"})
    log = open(work / "app.log", "w")
    process = subprocess.Popen([sys.executable, APP], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log.close()
                pytest.fail(f"the app did not start:\n{(work / 'app.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield url, work
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    proxy.close()
    assert not proxy.seen, f"the app tried to reach the network through the proxy: {proxy.seen}"


@pytest.fixture(scope="module")
def page(space):
    url, _ = space
    external: list[str] = []
    with playwright_sync.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        def only_loopback(route):
            if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                external.append(route.request.url)
                route.abort()

        page.route("**/*", only_loopback)
        page.goto(url)
        yield page
        browser.close()
    assert not external, f"the page tried to reach other hosts: {external}"


def _shot(page, tmp_dir, name: str) -> None:
    """Full-page PNG into the test's tmp dir, and a palette-compressed copy for the repo."""
    path = os.path.join(tmp_dir, f"{name}.png")
    page.wait_for_timeout(1000)  # let Gradio's fade-in of fresh outputs finish
    page.screenshot(path=path, full_page=True)
    if os.environ.get("SSD_SPACE_SCREENSHOTS", "1") == "0":  # CI may keep the committed set untouched
        return
    os.makedirs(REPO_SCREENSHOTS, exist_ok=True)
    try:
        from PIL import Image

        Image.open(path).convert("RGB").quantize(colors=64).save(os.path.join(REPO_SCREENSHOTS, f"{name}.png"), optimize=True)
    except ImportError:
        shutil.copy(path, REPO_SCREENSHOTS)


def test_generate_in_both_panes_and_broken_pane_says_why(page, space):
    _, work = space
    expect = playwright_sync.expect
    # The broken model's pane explains itself as soon as the page loads; the others are ready.
    expect(page.locator("#status-2")).to_contain_text("Could not load broken", timeout=30_000)
    expect(page.locator("#status-2")).to_contain_text("does not exist")
    expect(page.locator("#status-0")).to_contain_text("ready", timeout=30_000)
    expect(page.locator("#status-1")).to_contain_text("ready")

    page.locator("#generate-btn").click()
    for index in (0, 1):
        expect(page.locator(f"#status-{index}")).to_contain_text("Done", timeout=60_000)
        assert page.locator(f"#output-{index} textarea").input_value().strip(), f"pane {index} printed nothing"
    expect(page.locator("#status-2")).to_contain_text("Could not load broken")
    assert page.locator("#output-2 textarea").input_value() == ""
    _shot(page, work, "generate")

    # The toy models answer the toy's one question (their chat template asks it whatever the problem says):
    # each pane holds a five-word path, decoded at the model's own best temperature.
    for index in (0, 1):
        words = page.locator(f"#output-{index} textarea").input_value().split()
        assert len(words) == 5 and all(w.startswith("tok") for w in words), words
    # No ```python block in toy words: the tests button must say so, not run anything.
    page.locator("#tests-btn-0").click()
    expect(page.locator("#verdict-0")).to_contain_text("no ```python block", timeout=15_000)

    # The extracted code is editable: a right and a wrong program go through the project's sandbox.
    for index, program in ((0, "a, b = map(int, input().split()); print(a + b)"),
                           (1, "a, b = map(int, input().split()); print(a - b)")):
        page.locator(f"#code-{index} .cm-content").click()
        page.keyboard.insert_text(program)
        page.locator(f"#tests-btn-{index}").click()
    if importlib.util.find_spec("ssd_hf.eval.checking") is None:  # evaluator not installed: said, not faked
        expect(page.locator("#verdict-0")).to_contain_text("Cannot run tests", timeout=30_000)
    else:
        expect(page.locator("#verdict-0")).to_contain_text("pass: every test", timeout=30_000)
        expect(page.locator("#verdict-0")).to_contain_text("2 tests")
        expect(page.locator("#verdict-1")).to_contain_text("fail: a test gave a wrong answer", timeout=30_000)
    _shot(page, work, "generate-tests")


def test_tokens_tab_scores_the_same_completion_under_each_model(page, space):
    _, work = space
    expect = playwright_sync.expect
    page.get_by_role("tab", name="Tokens").click()
    page.locator("#score-btn").click()
    for index in (0, 1):
        expect(page.locator(f"#tokens-{index} .ssd-token-summary")).to_contain_text("mean entropy", timeout=30_000)
        assert page.locator(f"#tokens-{index} .ssd-token").count() > 3
    expect(page.locator("#tokens-2")).to_contain_text("Could not load broken")
    _shot(page, work, "tokens")
    page.get_by_text("lock/fork").click()
    page.locator("#score-btn").click()
    for index in (0, 1):
        expect(page.locator(f"#tokens-{index} .ssd-token-summary")).to_contain_text("lock fork other", timeout=30_000)


def test_results_tab_draws_passk_and_sweep_charts(page, space, learned_toy):
    _, work = space
    expect = playwright_sync.expect
    page.get_by_role("tab", name="Results").click()
    expect(page.locator("#passk-plot img")).to_be_visible(timeout=30_000)
    expect(page.locator("#sweep-plot img")).to_be_visible()
    table = page.locator("#results-table")
    measured = learned_toy["models"]["ssd"]["sampled_at_best"]  # SSD pass@1 with its CI, from its results.json
    expect(table).to_contain_text(f"{100 * measured['success']:.1f} [{100 * measured['ci_low']:.1f}, {100 * measured['ci_high']:.1f}]")
    expect(table).to_contain_text("broken: no results found")
    _shot(page, work, "results")
