"""The sandbox on its own: limits and time by our clock, nothing of the host in view, nothing left behind.
The hostile program set through `ssd-hf eval` is tests/test_eval_hostile.py."""

import json
import logging
import os
import subprocess
import sys
import tempfile
import time

import pytest

from ssd_hf.eval.checking import check_candidate
from ssd_hf.eval.graders import LCB
from ssd_hf.eval.isolation import bwrap_problem, choose_backend, python_roots
from ssd_hf.eval.problems import load_problems
from ssd_hf.eval.sandbox import SandboxLimits, run_stdin_once

LIMITS = SandboxLimits(timeout_s=1.0)
SLACK = 3.0  # interpreter start-up (excluded from the program's clock) and killing the sandbox

# CI sets SSD_REQUIRE_SANDBOX=1: there a sandbox that cannot run is a failure, not a skip.
REQUIRED = os.environ.get("SSD_REQUIRE_SANDBOX") == "1"
needs_bwrap = pytest.mark.skipif(bwrap_problem() is not None and not REQUIRED, reason=f"bubblewrap cannot run here: {bwrap_problem()}")


@pytest.mark.skipif(not REQUIRED, reason="only where SSD_REQUIRE_SANDBOX=1 (CI)")
def test_bubblewrap_runs_here():
    assert bwrap_problem() is None, f"bubblewrap cannot run: {bwrap_problem()} (scripts/setup_test_system.sh installs it)"


def run(code, stdin=b"", rules=None, limits=LIMITS):
    start = time.perf_counter()
    result = run_stdin_once(code, LCB.rules if rules is None else rules, limits, stdin)
    assert time.perf_counter() - start < limits.timeout_s + SLACK
    return result


def test_infinite_loop_and_sleep_time_out():
    assert run("while True:\n    pass\n").status == "timeout"
    assert run("import time\ntime.sleep(30)\nprint('woke')\n").status == "timeout"


def test_time_limit_has_no_hidden_start_up_slack():
    """The clock starts when the runner is ready, before the program is compiled: a program just under the
    limit passes, one just over it does not (the old evaluator added a 1 s start-up allowance)."""
    assert run("import time\ntime.sleep(0.7)\nprint('ok')\n").status == "ok"
    result = run("import time\ntime.sleep(1.3)\nprint('late')\n")
    assert result.status == "timeout" and "late" not in result.stdout


def test_memory_and_output_limits():
    result = run("x = bytearray(8 * 1024 ** 3)\nprint('allocated')\n")
    assert result.status == "error" and "MemoryError" in result.stderr and "allocated" not in result.stdout
    result = run("import sys\nchunk = 'x' * (1024 * 1024)\nfor _ in range(100):\n    sys.stdout.write(chunk)\n")
    assert result.status == "output_limit" and len(result.stdout) <= LIMITS.output_bytes


def test_stdin_is_the_test_input_and_system_exit_ends_normally():
    result = run("import sys\nprint(int(input()) * 2)\nsys.exit(1)\n", b"21\n")
    assert (result.status, result.stdout) == ("ok", "42\n")


@needs_bwrap
def test_the_sandbox_sees_only_a_minimal_read_only_root():
    code = ("import os\nprint(sorted(os.listdir('/')))\nprint(os.getuid(), os.getpid())\n"
            "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
            "for p in ['/x', '/usr/x', '/dev/x']:\n"
            "    try:\n        open(p, 'w')\n        print('wrote', p)\n    except OSError as e:\n        print(e.errno)\n"
            "open('/tmp/mine', 'w').write('ok')\nprint(open('/tmp/mine').read(), os.getcwd())\n")
    result = run(code, rules={})
    lines = result.stdout.splitlines()
    top = set(eval(lines[0]))  # noqa: S307 - our own program's printed list
    interpreter = {root.strip("/").split("/")[0] for root in python_roots()}  # where this Python lives, if not /usr
    assert top <= {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "proc", "dev", "tmp"} | interpreter
    assert not top & {"etc", "run", "var", "sys", "mnt", "media", "boot"}
    assert lines[1] == "65534 3"  # uid nobody, and not PID 1 (bwrap's init is, the runner 2): its own signals work
    assert lines[2] == "0000000000000000"  # no capabilities
    assert lines[3:6] == ["30", "30", "30"]  # EROFS
    assert lines[6] == "ok /tmp"


def test_fallback_backend_runs_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert choose_backend("fallback") == "fallback"
    limits = SandboxLimits(timeout_s=2.0, sandbox="fallback")
    assert run("print(int(input()) + 1)\n", b"1\n", limits=limits).stdout == "2\n"
    assert run("while True:\n    pass\n", limits=limits).status == "timeout"


def _functional(qid):
    problems, _ = load_problems("fixtures")
    return next(p for p in problems if p.question_id == qid)


TWO_SUM = ("class Solution:\n    calls = 0\n    def twoSum(self, nums, target):\n        import time\n"
           "        Solution.calls += 1\n        if Solution.calls == 1:\n            time.sleep(SLEEP)\n"
           "        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n"
           "                return [seen[target - x], i]\n            seen[x] = i\n")


def test_functional_time_limit_is_per_test():
    problem = _functional("fx_two_sum")  # 3 tests: a 1.5 s first call must not borrow from the others
    start = time.perf_counter()
    assert check_candidate(problem, TWO_SUM.replace("SLEEP", "1.5"), LIMITS).verdict == "timeout"
    assert time.perf_counter() - start < LIMITS.timeout_s + SLACK
    assert check_candidate(problem, TWO_SUM.replace("SLEEP", "0.1"), LIMITS).verdict == "pass"


def test_functional_run_stops_at_first_failing_test():
    problem = _functional("fx_max_subarray")  # 4 tests; every call after the first would take 2.5 s
    code = ("class Solution:\n    calls = 0\n    def maxSubArray(self, nums):\n        import time\n"
            "        Solution.calls += 1\n        if Solution.calls > 1:\n            time.sleep(2.5)\n        return -12345\n")
    start = time.perf_counter()
    assert tuple(check_candidate(problem, code, SandboxLimits(timeout_s=3.0))) == ("fail", "test 0: wrong answer")
    assert time.perf_counter() - start < 2.5


def test_no_temporary_files_are_left():
    """Config and stdin are sealed in-memory files, outputs pipes; the sandbox's /tmp is its own tmpfs."""
    def ours():  # other jobs may use the same temporary folder meanwhile
        return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith(("ssd-sandbox", "ssd-leftover"))}

    before = ours()
    for code in ("print(1)", "while True:\n    pass\n", "open('/tmp/ssd-leftover', 'w').write('x')\nraise SystemExit(3)"):
        run(code)
    assert ours() == before


def test_secrets_are_scrubbed_from_results(tmp_path, monkeypatch):
    """Whatever a program prints (here it rebuilds the values from pieces) never reaches results.json."""
    from ssd_hf.eval.cli import main

    monkeypatch.setenv("HF_TOKEN", "hf_fakeScrubValue_4242")
    monkeypatch.setenv("MY_API_KEY", "sk-other-secret-77")
    leak = "raise RuntimeError('hf_fake' + 'ScrubValue_4242' + ' sk-other' + '-secret-77')"
    rows = [{"question_id": "fx_sum", "completion": f"```python\n{leak}\n```"},
            {"question_id": "fx_two_sum", "completion": f"```python\nclass Solution:\n    def twoSum(self, nums, target):\n        {leak}\n```"}]
    solutions = tmp_path / "s.jsonl"
    solutions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    assert main(["--problems", "fixtures", "--solutions", str(solutions), "--output", str(out), "--workers", "2",
                 "--timeout", "2", "--start_date", "2025-02-01", "--end_date", "2025-02-28"]) == 0
    for name in ("results.json", "verdicts.jsonl"):
        text = (out / name).read_text()
        assert "hf_fakeScrubValue_4242" not in text and "sk-other-secret-77" not in text
    samples = json.loads((out / "results.json").read_text())["samples"]
    assert [s["verdict"] for s in samples] == ["runtime_error"] * 2 and all("***" in s["detail"] for s in samples)


def test_missing_bwrap_is_one_warning_or_one_error(tmp_path):
    """Without bubblewrap on PATH: --sandbox bwrap is one line and exit 2; auto warns once, runs the
    fallback and says so in the results."""
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty), "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    solutions = tmp_path / "s.jsonl"
    solutions.write_text(json.dumps({"question_id": "fx_sum", "completion": "```python\nprint(sum(map(int, input().split())))\n```"})
                         + "\n")
    argv = [sys.executable, "-m", "ssd_hf.cli", "eval", "--problems", "fixtures", "--solutions", str(solutions), "--workers", "2",
            "--start_date", "2025-02-01", "--end_date", "2025-02-10"]
    refused = subprocess.run([*argv, "--output", str(tmp_path / "a"), "--sandbox", "bwrap"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "error: the bubblewrap sandbox cannot run here: `bwrap` is not installed" in refused.stderr.strip().splitlines()[-1]
    fallback = subprocess.run([*argv, "--output", str(tmp_path / "b")], env=env, capture_output=True, text=True, timeout=120)
    assert fallback.returncode == 0, fallback.stderr[-2000:]
    assert len([line for line in fallback.stderr.splitlines() if "WITHOUT isolation" in line]) == 1
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert results["config"]["sandbox"] == "fallback" and [s["verdict"] for s in results["samples"]] == ["pass"]


def test_without_a_cgroup_one_warning_and_the_per_process_limits_hold(caplog):
    """The no-cgroup path (a machine where none can be made, or --sandbox_cgroup off): one warning line, and
    RLIMIT_AS still stops a single process's 8 GB allocation."""
    from ssd_hf.eval.isolation import choose_layers

    choose_layers.cache_clear()
    limits = SandboxLimits(timeout_s=2.0, cgroup="off")
    with caplog.at_level(logging.WARNING, logger="ssd_hf"):
        result = run("x = bytearray(8 * 1024 ** 3)\nprint('allocated')\n", limits=limits)
        run("print(1)\n", limits=limits)
    warnings = [r.getMessage() for r in caplog.records if "no cgroup" in r.getMessage()]
    assert len(warnings) == 1 and "RLIMIT_AS" in warnings[0]
    assert result.status == "error" and "MemoryError" in result.stderr


def test_a_sandbox_that_will_not_start_is_no_verdict_and_a_rerun_judges_it(tmp_path, caplog):
    """Fail closed: a sandbox that cannot start gives `unjudged`, which is stored nowhere and counted in no
    score; the same evaluation run again judges those samples."""
    from ssd_hf.eval.results import build_results
    from ssd_hf.eval.runner import score_completions
    from ssd_hf.eval.verdict_store import VerdictStore

    problems = [_functional("fx_two_sum")]
    items = [{"question_id": "fx_two_sum", "sample_index": 0, "completion": "```python\n" + TWO_SUM.replace("SLEEP", "0") + "```"}]
    broken = SandboxLimits(timeout_s=2.0, startup_s=0.0)
    with caplog.at_level(logging.WARNING):
        first = score_completions(problems, items, broken, workers=1, show_progress=False, store=VerdictStore(str(tmp_path)))
    assert [r["verdict"] for r in first] == ["unjudged"]
    assert any("could not be judged" in r.getMessage() for r in caplog.records)
    results = build_results("custom", {}, problems, first)
    assert results["config"]["unjudged_samples"] == 1 and results["problems"][0]["n"] == 0
    second = score_completions(problems, items, SandboxLimits(timeout_s=2.0), workers=1, show_progress=False,
                               store=VerdictStore(str(tmp_path)))
    assert [r["verdict"] for r in second] == ["pass"]


def test_a_program_that_stops_reading_a_1mb_input_gets_its_verdict_in_time():
    """The evaluator sends a 1 MB functional input while the program keeps its runner from reading (a thread
    holding the interpreter): a timeout within the test's limit, not an evaluation that hangs for ever."""
    from ssd_hf.eval.problems import Problem

    big = "a" * 1024 * 1024
    tests = [{"input": json.dumps("ab"), "output": "2", "testtype": "functional"},
             {"input": json.dumps(big), "output": str(len(big)), "testtype": "functional"}]
    problem = Problem(question_id="big", question_content="", starter_code="", difficulty="easy", contest_date="2025-03-01",
                      tests=tests, num_public=1, func_name="size")
    code = ("import threading\ndef size(s):\n    threading.Thread(target=lambda: sum(range(10 ** 12)), daemon=True).start()\n"
            "    return len(s)\n")
    start = time.perf_counter()
    verdict = check_candidate(problem, code, SandboxLimits(timeout_s=2.0))
    assert verdict.verdict == "timeout" and time.perf_counter() - start < 2 * 2.0 + SLACK
