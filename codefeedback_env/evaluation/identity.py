"""What produced a run: the identity recorded in a run folder's `config.json`, and the resume check.

A run folder holds the episodes of one agent, model, sampling setup, turn limit, feedback mode and seed.
Resuming into a folder whose recorded identity differs is refused (`RunIdentityError`, one line naming the
differences), so a folder never mixes episodes of two setups and `results.json` never reports one setup's
episodes under another's name. Only keys recorded on both sides are compared: a folder written before the
identity was recorded (only `max_turns`, `feedback`, `independent`, `seed`) is refused only on those.

Problems are compared by content: every episode record carries its problem's `problem_sha256`, and a
finished episode whose problem changed since (same id, other statement or tests) refuses the resume too.
The package version and git commit are recorded for the reader but never compared (fixing the library
mid-run is allowed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from codefeedback_env.problems import Problem

__all__ = [
    "COMPARED_KEYS",
    "RunIdentityError",
    "agent_identity",
    "check_identity",
    "git_commit",
    "problem_sha256",
    "problems_sha256",
]

COMPARED_KEYS = (
    "agent", "agent_class", "model", "sampling", "max_turns", "feedback", "final_tests", "independent", "seed", "env",
)  # fmt: skip
"""Identity keys that must be equal (when recorded on both sides) for a run folder to be resumed."""


class RunIdentityError(ValueError):
    """A run folder holds episodes of another setup than the one asked to resume it."""


def problem_sha256(problem: Problem) -> str:
    """A content hash of one problem: statement, tests, limits, solutions and metadata.

    Its `incorrect_solutions` are left out: an episode on the problem never runs them (random feedback shows
    them on other problems), and hashes stay those of runs recorded before the field existed.
    """
    fields = dataclasses.asdict(problem)
    del fields["incorrect_solutions"]
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def problems_sha256(digests: Iterable[str]) -> str:
    """A content hash of a selection of problems, in order, from their `problem_sha256` digests."""
    return hashlib.sha256("\n".join(digests).encode("ascii")).hexdigest()


def agent_identity(agent: Any) -> dict[str, Any]:
    """What can be read off an agent object: its class, its model name and its sampling settings."""
    kind = type(agent)
    identity: dict[str, Any] = {"agent_class": f"{kind.__module__}.{kind.__qualname__}"}
    model = getattr(agent, "model", None)
    if isinstance(model, str):
        identity["model"] = model
    elif model is not None:  # a loaded transformers model knows where it came from
        name = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", None)
        if isinstance(name, str) and name:
            identity["model"] = name
    sampling = getattr(agent, "sampling", None)
    if dataclasses.is_dataclass(sampling) and not isinstance(sampling, type):
        identity["sampling"] = dataclasses.asdict(sampling)
    return identity


LONG_SETTING_CHARS = 200
"""A setting whose JSON is longer (the templates' texts) is recorded by its SHA-256."""


def setting_value(value: Any) -> Any:
    """A setting as recorded in `config.json`: plain JSON (a dataclass as its fields), long ones by their SHA-256."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)
    if len(text) > LONG_SETTING_CHARS:
        return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return json.loads(text)


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit checked out where the package lives (with `+dirty` for local changes), or None."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit or None


def _differences(recorded: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    found = []
    for key in COMPARED_KEYS:
        if key not in recorded or key not in wanted:
            continue
        old, new = recorded[key], wanted[key]
        if isinstance(old, Mapping) and isinstance(new, Mapping):  # sampling: keys known on both sides
            for sub in sorted(old.keys() & new.keys()):
                if old[sub] != new[sub]:
                    found.append(f"{key}.{sub}={old[sub]!r} (now {new[sub]!r})")
        elif old != new:
            found.append(f"{key}={old!r} (now {new!r})")
    return found


def check_identity(
    output_dir: Path,
    recorded: Mapping[str, Any] | None,
    wanted: Mapping[str, Any],
    finished: Sequence[Mapping[str, Any]] = (),
    digests: Mapping[str, str] | None = None,
) -> None:
    """Raise `RunIdentityError` if the folder's `recorded` identity or its `finished` episodes' problem
    hashes differ from what this run would produce."""
    differences = _differences(recorded or {}, wanted)
    if digests:
        changed = sorted(
            {
                r["problem_id"]
                for r in finished
                if r.get("problem_sha256") and r["problem_sha256"] != digests.get(r["problem_id"], r["problem_sha256"])
            }
        )
        if changed:
            more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
            differences.append(f"problem {changed[0]!r}{more} changed since (content hash differs)")
    if differences:
        raise RunIdentityError(
            f"{output_dir} holds a run with {'; '.join(differences)}; "
            "use another --output folder, or the same settings to resume it"
        )
