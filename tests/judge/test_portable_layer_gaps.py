"""A layer of the portable backend a host cannot give must be reported (`SubprocessBackend.layer_gaps`), never
missing silently.

The run's own IPC and mount namespaces, `/dev/shm`, temporary folders and working folder (`run_mounts`) were
reported from the judge's capabilities alone: a host that refuses mounts to a process with CAP_SYS_ADMIN (a
container's AppArmor profile or seccomp filter, or, as here, a capability bounding set without it, which a child
inherits) had every run go without them (`child_runtime.private_run_mounts` failed in each bootstrap) while
`layer_gaps()["run_mounts"]` said None.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from codefeedback_env.judge import run_uid

pytestmark = pytest.mark.skipif(
    run_uid.namespaces_unavailable() is not None, reason="needs a root judge that gives runs namespaces of their own"
)

CAP_SYS_ADMIN = 21
PR_CAPBSET_DROP = 24


def _run_mounts_gap(before: str) -> str:
    script = (
        f"import ctypes\nlibc = ctypes.CDLL(None)\n{before}"
        "from codefeedback_env.judge.subprocess_backend import SubprocessBackend\n"
        "with SubprocessBackend() as backend:\n    print(backend.layer_gaps()['run_mounts'])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done
    return done.stdout.strip()


def test_a_host_that_gives_the_mounts_reports_no_gap():
    assert _run_mounts_gap("") == "None"


def test_mounts_refused_to_the_judges_children_are_reported():
    gap = _run_mounts_gap(f"assert libc.prctl({PR_CAPBSET_DROP}, {CAP_SYS_ADMIN}, 0, 0, 0) == 0\n")
    assert gap != "None" and "refuses" in gap, gap
