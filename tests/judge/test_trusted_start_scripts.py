"""Trusted processes started with `python -c` never import a module from the judge's working folder.

`python -c` puts the working folder first on the import path: a `json.py` there (a user's own file, or one a
program left in a folder the judge later runs from) would run inside a trusted process (the pool's layout
probe, the problem-store builder, the checker process), before any sandbox exists."""

from __future__ import annotations

import subprocess
import sys

import pytest

from codefeedback_env.judge.pool.namespaces import interpreter_layout

HIJACK = "open({marker!r}, 'w').close()\nraise SystemExit('the working folder reached a trusted process')\n"


def _plant(folder, modules, marker) -> None:
    for module in modules:
        (folder / f"{module}.py").write_text(HIJACK.format(marker=str(marker)))


def test_the_pool_layout_probe_imports_nothing_from_the_working_folder(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    _plant(tmp_path, ["json", "sysconfig"], marker)
    monkeypatch.chdir(tmp_path)
    layout = interpreter_layout.__wrapped__(sys.executable)  # not the cached answer of an earlier call
    assert not marker.exists()
    # Every import folder of a plain isolated interpreter, the first one included (the probe must not drop it).
    folders = subprocess.run(
        [sys.executable, "-I", "-S", "-c", "import sys; print(repr(sys.path))"], capture_output=True, text=True,
        check=True, cwd="/",
    ).stdout  # fmt: skip
    assert layout["path"] == eval(folders)  # noqa: S307 - our own interpreter's repr of a list of str


@pytest.mark.parametrize("module", ["json", "hashlib", "logging"])
def test_the_problem_store_builder_imports_nothing_from_the_working_folder(tmp_path, monkeypatch, module):
    from codefeedback_env.problems.store import problem_store

    marker = tmp_path / "ran"
    work = tmp_path / "work"
    work.mkdir()
    _plant(work, [module], marker)
    monkeypatch.chdir(work)
    store = problem_store("demo", tmp_path / "store")
    assert not marker.exists()
    assert len(store) > 0
