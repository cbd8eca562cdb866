"""Starts a pool worker: `python -s -S -P start_worker.py FD` (the protocol and the worker are in `worker.py`).

Every test's child is forked from the worker's memory: the pages the child writes (reference counts of the
objects it touches, the blocks it allocates) are copied on write, and every page the worker holds is copied into
the child's page tables and torn down at its exit. So the worker's memory is kept small and tidy:
- `worker.py` is imported, not run as the script: CPython keeps a script's syntax tree allocated for as long as the
  script runs, which for a worker is its whole life (about 2 MB every fork copied and every exit tore down);
- the modules programs find ready are imported first, and the worker's own modules after them, from the bytecode
  the judge wrote beside them (`namespaces.worker_bytecode`): compiled here, the compiler's freed memory would sit
  between their objects, and what a child runs before its program (`child_runtime`, `isolation`) would spread over
  more pages.
A forked child (or a zygote) returns here, to the module level, before its program runs: no frame of the worker is
left for the program to walk back into.
"""

import gc
import os
import sys

PRELOADED_MODULES = (
    "array", "bisect", "collections", "copy", "decimal", "fractions", "functools", "heapq", "io",
    "itertools", "math", "operator", "re", "string", "typing", "atexit", "traceback", "cmath", "enum",
    "numbers", "struct", "textwrap", "unicodedata", "contextlib", "abc", "keyword",
)  # fmt: skip
"""Imported before the first fork, so programs find them ready. Every module kept here makes every fork
a little dearer (more memory to map and copy on write), so the list holds what contest code imports.
Left out on purpose, and imported by the programs that use them:
- `threading` (and `queue`): a worker that has imported it forks about 3 ms slower;
- `random` (and `statistics`, which imports it): it reseeds itself in every forked child, ~30 page
  copies and ~0.1 ms per fork; a program importing it pays ~2-3 ms, and about 1 in 20 contest solutions do;
- `dataclasses`, `datetime`, `hashlib`, `pprint`: rare in contest code, together ~1.7 MB of heap."""

if __name__ == "__main__":  # only as the worker's script: importing this module (a package walk) starts nothing
    for _name in PRELOADED_MODULES:
        try:
            __import__(_name)
        except ImportError:
            pass
    gc.collect()

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import worker  # noqa: E402

    del sys.path[0], sys.modules["worker"]  # as when it was the script: a program's `import worker` finds its own

    ran = worker.main(sys.argv[1:])
    if isinstance(ran, worker._ZygoteLoop):
        worker._LONG_LIVED.append(made := ran.serve())  # kept: the child never closes the loop (`_ZygoteLoop.serve`)
        ran = next(made)  # in a zygote, which yields only in a test's child
    if ran is not None:
        worker.child_runtime.run(ran)
