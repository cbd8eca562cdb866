"""The bundled demo set: original stdin/stdout problems from fixed-output tasks to moderate algorithms."""

from __future__ import annotations

from importlib import resources

from codefeedback_env.problems.jsonl import load_jsonl
from codefeedback_env.problems.records import Problem


def load_demo() -> list[Problem]:
    """Load the demo problems shipped inside the package (no network, no extra files)."""
    with resources.as_file(resources.files("codefeedback_env.problems") / "data" / "demo.jsonl") as path:
        return load_jsonl(path, id_prefix="demo/")
