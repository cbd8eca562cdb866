"""The attack corpus: hostile (and legitimate) programs, each with the problem it targets and what counts as harm.

Shared by the attack tests (`tests/judge/test_attacks.py`) and the integrity scorecard
(`benchmarks/integrity_scorecard.py`), which runs every entry against the project's backends and against
other graders. Entries are grouped by the classes of issue 10 (`GROUPS`), plus the original attack suite.

How harm shows: an attack program produces the expected answer only if what it tried succeeded, so an
ACCEPTED verdict is the harm (`Harm.FALSE_PASS`, or `Harm.LEAK` when what got through is data: the host's
files, another run's state or another program's text). A legitimate program (`Harm.FALSE_FAIL`) is harmed
by any other verdict. `Harm.STALL` attacks aim at the judge itself; their verdict does not matter, the
runner checks its time, exceptions, processes and memory left behind (for every entry, not only these).
Secrets planted by one run and searched by another are drawn per corpus, so nothing can be hard-coded.
"""

from __future__ import annotations

import secrets

from tests.judge.attack_corpus.checker_and_files import checker_steering, file_system
from tests.judge.attack_corpus.judge_harm import bad_input, float_tolerance, judge_stall, leaked_processes
from tests.judge.attack_corpus.other_runs import memory_outside_limit, other_programs, state_between_runs
from tests.judge.attack_corpus.records import (
    ADD,
    GROUPS,
    PROJECT_DIR,
    THREE,
    Attack,
    Harm,
    Tags,
    Target,
    function_checks_as_humaneval,
)
from tests.judge.attack_corpus.suite import (
    ATTACKS,
    FUNCTION_ATTACKS,
    LEGITIMATE,
    LEGITIMATE_MEMORY_LIMIT,
    LEGITIMATE_TIME_LIMIT,
    legitimate_idioms,
    original_suite,
)

__all__ = [
    "ADD",
    "ATTACKS",
    "FUNCTION_ATTACKS",
    "GROUPS",
    "LEGITIMATE",
    "LEGITIMATE_MEMORY_LIMIT",
    "LEGITIMATE_TIME_LIMIT",
    "PROJECT_DIR",
    "THREE",
    "Attack",
    "Harm",
    "Tags",
    "Target",
    "build_corpus",
    "function_checks_as_humaneval",
]


def build_corpus(tags: Tags | None = None) -> list[Attack]:
    """Every entry, with fresh secrets; `tags` names what the programs may leave on the host."""
    tags = tags or Tags()
    secret = lambda: secrets.token_hex(4)  # noqa: E731
    corpus = [
        *original_suite(),
        *checker_steering(),
        *file_system(),
        *other_programs(secret),
        *state_between_runs(tags, secret),
        *memory_outside_limit(tags),
        *judge_stall(),
        *float_tolerance(),
        *legitimate_idioms(),
        *leaked_processes(tags),
        *bad_input(),
    ]
    names = [attack.name for attack in corpus]
    assert len(names) == len(set(names)), "corpus names must be unique"
    return corpus
