"""Class 8 (fidelity of function problems): a function may return a never-ending generator.

Checker code that reads only its first values (`itertools.islice`, `next`, `zip` with a finite sequence, a loop
that breaks) passes under `python3`. The judge took a returned iterator whole in the sandbox, so such a
function ran out of time. It now takes at most `plaindata.MAX_ITERATOR_VALUES` values (and about
`MAX_ITERATOR_BYTES`); checker code reading past them gets a time-out, as under `python3`, where it would still be
taking values, even if it catches the exception. Each case is first run by a plain `python3` (the program, then
the test, with a time-out) and the judge must agree with it.
"""

from __future__ import annotations

import pytest

from codefeedback_env.judge import Verdict, plaindata
from tests.judge.function_judges import assert_still_serving, function_problem
from tests.judge.test_iterable_replies import python3_passes

COUNTING = "def f():\n    i = 0\n    while True:\n        yield i\n        i += 1\n"
FIBONACCI = "def f():\n    a, b = 0, 1\n    while True:\n        yield a\n        a, b = b, a + b\n"
CASES = {
    # name: (program, test, whether python3 passes)
    "islice_of_a_counter": (COUNTING, "import itertools\nassert list(itertools.islice(f(), 5)) == [0, 1, 2, 3, 4]\n"),
    "next_twice": (COUNTING, "g = f()\nassert next(g) == 0\nassert next(g) == 1\n"),
    "zip_with_a_range": (COUNTING, "assert list(zip(range(3), f())) == [(0, 0), (1, 1), (2, 2)]\n"),
    "loop_that_breaks": (COUNTING, "for x in f():\n    if x > 10:\n        break\nassert x == 11\n"),
    "islice_of_fibonacci": (
        FIBONACCI,
        "import itertools\nassert list(itertools.islice(f(), 8)) == [0, 1, 1, 2, 3, 5, 8, 13]\n",
    ),
    "itertools_count": ("import itertools\ndef f():\n    return itertools.count(5)\n", "assert next(f()) == 5\n"),
    "wrong_first_values": (COUNTING, "import itertools\nassert list(itertools.islice(f(), 3)) == [1, 2, 3]\n"),
}
READ_WHOLE = {
    # python3 never ends these: a time-out, also when checker code catches what it can.
    "list_of_a_counter": "assert len(list(f())) > 0\n",
    "sum_of_fibonacci": "assert sum(f()) > 0\n",
    "caught_by_a_bare_except": "try:\n    list(f())\nexcept:\n    pass\n",
    "caught_and_expected": "try:\n    sorted(f())\n    assert False\nexcept BaseException:\n    pass\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reading_the_first_values_agrees_with_python3(judge_and_processes, name: str) -> None:
    judge, processes = judge_and_processes
    program, test = CASES[name]
    expected = python3_passes(program, test)
    result = judge.judge(function_problem([test], time_limit=10.0), program, "hidden")
    outcome = result.results[0]
    assert outcome.passed is expected, outcome
    if not expected:
        assert outcome.verdict is Verdict.WRONG_ANSWER, outcome
    assert_still_serving(judge, processes)


SLOW_TO_READ = {"list_of_a_counter", "caught_and_expected"}
"""Values taken, sent and checked to the bound: seconds on a loaded host (one counting case stays in the fast suite)."""


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_TO_READ else n for n in sorted(READ_WHOLE)]
)
def test_reading_it_whole_is_a_time_out(judge_and_processes, name: str) -> None:
    """Under python3 these never end (not run here: `list(f())` would fill the host's memory)."""
    judge, processes = judge_and_processes
    program = FIBONACCI if "fibonacci" in name else COUNTING
    result = judge.judge(function_problem([READ_WHOLE[name]], time_limit=10.0), program, "hidden")
    assert result.results[0].verdict is Verdict.TIME_LIMIT, result.results[0]
    assert_still_serving(judge, processes)


def test_an_iterator_is_cut_only_past_the_bound(monkeypatch) -> None:
    monkeypatch.setattr(plaindata, "MAX_ITERATOR_VALUES", 1000)
    assert list(plaindata.loads(plaindata.dumps(iter(range(1000))))) == list(range(1000))
    assert isinstance(plaindata.loads(plaindata.dumps(iter(range(1001)))), plaindata.CutIterator)
    monkeypatch.setattr(plaindata, "MAX_ITERATOR_BYTES", 10_000)
    growing = plaindata.loads(plaindata.dumps(iter([10**3000] * 20)))  # about 3,300 bytes each: cut after 4
    assert isinstance(growing, plaindata.CutIterator) and len(growing.remaining()) == 4


def test_a_cut_iterator_crosses_on_as_it_is(monkeypatch) -> None:
    """The judge decodes the program's reply and sends it on to the checker: still cut, what was read gone."""
    import itertools

    monkeypatch.setattr(plaindata, "MAX_ITERATOR_VALUES", 1000)
    cut = plaindata.loads(plaindata.dumps(itertools.count()))
    assert isinstance(cut, plaindata.CutIterator) and [next(cut), next(cut)] == [0, 1]
    again = plaindata.loads(plaindata.dumps([cut]))[0]
    assert isinstance(again, plaindata.CutIterator) and next(again) == 2
    with pytest.raises(plaindata.IteratorCut):
        for _ in again:
            pass


def test_every_cut_iterator_a_message_holds_calls_on_cut(monkeypatch) -> None:
    """Wherever it sits (in containers, inside another iterator, in a dict view), reading past it calls `on_cut`."""
    import itertools

    monkeypatch.setattr(plaindata, "MAX_ITERATOR_VALUES", 10)
    values = (
        {"k": (itertools.count(), [itertools.count()])},
        iter([itertools.count()]),
        {itertools.count(): 1}.keys(),
        {1: itertools.count()}.values(),
    )
    calls: list[int] = []
    decoded = plaindata.loads(plaindata.dumps(values), on_cut=lambda: calls.append(1))
    inner = [decoded[0]["k"][0], decoded[0]["k"][1][0], next(decoded[1]), *decoded[2], *decoded[3]]
    assert [type(cut) for cut in inner] == [plaindata.CutIterator] * 5
    for cut in inner:
        with pytest.raises(plaindata.IteratorCut):
            list(cut)
    assert calls == [1] * 5
    assert list(itertools.islice(plaindata.loads(plaindata.dumps(itertools.count())), 3)) == [0, 1, 2]
    with pytest.raises(plaindata.IteratorCut):  # without on_cut: only the exception
        list(plaindata.loads(plaindata.dumps(itertools.count())))


NESTED = {
    # A never-ending generator inside what the function returns, where only iterating reaches it: checker code
    # that reads it whole and catches everything still runs out of time under python3.
    "iterator_of_a_generator": "import itertools\ndef f():\n    return iter([itertools.count()])\n",
    "generator_yielding_a_generator": "import itertools\ndef f():\n    yield itertools.count()\n",
    "dict_keys_holding_a_generator": "import itertools\ndef f():\n    return {itertools.count(): 1}.keys()\n",
    "dict_values_holding_a_generator": "import itertools\ndef f():\n    return {1: itertools.count()}.values()\n",
    "dict_items_holding_a_generator": "import itertools\ndef f():\n    return {1: itertools.count()}.items()\n",
}
READ_NESTED_AND_CATCH = (
    "try:\n    for item in f():\n        list(item[1] if type(item) is tuple else item)\nexcept:\n    pass\n"
)


@pytest.mark.parametrize(
    "name", [n if n == "iterator_of_a_generator" else pytest.param(n, marks=pytest.mark.slow) for n in sorted(NESTED)]
)
def test_a_generator_inside_an_iterator_or_view_read_whole_is_a_time_out(judge_and_processes, name: str) -> None:
    judge, processes = judge_and_processes
    result = judge.judge(function_problem([READ_NESTED_AND_CATCH], time_limit=10.0), NESTED[name], "hidden")
    assert result.results[0].verdict is Verdict.TIME_LIMIT, result.results[0]
    assert_still_serving(judge, processes)


TAKEN_WHOLE = {
    # Finite iterators just under the bound in the sandbox, whose values the judge decodes as larger lists (a list
    # grown by appends holds spare room): the judge, sending them on to checker code, must not cut them again.
    "lists_of_zeros": "def f():\n    for i in range(417):\n        yield [0] * 1250\n",
    "lists_of_ranges": "def f():\n    return (list(range(1250)) for i in range(417))\n",
    "map_to_lists": "def f():\n    return map(lambda i: [i] * 1250, range(417))\n",
}


@pytest.mark.parametrize("name", sorted(TAKEN_WHOLE))
def test_an_iterator_taken_whole_in_the_sandbox_reaches_checker_code_whole(name: str) -> None:
    """The judge decodes the program's reply and encodes it again for the checker process."""
    namespace: dict = {}
    exec(TAKEN_WHOLE[name], namespace)
    decoded = plaindata.loads(plaindata.dumps(namespace["f"]()))
    assert type(decoded) is not plaindata.CutIterator
    again = plaindata.loads(plaindata.dumps(decoded))
    assert type(again) is not plaindata.CutIterator and len(list(again)) == 417


def test_an_iterator_taken_whole_passes_a_checker_reading_it_whole(judge_and_processes) -> None:
    judge, processes = judge_and_processes
    program, test = TAKEN_WHOLE["lists_of_zeros"], "assert len(list(f())) == 417\n"
    assert python3_passes(program, test)
    result = judge.judge(function_problem([test], time_limit=10.0), program, "hidden")
    assert result.results[0].passed, result.results[0]
    assert_still_serving(judge, processes)


@pytest.mark.parametrize("chars", [4500, 9000])  # 417 of them: under the bytes bound, over it
def test_a_str_subclass_is_counted_as_the_str_it_crosses_as(chars: int) -> None:
    """Counted as itself, a subclass counted less in the sandbox than its decoded copy in the judge, which then cut
    again what the sandbox had taken whole: checker code reading it whole timed out where python3 passes."""

    class Text(str):
        pass

    decoded = plaindata.loads(plaindata.dumps(Text("x" * chars) for _ in range(417)))
    assert type(decoded) is type(plaindata.loads(plaindata.dumps("x" * chars for _ in range(417))))
    assert type(plaindata.loads(plaindata.dumps(decoded))) is type(decoded)
