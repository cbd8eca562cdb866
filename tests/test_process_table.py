"""The /proc reader shared by tests and benchmarks sees a real process tree: parents, zombies, names, CPU time."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys

import pytest

from tests.judge.processes import wait_until
from tests.process_table import ProcessTable, alive, live_children, process_stat, running

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

CHILD = """
import subprocess, sys, time
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
sleeper = subprocess.Popen(["sleep", sys.argv[1]])
print(sleeper.pid, flush=True)
time.sleep(60)  # never reaps the sleeper
"""


def test_the_table_sees_a_tree_its_zombies_names_and_cpu_time() -> None:
    seconds = f"61.{random.randrange(10**12):012d}1"  # a command line no other process holds
    child = subprocess.Popen([sys.executable, "-c", CHILD, seconds], stdout=subprocess.PIPE, text=True)
    try:
        sleeper = int(child.stdout.readline())
        table = ProcessTable.read()
        assert {child.pid, sleeper} <= set(table.descendants()) and sleeper in table.descendants(child.pid)
        assert process_stat(child.pid).parent == os.getpid()
        assert child.pid in live_children(os.getpid()), live_children(os.getpid())
        assert table.stats[sleeper].name == "sleep" and sleeper in table.named("sleep"), table.stats[sleeper]
        assert sorted(running(seconds)) == sorted([child.pid, sleeper])  # both command lines hold it
        assert 0.2 < table.cpu_seconds([child.pid]) == table.stats[child.pid].cpu_seconds < 30, table.stats[child.pid]
        assert table.cpu_seconds([sleeper, -1]) < 0.2  # an unknown pid counts 0
        assert alive(sleeper) and alive(child.pid)
        os.kill(sleeper, signal.SIGKILL)  # its parent never reaps it: a zombie
        assert wait_until(lambda: not alive(sleeper), timeout=10.0)
        table = ProcessTable.read()
        assert sleeper not in table.descendants() and sleeper in table.descendants(zombies=True)
        assert sleeper not in table.named("sleep") and child.pid in table.descendants()
    finally:
        child.kill()
        child.wait()
    with pytest.raises(OSError):
        process_stat(child.pid)
    assert not alive(child.pid)
    assert live_children(child.pid) == []
