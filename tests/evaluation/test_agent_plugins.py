"""The environment package stands alone: it imports nothing from `agents`, and finds agents as plugins (entry
points of the `codefeedback.agents` group, or a `package.module:Factory` path), built-in ones included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import codefeedback_env
from codefeedback_env.agent_plugins import AgentNotFoundError, AgentSettings, agent_names, find_agent
from codefeedback_env.problems import load_problems
from tests.problems.test_layers import imported_modules

PACKAGE = Path(codefeedback_env.__file__).parent
REPO = PACKAGE.parent
BUILT_IN = {"openai", "random", "reference", "replay", "transformers", "vllm"}

PLUGIN = '''
"""A third-party agent package: answers every problem with its first reference solution, in upper case
comments so its answers are recognisable."""


class ShoutingAgent:
    def __init__(self, problems, seed):
        self.solutions = {p.id: p.solutions[0] for p in problems}
        self.seed = seed

    def act(self, observations, infos):
        return [f"# plugin seed {self.seed}\\n```python\\n{self.solutions[i['problem_id']]}\\n```" for i in infos]


def make_agent(problems, settings):
    return ShoutingAgent(problems, settings.seed)
'''


def test_no_module_of_the_environment_imports_agents_or_torch_in_its_source() -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] in ("agents", "torch")
        )
        for path in sorted(PACKAGE.rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_importing_every_module_of_the_environment_loads_neither_agents_nor_torch() -> None:
    script = textwrap.dedent(
        """
        import importlib, json, pkgutil, sys
        import codefeedback_env
        names = [m.name for m in pkgutil.walk_packages(codefeedback_env.__path__, "codefeedback_env.")]
        for name in names:
            importlib.import_module(name)
        roots = sorted({m.split(".")[0] for m in sys.modules})
        print(json.dumps({"imported": len(names), "roots": roots}))
        """
    )
    env = os.environ | {"PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["imported"] > 40  # every module, not just the package's __init__
    assert "agents" not in report["roots"] and "torch" not in report["roots"]


def test_the_built_in_agents_are_plugins() -> None:
    assert BUILT_IN <= set(agent_names())
    agent = find_agent("reference")(load_problems("demo"), AgentSettings())
    assert type(agent).__module__ == "agents.baselines"


def test_unknown_agents_are_refused_with_what_is_installed() -> None:
    with pytest.raises(AgentNotFoundError, match="no agent named 'refrence'. Did you mean 'reference'?"):
        find_agent("refrence")
    with pytest.raises(AgentNotFoundError, match="no module 'no_such_package.agents' can be imported"):
        find_agent("no_such_package.agents:make")
    with pytest.raises(AgentNotFoundError, match="has no attribute 'nothing'"):
        find_agent("agents.factories:nothing")
    with pytest.raises(AgentNotFoundError, match="is a str, not a factory"):
        find_agent("agents.factories:__doc__")


def write_plugin(site: Path, *, installed: bool) -> None:
    """The package `shouting_agent` in `site`; `installed` adds the dist-info a pip install would write."""
    (site / "shouting_agent").mkdir(parents=True)
    (site / "shouting_agent" / "__init__.py").write_text(PLUGIN)
    if installed:
        info = site / "shouting_agent-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shouting-agent\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text("[codefeedback.agents]\nshouting = shouting_agent:make_agent\n")


@pytest.mark.parametrize(("installed", "name"), [(True, "shouting"), (False, "shouting_agent:make_agent")])
def test_a_third_party_agent_runs_through_codefeedback_eval(tmp_path: Path, installed: bool, name: str) -> None:
    site = tmp_path / "site"
    write_plugin(site, installed=installed)
    pythonpath = os.pathsep.join([str(REPO), str(site), os.environ.get("PYTHONPATH", "")])
    output = tmp_path / "run"
    argv = ["eval", "--agent", name, "--dataset", "demo", "--limit", "2", "--rollouts", "1", "--turns", "1"]
    argv += ["--no-independent", "--quiet", "--seed", "5", "--output", str(output)]
    out = subprocess.run(
        [sys.executable, "-m", "codefeedback_env.cli", *argv],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": pythonpath},
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    records = [json.loads(line) for line in (output / "multi_turn" / "episodes.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["solved"] for r in records)
    assert all(r["turns"][0]["response"].startswith("# plugin seed 5\n") for r in records)
    assert json.loads((output / "multi_turn" / "config.json").read_text())["agent"] == name
