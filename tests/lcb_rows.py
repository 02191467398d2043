"""A LiveCodeBench-format problem row for tests that write their own problems file."""

import json


def lcb_row(qid, tests, func_name=None):
    """One row: (input, output) pairs as the first public test and the rest private; stdin, or functional when
    `func_name` is given."""
    kind = "functional" if func_name else "stdin"
    cases = [{"input": i, "output": o, "testtype": kind} for i, o in tests]
    return {"question_id": qid, "question_content": qid, "starter_code": "", "difficulty": "easy",
            "contest_date": "2025-03-01", "metadata": json.dumps({"func_name": func_name} if func_name else {}),
            "public_test_cases": json.dumps(cases[:1]), "private_test_cases": json.dumps(cases[1:])}
