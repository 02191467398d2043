"""Parity corpus: our own (problem, completion) cases with the verdict each grader gives.

Each case states our verdict under `--grader lcb` and `--grader ml-ssd`, and the verdict the official
harness gives (LiveCodeBench's lcb_runner, the paper's apple/ml-ssd evaluation code) in our vocabulary
when it differs from ours, with `why` naming the deliberate difference documented in docs/eval.md.
Official codes map as: True -> pass, -2 -> fail, -3 -> timeout, -4 / -1 (the program raised or the
process died) -> runtime_error, an exception in the harness's own test parsing or comparison ->
judge_error, an empty extraction -> no_code. ml-ssd records only passed / not passed per test, so for it
only pass versus not-pass is compared with the official result.
Every problem has one public test, then private ones (ml-ssd judges on the private ones only).
Run with --timeout 1 (the official harnesses with timeout=1).
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field

TIMEOUT_S = 1


@dataclass(frozen=True)
class Case:
    id: str
    completion: str
    tests: list  # [(input, output)], the first public
    lcb: str  # our verdict under --grader lcb
    mlssd: str  # our verdict under --grader ml-ssd
    func_name: str | None = None  # functional problem when set
    lcb_official: str | None = None  # LiveCodeBench's verdict when it differs from ours
    mlssd_official: str | None = None  # ml-ssd's verdict when its pass/not-pass differs from ours
    why: str | None = None  # the deliberate difference (docs/eval.md) when an official verdict differs
    starter: str = field(default="")


def py(code: str, tag: str = "python") -> str:
    return f"Here is the program.\n```{tag}\n{textwrap.dedent(code).strip()}\n```\n"


ADD = [("1 2\n", "3\n"), ("10 20\n", "30\n"), ("-5 5\n", "0\n")]
LIST_SUM = [("[1, 2, 3]", "6"), ("[4, 5]", "9"), ("[-1]", "-1")]
PAIR = [("2", "[1, 2]"), ("5", "[1, 5]")]
READ_ADD = "a, b = map(int, input().split())\n"


def stdin_cases() -> list[Case]:
    return [
        # --- the benchmark's preamble: names a program may use without importing them ------------------------
        Case("pre_counter", py(READ_ADD + "c = Counter([a, b])\nprint(sum(k * v for k, v in c.items()))"), ADD, "pass", "pass"),
        Case("pre_heap", py(READ_ADD + "h = []\nheappush(h, a)\nheappush(h, b)\nprint(heappop(h) + heappop(h))"), ADD, "pass", "pass"),
        Case("pre_gcd_math", py(READ_ADD + "print(a + b if gcd(1, 1) == 1 and math.isqrt(4) == 2 else 0)"), ADD, "pass", "pass"),
        Case("pre_itertools", py(READ_ADD + "print(sum(next(iter(permutations([a, b])))) + len(list(accumulate([0]))) - 1)"), ADD, "pass", "pass"),
        Case("pre_bisect_left", py(READ_ADD + "print(a + b + bisect_left([0], 0))"), ADD, "pass", "pass"),
        Case("pre_lru_cache", py(READ_ADD + "@lru_cache(None)\ndef f(x):\n    return x\nprint(f(a) + f(b))"), ADD, "pass", "pass"),
        Case("pre_reduce", py(READ_ADD + "print(reduce(lambda x, y: x + y, [a, b]))"), ADD, "pass", "pass"),
        Case("pre_deque_defaultdict", py(READ_ADD + "d = deque([a])\nd.append(b)\ndd = defaultdict(int)\nprint(sum(d) + dd[0])"), ADD, "pass", "pass"),
        Case("pre_ascii_lowercase", py(READ_ADD + "print(a + b + len(ascii_lowercase) - 26)"), ADD, "pass", "pass"),
        Case("pre_sqrt_inf", py(READ_ADD + "print(a + b if sqrt(4) == 2 and inf > 0 else 0)"), ADD, "pass", "pass"),
        Case("pre_typing_counter_call", py(READ_ADD + "print(sum(Counter({a: 1, b: 1}).keys()) if a != b else a + b)"), ADD, "pass", "pass"),
        Case("pre_np_unimported", py(READ_ADD + "print(int(np.array([a, b]).sum()))"), ADD, "runtime_error", "pass"),
        Case("pre_pd_unimported", py(READ_ADD + "print(int(pd.Series([a, b]).sum()))"), ADD, "runtime_error", "pass"),
        Case("pre_decimal_not_bound", py(READ_ADD + "print(Decimal(a) + b)"), ADD, "runtime_error", "runtime_error"),
        Case("pre_datetime_is_module", py(READ_ADD + "datetime.now()\nprint(a + b)"), ADD, "runtime_error", "runtime_error"),
        Case("pre_bisect_is_module", py(READ_ADD + "print(a + b + bisect([0], 0) - 1)"), ADD, "runtime_error", "runtime_error"),
        Case("pre_copy_is_module", py(READ_ADD + "print(sum(copy([a, b])))"), ADD, "runtime_error", "runtime_error"),
        Case("pre_sys_stdin_name", py("a, b = map(int, stdin.readline().split())\nprint(a + b)"), ADD, "pass", "runtime_error"),
        Case("pre_deep_recursion", py(READ_ADD + "def f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\nprint(a + b + f(5000) - 5000)"),
             ADD, "pass", "runtime_error"),
        # --- interpreter limits -------------------------------------------------------------------------------
        Case("int_5000_digits", py(READ_ADD + "print(len(str(10 ** 5000)) - 5001 + a + b)"), ADD, "pass", "runtime_error"),
        Case("int_60000_digits", py(READ_ADD + "print(len(str(10 ** 60000)) - 60001 + a + b)"), ADD, "runtime_error", "runtime_error"),
        # --- exit handling ------------------------------------------------------------------------------------
        Case("exit_sys_exit_1", py("import sys\n" + READ_ADD + "print(a + b)\nsys.exit(1)"), ADD, "pass", "pass"),
        Case("exit_builtin_exit", py(READ_ADD + "print(a + b)\nexit()"), ADD, "pass", "runtime_error"),
        Case("exit_quit", py(READ_ADD + "print(a + b)\nquit()"), ADD, "runtime_error", "runtime_error"),
        Case("exit_before_print", py("import sys\n" + READ_ADD + "sys.exit(0)\nprint(a + b)"), ADD, "fail", "fail"),
        Case("exit_raise_systemexit_msg", py(READ_ADD + "print(a + b)\nraise SystemExit('done')"), ADD, "pass", "pass"),
        Case("exit_in_main", py("import sys\ndef main():\n    " + READ_ADD + "    print(a + b)\n    sys.exit(0)\n"
                                "if __name__ == '__main__':\n    main()"), ADD, "pass", "pass"),
        Case("exit_os_exit_after_flush", py("import os, sys\n" + READ_ADD + "print(a + b)\nsys.stdout.flush()\nos._exit(0)"), ADD,
             "pass", "pass", lcb_official="runtime_error", mlssd_official="fail", why="os-exit"),
        # --- time limits --------------------------------------------------------------------------------------
        Case("time_fast", py("import time\ntime.sleep(0.5)\n" + READ_ADD + "print(a + b)"), ADD, "pass", "pass"),
        Case("time_over_per_test", py("import time\ntime.sleep(1.4)\n" + READ_ADD + "print(a + b)"), ADD[:2], "timeout", "pass"),
        Case("time_infinite", py("while True:\n    pass"), ADD[:2], "timeout", "timeout"),
        # --- extraction ---------------------------------------------------------------------------------------
        Case("ext_bare_fence", py(READ_ADD + "print(a + b)", tag=""), ADD, "pass", "pass"),
        Case("ext_info_string", py(READ_ADD + "print(a + b)", tag="python title=sol.py"), ADD, "pass", "no_code"),
        Case("ext_python3_tag", py(READ_ADD + "print(a + b)", tag="python3"), ADD, "pass", "no_code"),
        Case("ext_uppercase_tag", py(READ_ADD + "print(a + b)", tag="Python"), ADD, "pass", "pass"),
        Case("ext_crlf", py(READ_ADD + "print(a + b)").replace("\n", "\r\n"), ADD, "pass", "no_code"),
        Case("ext_trailing_output_block", py(READ_ADD + "print(a + b)") + "Output:\n```\n3\n```\n", ADD, "fail", "fail"),
        Case("ext_trailing_text_block", py(READ_ADD + "print(a + b)") + "```text\nthe sum\n```\n", ADD, "runtime_error", "runtime_error"),
        Case("ext_last_of_two_blocks", py(READ_ADD + "print(a - b)") + "Fixed:\n" + py(READ_ADD + "print(a + b)"), ADD, "pass", "pass"),
        Case("ext_truncated_last_block", py(READ_ADD + "print(a + b)") + "A faster one:\n```python\nimport sys\n", ADD,
             "runtime_error", "pass"),
        Case("ext_no_fence", "a, b = map(int, input().split())\nprint(a + b)\n", ADD, "no_code", "no_code"),
        Case("ext_tilde_fence", "~~~python\n" + READ_ADD + "print(a + b)\n~~~\n", ADD, "no_code", "no_code"),
        Case("ext_indented_fence", "  ```python\n" + READ_ADD + "print(a + b)\n  ```\n", ADD, "pass", "pass"),
        Case("ext_inline_fence_after", py(READ_ADD + "print(a + b)") + "Run it with ```python sol.py```.\n", ADD, "no_code", "pass"),
        Case("ext_code_tags", "```python\n<code>" + READ_ADD + "print(a + b)</code>\n```\n", ADD, "runtime_error", "pass"),
        # --- output comparison --------------------------------------------------------------------------------
        Case("out_decimal_float", py(READ_ADD + "print(f'{a + b:.3f}')"), ADD, "pass", "pass"),
        Case("out_exponent", py(READ_ADD + "print(f'{a + b}e0')"), ADD, "pass", "pass"),
        Case("out_underscore_digits", py("print('1_000')"), [("\n", "1000\n"), ("\n", "1000\n")], "pass", "pass"),
        Case("out_infinity_spelling", py("print('Infinity')"), [("\n", "inf\n"), ("\n", "inf\n")], "pass", "pass"),
        Case("out_case_differs", py("print('Yes')"), [("\n", "YES\n"), ("\n", "YES\n")], "fail", "fail"),
        Case("out_trailing_space_and_blank_lines", py(READ_ADD + "print(a + b, '  ')\nprint()\nprint()"), ADD, "pass", "pass"),
        Case("out_blank_line_inside", py("print(1)\nprint()\nprint(2)"), [("\n", "1\n2\n"), ("\n", "1\n2\n")], "fail", "fail"),
        Case("out_hex_is_not_decimal", py("print('0x10')"), [("\n", "16\n"), ("\n", "16\n")], "fail", "fail"),
        Case("out_nan_is_not_equal", py("print('nan')"), [("\n", "NaN\n"), ("\n", "NaN\n")], "fail", "fail"),
        Case("out_snan", py("print('sNaN')"), [("\n", "1\n"), ("\n", "1\n")], "judge_error", "judge_error"),
        Case("out_10mb_digits", py("import sys\nsys.stdout.write('1' * 10_000_000 + '\\n')"), [("\n", "1\n"), ("\n", "1\n")], "fail", "fail"),
        Case("out_lone_surrogate", py("print('\\ud800')"), [("\n", "x\n"), ("\n", "x\n")], "fail", "fail"),
        Case("out_stderr_ignored", py("import sys\n" + READ_ADD + "print('debug', file=sys.stderr)\nprint(a + b)"), ADD, "pass", "pass"),
        Case("out_stdout_write", py("import sys\n" + READ_ADD + "sys.stdout.write(f'{a + b}\\n')"), ADD, "pass", "pass"),
        # --- the official harness's guard ---------------------------------------------------------------------
        Case("guard_numpy_import", py("import numpy as np\n" + READ_ADD + "print(int(np.int64(a) + b))"), ADD, "pass", "pass"),
        Case("guard_environ_write", py("import os\nos.environ['X'] = '1'\n" + READ_ADD + "print(a + b)"), ADD, "runtime_error", "runtime_error"),
        Case("guard_import_resource", py("import resource\n" + READ_ADD + "print(a + b)"), ADD, "runtime_error", "runtime_error"),
        Case("guard_getcwd", py("import os\nos.getcwd()\n" + READ_ADD + "print(a + b)"), ADD, "runtime_error", "runtime_error"),
        Case("guard_subprocess", py("import subprocess\nsubprocess.Popen(['true'])\n" + READ_ADD + "print(a + b)"), ADD,
             "runtime_error", "runtime_error"),
        Case("guard_future_import", py("from __future__ import annotations\n" + READ_ADD + "print(a + b)"), ADD, "runtime_error", "runtime_error"),
        # --- reading and writing: real process semantics (LCB mocks stdin/stdout in-process) ------------------
        Case("io_input_alias", py("import sys\ninput = sys.stdin.readline\n" + READ_ADD + "print(a + b)"), ADD, "pass", "pass"),
        Case("io_read_split", py("import sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)"), ADD, "pass", "pass"),
        Case("io_open_zero", py("a, b = map(int, open(0).read().split())\nprint(a + b)"), ADD, "pass", "pass",
             lcb_official="runtime_error", why="raw-fds"),
        Case("io_readline_slice", py("import sys\nline = sys.stdin.readline()[:-1]\na, b = map(int, line.split())\nprint(a + b)"),
             ADD, "pass", "pass"),
        Case("io_eof_loop", py("total = 0\nwhile True:\n    try:\n        total += sum(map(int, input().split()))\n"
                               "    except EOFError:\n        break\nprint(total)"), ADD, "pass", "pass"),
        Case("io_for_line_in_stdin", py("import sys\nfor line in sys.stdin:\n    a, b = map(int, line.split())\n    print(a + b)"),
             ADD, "pass", "pass", lcb_official="runtime_error", why="stdin-iteration"),
        Case("io_stdout_buffer", py("import sys\n" + READ_ADD + "sys.stdout.buffer.write(f'{a + b}\\n'.encode())"), ADD,
             "pass", "pass", lcb_official="runtime_error", mlssd_official="fail", why="stdout-buffer"),
        Case("io_os_read_fd0", py("import os\na, b = map(int, os.read(0, 1 << 16).split())\nprint(a + b)"), ADD,
             "pass", "pass", lcb_official="runtime_error", mlssd_official="fail", why="raw-fds"),
        Case("io_os_write_fd1", py("import os\n" + READ_ADD + "os.write(1, f'{a + b}\\n'.encode())"), ADD,
             "pass", "pass", lcb_official="fail", mlssd_official="fail", why="raw-fds"),
        Case("io_buffer_readline_twice", py("import sys\nn = int(sys.stdin.buffer.readline())\nprint(n + int(sys.stdin.buffer.readline()))"),
             [("1\n2\n", "3\n"), ("5\n6\n", "11\n")], "pass", "pass", lcb_official="fail", mlssd_official="fail", why="stdin-buffer"),
        Case("io_invalid_utf8", py("import sys\nsys.stdout.buffer.write(b'\\xff\\n')"), [("\n", "x\n"), ("\n", "x\n")],
             "fail", "fail", lcb_official="runtime_error", why="stdout-buffer"),
        # --- running as a script, not wrapped in a function (LCB wraps stdin programs) -----------------------
        Case("script_top_level_global", py(READ_ADD + "total = 0\ndef add(x):\n    global total\n    total += x\nadd(a)\nadd(b)\nprint(total)"),
             ADD, "pass", "pass", lcb_official="runtime_error", mlssd_official="fail", why="script-not-function"),
        Case("script_top_level_return", py(READ_ADD + "print(a + b)\nif a + b == a + b:\n    return"), ADD,
             "runtime_error", "runtime_error", lcb_official="pass", mlssd_official="pass", why="script-not-function"),
        Case("script_main_guard_not_last", py("def main():\n    " + READ_ADD + "    print(a + b)\nif __name__ == '__main__':\n    main()\nx = 1"),
             ADD, "pass", "pass", lcb_official="fail", mlssd_official="fail", why="script-not-function"),
        Case("script_hoisted_import_late", py("x = Fraction(1, 2)\nfrom fractions import Fraction\n" + READ_ADD + "print(a + b)"),
             ADD, "runtime_error", "runtime_error", lcb_official="pass", mlssd_official="pass", why="script-not-function"),
    ]


def call_cases() -> list[Case]:
    def sol(body: str, name: str = "solve", args: str = "self, nums") -> str:
        return py(f"class Solution:\n    def {name}({args}):\n" + textwrap.indent(textwrap.dedent(body).strip(), " " * 8))

    return [
        Case("fn_list_unimported", py("class Solution:\n    def solve(self, nums: List[int]) -> int:\n        return sum(nums)"),
             LIST_SUM, "pass", "pass", func_name="solve"),
        Case("fn_tuple_top_level", sol("return (1, n)", args="self, n"), PAIR, "pass", "pass", func_name="solve"),
        Case("fn_nested_tuples", sol("return [(1, n)]", args="self, n"), [("2", "[[1, 2]]"), ("5", "[[1, 5]]")], "fail", "fail",
             func_name="solve"),
        Case("fn_numpy_int", sol("import numpy as np\nreturn np.int64(sum(nums))"), LIST_SUM, "pass", "pass", func_name="solve"),
        Case("fn_numpy_float", sol("import numpy as np\nreturn np.float64(sum(nums)) / 2"),
             [("[1, 2, 2]", "2.5"), ("[3]", "1.5")], "pass", "pass", func_name="solve"),
        Case("fn_numpy_array", sol("import numpy as np\nreturn np.array(nums)"), [("[1, 2]", "[1, 2]"), ("[3, 4]", "[3, 4]")],
             "runtime_error", "fail", func_name="solve"),
        Case("fn_bool_true", sol("return n > 0", args="self, n"), [("1", "true"), ("2", "true")], "pass", "pass", func_name="solve"),
        Case("fn_int_for_bool", sol("return 1", args="self, n"), [("1", "true"), ("2", "true")], "pass", "fail", func_name="solve"),
        Case("fn_float_for_int", sol("return float(sum(nums))"), LIST_SUM, "pass", "pass", func_name="solve"),
        Case("fn_string", sol("return s[::-1]", args="self, s"), [('"abc"', '"cba"'), ('"xy"', '"yx"')], "pass", "pass", func_name="solve"),
        Case("fn_string_for_list", sol("return str([1, n])", args="self, n"), PAIR, "fail", "pass", func_name="solve"),
        Case("fn_list_of_str", sol("return list(s)", args="self, s"), [('"ab"', '["a", "b"]'), ('"c"', '["c"]')], "pass", "pass",
             func_name="solve"),
        Case("fn_dict", sol("return {'a': n}", args="self, n"), [("1", '{"a": 1}'), ("2", '{"a": 2}')], "pass", "pass", func_name="solve"),
        Case("fn_dict_int_keys", sol("return {1: n}", args="self, n"), [("1", '{"1": 1}'), ("2", '{"1": 2}')], "fail", "fail",
             func_name="solve"),
        Case("fn_set_for_list", sol("return {1, n}", args="self, n"), PAIR, "fail", "fail", func_name="solve"),
        Case("fn_float_rounding", sol("return 0.1 + 0.2", args="self, n"), [("1", "0.3"), ("2", "0.3")], "fail", "fail", func_name="solve"),
        Case("fn_generator", sol("return (x for x in [1, n])", args="self, n"), PAIR, "fail", "fail", func_name="solve"),
        Case("fn_none", sol("return None", args="self, n"), [("1", "null"), ("2", "null")], "pass", "pass", func_name="solve"),
        Case("fn_negative_zero", sol("return -0.0", args="self, n"), [("1", "0"), ("2", "0")], "pass", "pass", func_name="solve"),
        Case("fn_namedtuple", py("from collections import namedtuple\nP = namedtuple('P', 'x y')\n"
                                 "class Solution:\n    def solve(self, n):\n        return P(1, n)"), PAIR, "pass", "pass", func_name="solve"),
        Case("fn_big_int", sol("return 10 ** 5000 + n", args="self, n"), [("1", "1" + "0" * 4999 + "1"), ("2", "1" + "0" * 4999 + "2")],
             "pass", "judge_error", func_name="solve"),
        Case("fn_own_eq_object", py("class Any:\n    def __eq__(self, other):\n        return True\n"
                                    "class Solution:\n    def solve(self, n):\n        return Any()"), PAIR, "fail", "fail",
             func_name="solve", lcb_official="pass", why="own-objects"),
        Case("fn_state_across_tests", py("class Solution:\n    def __init__(self):\n        self.seen = 0\n"
                                         "    def solve(self, nums):\n        self.seen += 1\n        return sum(nums) * self.seen"),
             LIST_SUM, "fail", "pass", func_name="solve"),
        Case("fn_module_level_function", py("def solve(nums):\n    return sum(nums)"), LIST_SUM, "pass", "pass", func_name="solve"),
        Case("fn_solution_only_in_comment", py("# class Solution: left out\ndef solve(nums):\n    return sum(nums)"), LIST_SUM,
             "runtime_error", "runtime_error", func_name="solve"),
        Case("fn_main_block_not_run", py("class Solution:\n    def solve(self, nums):\n        return sum(nums)\n"
                                         "if __name__ == '__main__':\n    print(Solution().solve(list(map(int, input().split()))))"),
             LIST_SUM, "pass", "pass", func_name="solve"),
        Case("fn_future_import", py("from __future__ import annotations\nclass Solution:\n    def solve(self, nums):\n        return sum(nums)"),
             LIST_SUM, "runtime_error", "runtime_error", func_name="solve"),
        Case("fn_sys_exit_in_call", sol("import sys\nsys.exit(0)"), LIST_SUM, "runtime_error", "runtime_error", func_name="solve"),
        Case("fn_raises", sol("return nums[10]"), LIST_SUM, "runtime_error", "runtime_error", func_name="solve"),
        Case("fn_missing_method", sol("return sum(nums)", name="other"), LIST_SUM, "runtime_error", "runtime_error", func_name="solve"),
        Case("fn_slow_call", sol("import time\ntime.sleep(1.4)\nreturn sum(nums)"), LIST_SUM[:2], "timeout", "pass", func_name="solve"),
        Case("fn_mlssd_bool_input", sol("return flag is True", args="self, flag"), [("false", "false"), ("true", "true")],
             "pass", "fail", func_name="solve"),
        Case("fn_mlssd_equals_in_input", sol("return s", args="self, s"), [('"a=b"', '"a=b"'), ('"c=d"', '"c=d"')],
             "pass", "fail", func_name="solve"),
        Case("fn_input_not_json", sol("return sum(nums)"), [("[1, 2]", "3"), ("[1, 2,", "3")], "judge_error", "runtime_error",
             func_name="solve"),
        Case("fn_expected_not_json", sol("return sum(nums)"), [("[1, 2]", "3"), ("[1, 2]", "three")], "judge_error", "fail",
             func_name="solve"),
        Case("fn_starter_name_only", py("class Solution:\n    def solve(self, nums):\n        return sum(nums)"), LIST_SUM,
             "judge_error", "pass", func_name="", starter="class Solution:\n    def solve(self, nums: List[int]) -> int:\n        ",
             lcb_official="runtime_error", why="no-func-name"),
    ]


def all_cases() -> list[Case]:
    return stdin_cases() + call_cases()


def problem_row(case: Case) -> dict:
    """The case as a LiveCodeBench problem row (private tests as a plain JSON list, which we accept)."""
    kind = "functional" if case.func_name is not None else "stdin"
    tests = [{"input": i, "output": o, "testtype": kind} for i, o in case.tests]
    metadata = {"func_name": case.func_name} if case.func_name else {}
    return {"question_id": case.id, "question_content": f"parity case {case.id}", "starter_code": case.starter,
            "difficulty": "easy", "contest_date": "2025-03-01T00:00:00", "metadata": json.dumps(metadata),
            "public_test_cases": json.dumps(tests[:1]), "private_test_cases": json.dumps(tests[1:])}
