"""Held-out evaluation: leave out the problems a policy trained on, and report any overlap found.

A problem list is a text file of problem ids (one per line; blank lines and `#` comments ignored), such
as the `training_problems.txt` a training run writes, or any dataset the loaders accept (then statements
are compared too, so a problem that is in both under another id is found as well).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from codefeedback_env.problems.errors import DatasetError
from codefeedback_env.problems.records import Problem
from codefeedback_env.problems.store import ProblemStore, problem_ids

PROBLEM_LIST_NAME = "training_problems.txt"
"""The file a training run writes its problem ids to (see `write_problem_list`)."""


def statement_digest(statement: str) -> str:
    """A hash of a statement with case and whitespace layout ignored."""
    return hashlib.sha256(" ".join(statement.lower().split()).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ProblemList:
    """Problems to leave out, by id and (when known) by statement."""

    source: str
    ids: frozenset[str]
    statements: frozenset[str] = field(default_factory=frozenset)
    """`statement_digest`s; empty for a list of ids."""

    @classmethod
    def of(cls, problems: Iterable[Problem], source: str) -> ProblemList:
        problems = list(problems)
        return cls(
            source, frozenset(p.id for p in problems), frozenset(statement_digest(p.statement) for p in problems)
        )


@dataclass(frozen=True)
class Overlap:
    """The outcome of leaving a problem list out of an evaluation set."""

    kept: Sequence[Problem]
    by_id: list[str]
    """Ids of evaluation problems whose id is in the list."""
    by_statement: list[str]
    """Ids of the other evaluation problems whose statement is in the list."""

    @property
    def excluded(self) -> int:
        return len(self.by_id) + len(self.by_statement)

    def report(self, source: str) -> str:
        """One line saying what was left out and why."""
        total = len(self.kept) + self.excluded
        if not self.excluded:
            return f"no overlap with {source}: all {total} problems are held out"
        shown = ", ".join((self.by_id + self.by_statement)[:5]) + (" ..." if self.excluded > 5 else "")
        how = f"{len(self.by_id)} by id, {len(self.by_statement)} by statement"
        return f"left out {self.excluded} of {total} problems found in {source} ({how}: {shown})"


def read_problem_list(path: str | Path) -> ProblemList:
    """The problems named by a file of ids, a training run's folder (its `training_problems.txt`) or a dataset."""
    path = Path(path).expanduser()
    if path.is_dir() and (path / PROBLEM_LIST_NAME).is_file():
        path = path / PROBLEM_LIST_NAME
    if not path.exists():
        raise FileNotFoundError(f"problem list {str(path)!r} does not exist")
    if path.is_file() and path.suffix in ("", ".txt", ".lst"):
        lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
        ids = [line for line in lines if line and not line.startswith("#")]
        if not ids:
            raise DatasetError(str(path), None, None, "holds no problem id (one id per line)")
        return ProblemList(str(path), frozenset(ids))
    from codefeedback_env.problems.registry import load_problems

    return ProblemList.of(load_problems(path), str(path))


def leave_out(problems: Sequence[Problem], excluded: ProblemList) -> Overlap:
    """`problems` without those in `excluded` (same id, or same statement when the list has statements).

    A `ProblemStore` gives a view of the same store, its problems decoded only to compare statements.
    """
    kept, by_id, by_statement = [], [], []
    for position, problem_id in enumerate(problem_ids(problems)):
        if problem_id in excluded.ids:
            by_id.append(problem_id)
        elif excluded.statements and statement_digest(problems[position].statement) in excluded.statements:
            by_statement.append(problem_id)
        else:
            kept.append(position)
    chosen = problems.select(kept) if isinstance(problems, ProblemStore) else [problems[i] for i in kept]
    return Overlap(chosen, by_id, by_statement)


def write_problem_list(path: str | Path, problems: Iterable[Problem]) -> Path:
    """Write the problems' ids, one per line (a training run's record of what it trained on)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{problem_id}\n" for problem_id in problem_ids(problems)), encoding="utf-8")
    return path
