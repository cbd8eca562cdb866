"""MBPP (Austin et al., 2021) and MBPP+ (EvalPlus, Liu et al., 2023) as function problems.

MBPP rows carry asserts (`test_list`, `challenge_test_list`) that are the tests as they are. MBPP+
rows carry the base asserts (`assertion`) and many extra inputs (`plus_input`) without outputs:
their expected outputs are the canonical solution's results, computed in the judge's sandbox by an
explicit preparation step (`codefeedback prepare mbpp+ PATH`) and read here as asserts, so loading
runs no code. EvalPlus's comparison rules are kept: exact equality, else (when the problem has
an `atol`, or the expected value is a float or a list of floats) a result of the expected type, close
element by element with that `atol` (1e-6 for floats when it is 0) and a relative tolerance of 1e-7, as
`np.allclose` is (an infinite expected value, which some extra inputs have, is close only to itself; nan to
nan); three regex tasks compare only whether the result is None, and the extra inputs of eight tasks whose
items come in any order (`OUTPUT_SET_EQ_TASKS`) compare the result as a set.

Public tests (`public_tests` option): by default every base assert (MBPP's `test_list`, MBPP+'s
`assertion`), one test each, so the feedback lists each as the paper's MBPP+ feedback does; the MBPP+
prompt shows the first (the paper's `${test}`), the MBPP prompt all of `test_list` (MBPP's own prompt).
`public_tests="first"`: only the first assert is public and shown. The hidden tests are the same
either way: every base assert (and MBPP's challenge asserts), then MBPP+'s extra inputs.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codefeedback_env.problems.errors import DatasetError
from codefeedback_env.problems.files import iter_rows
from codefeedback_env.problems.function_tests import (
    LITERAL_NAMES,
    checked_public_tests,
    first_called_name,
    free_names,
    parse,
    public_split,
    python_literal,
    split_test_code,
)
from codefeedback_env.problems.records import DEFAULT_TIME_LIMIT, Problem, ProblemKind, TestCase

logger = logging.getLogger(__name__)

MBPP_HUB_NAME = "google-research-datasets/mbpp"

# ---------------------------------------------------------------------------------------------- MBPP


def _string(row: dict[str, Any], field: str, source: str, number: int, *, empty: bool = False) -> str:
    value = row.get(field, None if not empty else "")
    if value is None and empty:
        return ""
    if not isinstance(value, str) or (not empty and not value.strip()):
        what = "a string" if empty else "a non-empty string"
        raise DatasetError(source, number, field, f"expected {what}, got {type(value).__name__}")
    return value


def _strings(row: dict[str, Any], field: str, source: str, number: int) -> list[str]:
    value = row.get(field, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DatasetError(source, number, field, "expected a list of strings")
    return value


def _parse(code: str, source: str, number: int, field: str) -> ast.Module:
    try:
        return parse(code)
    except SyntaxError as error:
        raise DatasetError(source, number, field, f"not valid Python ({error.msg}, line {error.lineno})") from None


def _stdlib_imports(names: set[str]) -> str:
    """`import x` lines for the standard-library modules among `names` (tests that forgot an import)."""
    modules = sorted(name for name in names if name in sys.stdlib_module_names)
    return "".join(f"import {name}\n" for name in modules)


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def mbpp_problem(row: dict[str, Any], source: str, number: int, public_tests: str = "base") -> Problem | None:
    """One row of the original MBPP as a Problem; None (with a warning) when it cannot be judged."""
    task_id = row.get("task_id")
    if not isinstance(task_id, int) or isinstance(task_id, bool):
        raise DatasetError(source, number, "task_id", f"expected an integer, got {type(task_id).__name__}")
    text = _string(row, "text", source, number)
    code = _string(row, "code", source, number)
    setup = _string(row, "test_setup_code", source, number, empty=True)
    tests = _strings(row, "test_list", source, number)
    challenge = _strings(row, "challenge_test_list", source, number)
    defined = _top_level_names(_parse(code, source, number, "code"))
    chunks: list[str] = []
    for field, items in (("test_list", tests), ("challenge_test_list", challenge)):
        for position, item in enumerate(items):
            _parse(item, source, number, f"{field}[{position}]")
            chunks.append(item.strip() + "\n")
    if not chunks:
        logger.warning("%s, row %d (MBPP/%d): no tests; skipped", source, number, task_id)
        return None
    entry_point = first_called_name(chunks[0], defined)
    if entry_point is None:
        raise DatasetError(source, number, "test_list[0]", "calls no function to test")
    needs_program = free_names(setup) & defined
    if needs_program:
        logger.warning(
            "%s, row %d (MBPP/%d): the test set-up builds objects of the program's own %s, which cannot "
            "cross the judge's sandbox boundary (only plain data does); skipped",
            source, number, task_id, ", ".join(sorted(needs_program)),
        )  # fmt: skip
        return None
    test_names: set[str] = set()
    for chunk in chunks:
        test_names |= free_names(chunk)
    cases, public, shown = _split_tests(chunks, len(tests), public_tests, prompt_shows_all=True)
    return Problem(
        id=f"MBPP/{task_id}",
        statement=text,
        public_tests=public,
        hidden_tests=cases,
        prompt_tests=shown,
        kind=ProblemKind.FUNCTION,
        solutions=(code,),
        entry_point=entry_point,
        test_setup=_stdlib_imports(test_names - defined) + setup,
        source="mbpp",
    )


def _split_tests(
    chunks: list[str], base_count: int, public_tests: str, *, prompt_shows_all: bool
) -> tuple[tuple[TestCase, ...], tuple[TestCase, ...], tuple[TestCase, ...]]:
    """(every test, public tests, prompt tests) of a row whose first `base_count` test chunks are its base tests
    (`public_split`); a row with no base test (only challenge asserts or extra tests) has its first stand in."""
    cases = tuple(TestCase(chunk) for chunk in chunks)
    public, shown = public_split(cases[:base_count] or cases[:1], public_tests, prompt_shows_all=prompt_shows_all)
    return cases, public, shown


def _mbpp_hub_rows() -> list[tuple[int, dict[str, Any]]]:
    how = "pass the path of a local copy in the original format, e.g. load_mbpp('mbpp.jsonl')"
    try:
        import datasets

        splits = datasets.load_dataset(MBPP_HUB_NAME, "full")
    except Exception as error:  # no network, no package, hub changes: all end the same way
        raise DatasetError(
            MBPP_HUB_NAME, None, None, f"could not load from the hub ({type(error).__name__}: {error}); {how}"
        ) from error
    rows = sorted((row for split in splits.values() for row in split), key=lambda row: row["task_id"])
    return list(enumerate(rows, start=1))


def load_mbpp(path: str | Path | None = None, *, public_tests: str = "base") -> list[Problem]:
    """MBPP's 974 problems, from a local jsonl(.gz) file in the original format or from the hub.

    `public_tests`: "base" (every `test_list` assert public and in the prompt) or "first" (the first only);
    hidden: every `test_list` and `challenge_test_list` assert.

    With no `path` the `full` configuration of `google-research-datasets/mbpp` is fetched through the
    `datasets` library (all splits, ordered by task id), which needs the network. Raises DatasetError
    naming the file, the row and the field for a malformed row; rows that cannot be judged are skipped
    with a warning and counted in the log.
    """
    checked_public_tests(public_tests)
    source = MBPP_HUB_NAME if path is None else str(path)
    rows = _mbpp_hub_rows() if path is None else iter_rows(path)
    problems: list[Problem] = []
    skipped = 0
    for number, row in rows:
        problem = mbpp_problem(row, source, number, public_tests)
        if problem is None:
            skipped += 1
        else:
            problems.append(problem)
    if skipped:
        logger.warning("%s: skipped %d row(s) that cannot be judged", source, skipped)
    return problems


# --------------------------------------------------------------------------------------------- MBPP+

MBPP_PLUS_FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "assertion")
OUTPUT_NOT_NONE_TASKS = frozenset({"check_str", "text_match_three", "text_starta_endb"})
"""Entry points whose result EvalPlus compares only as `result is not None` (they return re.Match)."""
OUTPUT_SET_EQ_TASKS = frozenset(
    {
        "similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum",
        "intersection_array", "find_dissimilar", "Diff",
    }
)  # fmt: skip
"""Entry points (Mbpp/2, 7, 111, 140, 232, 249, 579, 769) whose result EvalPlus compares as a set: the statement
asks for the items in no order, and the canonical solution's order is its own sets' iteration order."""
FLOAT_ATOL = 1e-6
"""EvalPlus's tolerance for float results when the problem gives `atol` 0."""
REFERENCE_INPUT_SECONDS = 1.0
"""Extra inputs on which the canonical solution takes longer are dropped (tests run under a 10 s limit)."""
MAX_ASSERT_CHARS = 100_000
"""Extra inputs whose assert would be longer (huge arguments or results) are dropped."""
PLUS_CASE_SECONDS = 2.0
"""A test of extra inputs holds at most this much of the canonical solution's running time."""
CACHE_VERSION = 4
CACHE_FORMAT = "codefeedback MBPP+ expected outputs"
PREPARE_COMMAND = "codefeedback prepare mbpp+"

PLUS_TEST_SETUP = (
    LITERAL_NAMES
    + '''
def _cf_close(out, expected, atol):
    """EvalPlus's comparison: equal, or of the same type and numerically close (rtol 1e-7, atol) element by
    element as `np.allclose` is: nan only to nan, an infinity only to itself (its tolerance is not infinite)."""
    if out == expected:
        return True
    if type(out) is not type(expected):
        return False

    def close(a, b):
        numbers = (int, float, complex)
        if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) | isinstance(b, bool):
            if a != a or b != b:
                return a != a and b != b
            if a - a != 0 or b - b != 0:  # an infinity (in either part of a complex)
                return a == b
            return abs(a - b) <= atol + 1e-7 * abs(b)
        if isinstance(a, bool) and isinstance(b, bool):
            return a == b
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
        return a == b

    return close(out, expected)


def _cf_same_set(out, expected, atol):
    """EvalPlus's check for tasks whose items may come in any order: the same set, else (float results) close."""
    return set(out) == set(expected) or bool(atol) and _cf_close(out, expected, atol)


def _cf_not_none(out):
    """EvalPlus's check for regex tasks: a bool as is, anything else as `is not None`."""
    return out if isinstance(out, bool) else out is not None
'''
)


def deserialize_inputs(task_id: str, inputs: list) -> list:
    """Restore the Python types JSON lost in MBPP+ inputs (tuples, sets, complex numbers).

    Ported from EvalPlus (`evalplus/data/mbpp.py`, `mbpp_deserialize_inputs`, Apache-2.0) so that
    inputs match what EvalPlus passes to the functions.
    """
    number = int(task_id.split("/")[-1])
    if number in {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429,
                  470, 560, 579, 596, 616, 630, 726, 740, 744, 809}:  # fmt: skip
        return [[tuple(lst) for lst in inp] for inp in inputs]
    if number in {63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780}:
        return [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
    if number in {75, 413, 444, 753}:
        return [[[tuple(lst) for lst in inp[0]]] + [inp[1]] for inp in inputs]
    if number in {106, 750}:
        return [[inp[0]] + [tuple(inp[1])] for inp in inputs]
    if number == 115:
        return [[[set(item) if isinstance(item, list) and len(item) else {} for item in inp[0]]] for inp in inputs]
    if number == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if number in {250, 405, 446, 617, 720, 763, 808}:
        return [[tuple(inp[0])] + [inp[1]] for inp in inputs]
    if number in {259, 401, 445}:
        nested = [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in nested]
    if number == 278:
        nested = [[[tuple(item) if isinstance(item, list) else item for item in inp[0]]] for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in nested]
    if number == 307:
        return [[tuple(inp[0])] + [inp[1], inp[2]] for inp in inputs]
    if number == 722:
        return [[{key: tuple(value) for key, value in inp[0].items()}] + inp[1:] for inp in inputs]
    if number == 252:
        return [[complex(inp[0])] for inp in inputs]
    if number in {580, 615, 791}:

        def as_tuples(value: Any) -> Any:
            return tuple(as_tuples(item) for item in value) if isinstance(value, list) else value

        return [as_tuples(inp) for inp in inputs]
    return inputs


def _is_floats(value: Any) -> bool:
    """EvalPlus's test for float results (a float, or a non-empty list or tuple of floats)."""
    if isinstance(value, float):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(item, float) for item in value)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "codefeedback"


def plus_cache_path(path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The prepared expected outputs of the MBPP+ file `path`: keyed by its content and the Python version.

    `cache_dir` defaults to `$XDG_CACHE_HOME/codefeedback` or `~/.cache/codefeedback`.
    """
    folder = _cache_dir() if cache_dir is None else Path(cache_dir)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:20]
    python = f"py{sys.version_info.major}{sys.version_info.minor}"
    return folder / f"mbppplus-expected-{digest}-{python}-v{CACHE_VERSION}.json"


def write_plus_cache(cache: Path, path: str | Path, tasks: dict[str, list[list[Any]]]) -> None:
    """Write prepared entries (per task id, per extra input `[assert, seconds]` or `[None, reason]`) atomically."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    document = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "source": str(path), "tasks": tasks}
    temporary.write_text(json.dumps(document), encoding="utf-8")
    os.replace(temporary, cache)


def _prepare_hint(path: str | Path, cache_dir: str | Path | None) -> str:
    folder = "" if cache_dir is None else f" --cache-dir {cache_dir}"
    return f"run `{PREPARE_COMMAND} {path}{folder}` once, or pass plus=False to load only the base asserts"


def read_plus_cache(path: str | Path, cache_dir: str | Path | None = None) -> dict[str, list[list[Any]]]:
    """The prepared entries of the MBPP+ file `path`; DatasetError naming the command when not prepared."""
    cache = plus_cache_path(path, cache_dir)
    try:
        document = json.loads(cache.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(
            str(path), None, None, f"MBPP+'s extra tests are not prepared ({cache} is absent); "
            + _prepare_hint(path, cache_dir)
        ) from None  # fmt: skip
    except (OSError, ValueError) as error:
        raise DatasetError(
            str(cache), None, None, f"unreadable prepared MBPP+ outputs ({error}); " + _prepare_hint(path, cache_dir)
        ) from None
    tasks = document.get("tasks") if isinstance(document, dict) else None
    if document.get("format") != CACHE_FORMAT or not isinstance(tasks, dict):
        raise DatasetError(str(cache), None, None, "not a prepared MBPP+ file; " + _prepare_hint(path, cache_dir))
    return tasks


def _statement(prompt: str) -> str:
    """The task text of an MBPP+ prompt (a module docstring such as '''\\nWrite a function ...\\n''')."""
    try:
        tree = parse(prompt)
    except SyntaxError:
        return prompt.strip()
    docstring = ast.get_docstring(tree)
    return docstring.strip() if docstring and len(tree.body) == 1 else prompt.strip()


def _inputs(row: dict[str, Any], field: str, source: str, number: int) -> list:
    value = row.get(field, [])
    if value is None or value == {}:  # one published row stores an empty dict
        return []
    if not isinstance(value, list) or not all(isinstance(item, list) for item in value):
        raise DatasetError(source, number, field, "expected a list of argument lists")
    try:
        return deserialize_inputs(row["task_id"], value)
    except (TypeError, ValueError, IndexError, KeyError, AttributeError) as error:
        raise DatasetError(source, number, field, f"arguments do not have the expected shape ({error})") from None


def plus_assert(entry_point: str, arguments: Sequence[Any], expected: Any, atol: float) -> str:
    """The assert checking `entry_point(*arguments)` against `expected` with EvalPlus's comparison."""
    call = f"{entry_point}({', '.join(python_literal(argument) for argument in arguments)})"
    if entry_point in OUTPUT_NOT_NONE_TASKS:
        return f"assert _cf_not_none({call}) == {python_literal(expected)}"
    if atol == 0 and _is_floats(expected):
        atol = FLOAT_ATOL
    if entry_point in OUTPUT_SET_EQ_TASKS:
        return f"assert _cf_same_set({call}, {python_literal(expected)}, {atol!r})"
    if atol:
        return f"assert _cf_close({call}, {python_literal(expected)}, {atol!r})"
    return f"assert {call} == {python_literal(expected)}"


class PlusRow:
    """An MBPP+ row checked and parsed, before its extra tests are computed."""

    def __init__(self, row: dict[str, Any], source: str, number: int) -> None:
        for field in MBPP_PLUS_FIELDS:
            _string(row, field, source, number)
        self.number = number
        self.task_id: str = row["task_id"]
        self.entry_point: str = row["entry_point"]
        self.prompt: str = row["prompt"]
        self.solution = row["prompt"] + row["canonical_solution"]
        _parse(self.solution, source, number, "canonical_solution")
        atol = row.get("atol", 0) or 0
        if not isinstance(atol, (int, float)) or isinstance(atol, bool) or atol < 0:
            raise DatasetError(source, number, "atol", f"expected a number >= 0, got {atol!r}")
        self.atol = float(atol)
        assertion = row["assertion"]
        tree = _parse(assertion, source, number, "assertion")
        self.assertion_tests = split_test_code(assertion, tree.body, {self.entry_point})
        self.assertion_names = set().union(*(free_names(chunk) for chunk in self.assertion_tests))
        self.plus_inputs = _inputs(row, "plus_input", source, number)

    def reference_program(self) -> str:
        if self.entry_point in OUTPUT_NOT_NONE_TASKS:  # results are re.Match objects; compare as EvalPlus does
            result = f"{self.entry_point}(*args)"
            return (
                f"{self.solution}\n\ndef _cf_reference(*args):\n"
                f"    out = {result}\n    return out if isinstance(out, bool) else out is not None\n"
            )
        return self.solution

    def reference_function(self) -> str:
        return "_cf_reference" if self.entry_point in OUTPUT_NOT_NONE_TASKS else self.entry_point


def plus_rows(path: str | Path) -> list[PlusRow]:
    """The rows of an MBPP+ file, checked and parsed."""
    return [PlusRow(row, str(path), number) for number, row in iter_rows(path)]


def _valid_entries(entries: Any, inputs: int) -> bool:
    return (
        isinstance(entries, list)
        and len(entries) == inputs
        and all(
            isinstance(entry, list)
            and len(entry) == 2
            and (entry[0] is None or (isinstance(entry[0], str) and isinstance(entry[1], (int, float))))
            for entry in entries
        )
    )


def _plus_tests(row: PlusRow, entries: list[list[Any]], source: str, per_case: int) -> tuple[list[str], int]:
    """The prepared asserts of a row grouped into tests of at most `per_case` asserts and
    `PLUS_CASE_SECONDS` of reference running time; also the number of inputs dropped."""
    cases: list[list[str]] = []
    budget = 0.0
    reasons: list[str] = []
    for line, detail in entries:
        if line is None:
            reasons.append(str(detail))
            continue
        if not cases or len(cases[-1]) >= per_case or budget + detail > PLUS_CASE_SECONDS:
            cases.append([])
            budget = 0.0
        cases[-1].append(line)
        budget += detail
    if reasons:
        logger.info(
            "%s, row %d (%s): dropped %d extra input(s): %s",
            source, row.number, row.task_id, len(reasons), sorted({reason[:120] for reason in reasons}),
        )  # fmt: skip
    return ["\n".join(lines) + "\n" for lines in cases], len(reasons)


def load_mbpp_plus(
    path: str | Path | None = None,
    *,
    plus: bool = True,
    cache_dir: str | Path | None = None,
    tests_per_case: int = 10,
    public_tests: str = "base",
) -> list[Problem]:
    """MBPP+ v0.1.0 (399 problems) from its jsonl(.gz) file (`MbppPlus-v0.1.0.jsonl` from EvalPlus).

    Public tests (`public_tests`): "base", every assert of `assertion` (one test each, the first in the
    prompt: the paper's split), or "first", only the first. Hidden tests: every assert of `assertion`, then
    (with `plus`) the extra inputs, `tests_per_case` asserts per test, whose expected outputs are
    the canonical solution's results, prepared once by `codefeedback prepare mbpp+ PATH` (see
    `codefeedback_env.preparation.mbpp_plus`) into `cache_dir` (default `$XDG_CACHE_HOME/codefeedback`
    or `~/.cache/codefeedback`), keyed by the file's hash. Loading runs no code; without the prepared
    file it raises DatasetError naming the command. Inputs the canonical solution fails on, or takes
    over `REFERENCE_INPUT_SECONDS` for, are dropped.
    """
    if path is None:
        raise DatasetError(
            "mbpp+", None, None,
            "MBPP+ loads from a local file: pass the path of MbppPlus-v0.1.0.jsonl(.gz) from the EvalPlus releases",
        )  # fmt: skip
    if tests_per_case < 1:
        raise ValueError(f"tests_per_case must be >= 1, got {tests_per_case}")
    checked_public_tests(public_tests)
    source = str(path)
    rows = plus_rows(path)
    plus_tests: dict[str, tuple[list[str], int]] = {}
    if plus:
        prepared = read_plus_cache(path, cache_dir)
        for row in rows:
            entries = prepared.get(row.task_id)
            if not _valid_entries(entries, len(row.plus_inputs)):
                raise DatasetError(
                    source, row.number, "plus_input",
                    f"the prepared outputs of {row.task_id} do not match its {len(row.plus_inputs)} extra inputs; "
                    + _prepare_hint(path, cache_dir),
                )  # fmt: skip
            plus_tests[row.task_id] = _plus_tests(row, entries, source, tests_per_case)
    problems: list[Problem] = []
    skipped = dropped = 0
    for row in rows:
        plus_chunks, lost = plus_tests.get(row.task_id, ([], 0))
        dropped += lost
        chunks = row.assertion_tests + plus_chunks
        if not chunks:
            logger.warning("%s, row %d (%s): no tests; skipped", source, row.number, row.task_id)
            skipped += 1
            continue
        cases, public, shown = _split_tests(chunks, len(row.assertion_tests), public_tests, prompt_shows_all=False)
        problems.append(
            Problem(
                id=row.task_id,
                statement=_statement(row.prompt),
                public_tests=public,
                hidden_tests=cases,
                prompt_tests=shown,
                kind=ProblemKind.FUNCTION,
                time_limit=DEFAULT_TIME_LIMIT,
                solutions=(row.solution,),
                entry_point=row.entry_point,
                test_setup=_stdlib_imports(row.assertion_names) + PLUS_TEST_SETUP,
                source="mbpp+",
            )
        )
    if skipped:
        logger.warning("%s: skipped %d row(s) with no tests", source, skipped)
    if dropped:
        logger.warning("%s: dropped %d extra input(s) the canonical solution fails on or is slow for", source, dropped)
    return problems
