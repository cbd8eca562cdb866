"""Arrows point down: the data layer (problems/) imports nothing that runs code, read from the sources."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import codefeedback_env

PACKAGE = Path(codefeedback_env.__file__).parent
FORBIDDEN_IN_DATA = (
    "codefeedback_env.judge",
    "codefeedback_env.preparation",
    "codefeedback_env.envs",
    "codefeedback_env.evaluation",
    "agents",
    "torch",
    "transformers",
)


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at the top or inside functions, relative imports resolved;
    plus string constants naming a `codefeedback_env.` module (imported by name, as the registry does)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("codefeedback_env.")
        ):
            names.add(node.value.split(":")[0])
    return names


def test_the_helper_sees_every_kind_of_import():
    folder = PACKAGE / "problems"
    names = imported_modules(folder / "mbpp.py")
    assert "codefeedback_env.problems.function_tests" in names and "datasets" in names  # top level, in a function
    assert "codefeedback_env.judge.backend" in imported_modules(PACKAGE / "preparation" / "mbpp_plus.py")
    assert "codefeedback_env.problems.demo" in imported_modules(folder / "registry.py")  # by name


@pytest.mark.parametrize("path", sorted((PACKAGE / "problems").glob("*.py")), ids=lambda p: p.name)
def test_problem_loaders_do_not_import_execution(path):
    bad = sorted(name for name in imported_modules(path) if name.startswith(FORBIDDEN_IN_DATA))
    assert not bad, f"{path.name} imports {bad}: data loaders must not run code (prepare data explicitly instead)"


def test_the_judge_uses_records_and_helpers_but_no_loader_or_preparation():
    loaders = tuple(
        f"codefeedback_env.problems.{name}"
        for name in ("registry", "files", "jsonl", "codecontests", "humaneval", "mbpp", "demo")
    )
    for path in sorted((PACKAGE / "judge").rglob("*.py")):
        names = imported_modules(path)
        bad = sorted(n for n in names if n.startswith(("codefeedback_env.preparation", *loaders)))
        assert not bad, f"{path.name} imports {bad}: the judge runs programs, it does not load or prepare data"
