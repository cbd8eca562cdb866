"""A run must not change the resource limits of its worker or zygote (issue 10: a program must not change the
trusted side, nor what later runs get).

`prlimit` sets another process's limits when the caller has its uid. Without the uid layer (a rootless pool, or
`PoolOptions(separate_uids=False)`) a child keeps its worker's uid, and a program set its worker's CPU limit to one
second: every later run on that worker was killed after a second of CPU (a legitimate program's `time_limit`),
and the worker itself soon after. The seccomp filter now allows `prlimit64` on the caller itself only (pid 0, as
`resource.getrlimit` and `resource.setrlimit` make it); any other pid is refused with EPERM. With the uid layer the
kernel refused it already (the worker is root, the child is not): the same programs are checked there too.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from codefeedback_env.judge import Limits
from codefeedback_env.judge.pool import PoolOptions, WorkerPoolBackend

LIMITS = Limits(time=4.0, memory=256 << 20, output=1 << 20)
CHANGERS = {
    "parent_cpu": "resource.prlimit(os.getppid(), resource.RLIMIT_CPU, (1, 1))",
    "pid_1_open_files": "resource.prlimit(1, resource.RLIMIT_NOFILE, (3, 3))",
    "pid_2_address_space": "resource.prlimit(2, resource.RLIMIT_AS, (1 << 20, 1 << 20))",
    "parent_read_only": "print(resource.prlimit(os.getppid(), resource.RLIMIT_CPU))",
}
CHANGER = "import os, resource\ntry:\n    {call}\nexcept PermissionError:\n    print('refused')\n"
LEGITIMATE = (
    "import resource, time\n"
    "soft, hard = resource.getrlimit(resource.RLIMIT_STACK)\n"
    "resource.setrlimit(resource.RLIMIT_STACK, (soft, hard))\n"
    "print(resource.prlimit(0, resource.RLIMIT_NOFILE) == resource.getrlimit(resource.RLIMIT_NOFILE))\n"
    "start = time.process_time()\nwhile time.process_time() - start < 1.5:\n    pass\nprint('done')\n"
)


@pytest.fixture(scope="module", params=["uid_layer", "same_uid"])
def pool(request):
    options = PoolOptions(separate_uids=request.param == "uid_layer")
    with WorkerPoolBackend(1, options=options) as made:
        yield made


@pytest.mark.parametrize("name", sorted(CHANGERS))
def test_a_run_cannot_change_the_limits_of_its_worker(pool, name):
    """Each attempt is refused, and the next runs on that worker still get their whole CPU limit."""
    program = CHANGER.format(call=CHANGERS[name])
    with ThreadPoolExecutor(2) as callers:  # queued in a row: a zygote (pid 2) makes some of their children
        outcomes = list(callers.map(lambda _: pool.run_stdio(program, "", LIMITS), range(4)))
    for outcome in outcomes:
        assert outcome.stdout == b"refused\n", outcome
    later = pool.run_stdio(LEGITIMATE, "", LIMITS)
    assert (later.exit_code, later.stdout) == (0, b"True\ndone\n"), later
