"""The bundled demo set: original stdin/stdout problems from fixed-output tasks to moderate algorithms (the last
five are one-line fixed-output tasks, added for `demo-quick`)."""

from __future__ import annotations

from importlib import resources

from codefeedback_env.problems.jsonl import load_jsonl
from codefeedback_env.problems.records import Problem

QUICK_PROBLEMS = (
    "print-hello", "print-hundred", "print-square", "print-word", "hello-world", "seven-times-six",
    "print-product", "sum-two",
)  # fmt: skip
"""`demo-quick`: fixed-output problems with short statements, which a 135M model solves from always to never,
and one trivial stdin problem (which it does not solve): a first run on a CPU that takes minutes and gives
solve rates a reader can compare, between 0 and 1."""


def load_demo() -> list[Problem]:
    """Load the demo problems shipped inside the package (no network, no extra files)."""
    with resources.as_file(resources.files("codefeedback_env.problems") / "data" / "demo.jsonl") as path:
        return load_jsonl(path, id_prefix="demo/")


def load_demo_quick() -> list[Problem]:
    """The `QUICK_PROBLEMS` of the demo set, in that order."""
    problems = {problem.id: problem for problem in load_demo()}
    return [problems[f"demo/{name}"] for name in QUICK_PROBLEMS]
