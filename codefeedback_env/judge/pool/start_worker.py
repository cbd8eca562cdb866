"""Starts a pool worker: `python -s -S -P start_worker.py FD` (the protocol and the worker are in `worker.py`).

The worker is imported here rather than run as the script: CPython keeps a script's syntax tree allocated for as
long as the script runs, which for a worker is its whole life, so every fork would copy that memory's page tables
and every child's exit would tear them down again. A forked child (or a zygote) returns here, to the module level,
before its program runs: no frame of the worker is left for the program to walk back into.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import worker  # noqa: E402

del sys.path[0], sys.modules["worker"]  # as when it was the script: a program's `import worker` finds its own

ran = worker.main(sys.argv[1:])
if isinstance(ran, worker._ZygoteLoop):
    worker._LONG_LIVED.append(made := ran.serve())  # kept: the child never closes the loop (`_ZygoteLoop.serve`)
    ran = next(made)  # in a zygote, which yields only in a test's child
if ran is not None:
    worker.child_runtime.run(ran)
