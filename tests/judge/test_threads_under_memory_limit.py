"""Legitimate programs with several threads get `python3 program.py`'s verdict under a memory limit (issue 10,
class 8: plain-interpreter fidelity).

The memory limit is an address-space limit. glibc gave each thread that allocates an arena of its own,
reserving 64 MB of address space the program never uses: under a 256 MB limit the fifth allocating thread
could not start (`RuntimeError: can't start new thread`), so a `concurrent.futures` pool of 16 threads, or
eight workers building lists at once, were runtime errors where `python3` prints the answer. Each program here
prints its answer under a plain interpreter, and must do so on both backends.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from codefeedback_env.judge import Limits

LIMITS = Limits(time=10.0, memory=256 << 20, output=1 << 20)

PROGRAMS = {  # name -> (program, its output)
    "thread_pool_executor": (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "with ThreadPoolExecutor(16) as pool:\n    print(sum(pool.map(lambda x: x * x, range(1000))))\n",
        "332833500\n",
    ),
    "workers_allocating_at_once": (
        "import threading\nbarrier = threading.Barrier(8)\nsizes = [0] * 8\n"
        "def work(i):\n    rows = [list(range(100)) for _ in range(200)]\n    barrier.wait()\n"
        "    sizes[i] = sum(map(len, rows))\n"
        "threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]\n"
        "for t in threads:\n    t.start()\nfor t in threads:\n    t.join()\nprint(sum(sizes))\n",
        "160000\n",
    ),
    "queue_consumers": (
        "import queue, threading\njobs, results = queue.Queue(), queue.Queue()\n"
        "def consume():\n    while (item := jobs.get()) is not None:\n        results.put(str(item) * 50)\n"
        "threads = [threading.Thread(target=consume) for _ in range(10)]\nfor t in threads:\n    t.start()\n"
        "for i in range(2000):\n    jobs.put(i)\nfor _ in threads:\n    jobs.put(None)\n"
        "for t in threads:\n    t.join()\n"
        "print(results.qsize())\n",
        "2000\n",
    ),
    "recursion_thread_beside_workers": (
        "import sys, threading\nsys.setrecursionlimit(10**6)\nthreading.stack_size(2**26)\n"
        "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\nout = []\n"
        "helpers = [threading.Thread(target=lambda: out.append(len([0] * 10**5))) for _ in range(4)]\n"
        "for t in helpers:\n    t.start()\nmain = threading.Thread(target=lambda: out.append(depth(10**5)))\n"
        "main.start()\nmain.join()\nfor t in helpers:\n    t.join()\nprint(sum(out))\n",
        "500000\n",
    ),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_a_threaded_program_gets_the_plain_interpreters_output(each_backend, name, tmp_path):
    program, expected = PROGRAMS[name]
    path = tmp_path / "solution.py"
    path.write_text(program)
    plain = subprocess.run([sys.executable, "-I", "-S", str(path)], capture_output=True, timeout=60)
    assert (plain.returncode, plain.stdout.decode()) == (0, expected), plain.stderr  # the program is legitimate
    outcome = each_backend.run_stdio(program, "", LIMITS)
    assert (outcome.exit_code, outcome.stdout.decode()) == (0, expected), outcome.stderr.decode()[-600:]
