"""Legitimate programs covering what contest code does with the interpreter: the standard-library modules it
imports, threads with a big stack and deep recursion, every common way of reading stdin, large outputs, and
the error paths (MemoryError, RecursionError, exit codes, tracebacks, a closed stdout). The seccomp
allow-list was derived from the system calls these programs (and the datasets' reference solutions) make;
`test_seccomp_allow_list.py` checks that each one gets under the judge the outcome a plain `python3` gives."""

from __future__ import annotations

STDIN = "3\n1 2 3\nhello world\n" + "7 " * 2000 + "\n"

_MODULES = [
    "math", "itertools", "collections", "heapq", "bisect", "functools", "re", "decimal", "fractions", "random",
    "statistics", "string", "sys", "threading", "array", "struct", "json", "datetime", "time", "operator", "copy",
    "typing", "dataclasses", "enum", "io", "os", "queue", "hashlib", "pprint", "cmath", "textwrap", "unicodedata",
    "numbers", "calendar", "base64", "contextlib", "abc", "weakref", "gc", "locale", "platform", "tempfile",
    "shutil", "glob", "pathlib", "subprocess", "multiprocessing", "concurrent.futures", "secrets", "uuid",
    "zlib", "gzip", "pickle", "csv", "sqlite3", "ctypes", "signal", "select", "selectors", "socket",
    "traceback", "warnings", "inspect", "ast", "dis", "difflib", "bz2", "lzma", "resource", "mmap", "asyncio",
]  # fmt: skip

PROGRAMS: dict[str, str] = {
    "imports": f"import importlib\nfor name in {_MODULES!r}:\n    try:\n        importlib.import_module(name)\n"
    "    except ImportError as e:\n        print('missing', name)\nprint('ok')\n",
    "numpy": "try:\n    import numpy\n    print(numpy.arange(5).sum())\nexcept ImportError:\n    print('no numpy')\n",
    "math_mix": (
        "import math, itertools, collections, heapq, bisect, functools, fractions, decimal, statistics, string\n"
        "import operator, copy, typing, enum, array, struct, json, re\n"
        "h = [5, 1, 3]\nheapq.heapify(h)\nprint(heapq.heappop(h), bisect.bisect([1, 2, 3], 2))\n"
        "print(math.gcd(12, 18), math.isqrt(99), math.comb(10, 3), fractions.Fraction(1, 3) + 1)\n"
        "decimal.getcontext().prec = 50\nprint(decimal.Decimal(1) / decimal.Decimal(7))\n"
        "print(statistics.mean([1, 2, 3, 4]), statistics.median([3, 1, 2]), string.ascii_lowercase[:3])\n"
        "print(list(itertools.permutations(range(3)))[-1], collections.Counter('abca').most_common(1))\n"
        "print(functools.reduce(operator.mul, range(1, 10)), copy.deepcopy({'a': [1]}), re.findall(r'\\d+', 'a12b3'))\n"
        "print(array.array('i', [1, 2]).tobytes().hex(), struct.pack('<i', 7).hex(), json.dumps({'x': [1, 2]}))\n"
        "class C(enum.Enum):\n    A = 1\nprint(C.A, typing.List[int])\n"
    ),
    "random_time": (
        "import random, time, datetime, dataclasses, secrets\nrandom.seed(1)\nprint(random.randint(1, 100))\n"
        "random.seed()\nr = random.random()\nprint(0 <= r < 1, secrets.randbelow(10) < 10)\n"
        "t = time.time(); m = time.perf_counter(); time.sleep(0.01); print(time.perf_counter() > m)\n"
        "print(datetime.date(2020, 1, 1).isoweekday(), datetime.datetime.now().year > 2000, time.process_time() >= 0)\n"
        "print(time.localtime().tm_year > 2000, time.strftime('%Y', time.gmtime(0)))\n"
        "@dataclasses.dataclass\nclass P:\n    x: int\nprint(P(1))\n"
    ),
    "thread_deep_recursion": (
        "import sys, threading\nsys.setrecursionlimit(1 << 20)\nthreading.stack_size(1 << 27)\n"
        "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
        "def main():\n    print(depth(200000))\n"
        "t = threading.Thread(target=main)\nt.start()\nt.join()\n"
    ),
    "threads_and_locks": (
        "import threading, queue, concurrent.futures\nq = queue.Queue()\nlock = threading.Lock()\ntotal = [0]\n"
        "def work(i):\n    with lock:\n        total[0] += i\n    q.put(i)\n"
        "ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]\n"
        "[t.start() for t in ts]\n[t.join() for t in ts]\nprint(total[0], q.qsize())\n"
        "ev = threading.Event()\nprint(ev.wait(0.01))\n"
        "with concurrent.futures.ThreadPoolExecutor(2) as ex:\n    print(sum(ex.map(lambda x: x * x, range(10))))\n"
    ),
    "read_input": "n = int(input())\nxs = list(map(int, input().split()))\nprint(n, sum(xs), input())\n",
    "read_sys_stdin": "import sys\nlines = sys.stdin.readlines()\nprint(len(lines), lines[0].strip())\n",
    "read_buffer": "import sys\ndata = sys.stdin.buffer.read().split()\nprint(len(data), data[0])\n",
    "read_readline": "import sys\ninput = sys.stdin.readline\nprint(int(input()), input().split())\n",
    "read_os": "import os, io\ndata = os.read(0, 1 << 20)\nprint(len(data))\n",
    "read_bytesio": (
        "import io, os\ninput = io.BytesIO(os.read(0, os.fstat(0).st_size)).readline\nprint(int(input()))\n"
    ),
    "read_iter": "import sys\nprint(sum(1 for _ in sys.stdin))\n",
    "read_fileinput": "import fileinput\nprint(sum(1 for _ in fileinput.input()))\n",
    "read_open0": "print(len(open(0).read().split()))\n",
    "read_mmap": "import mmap, os\nst = os.fstat(0)\nprint(st.st_size >= 0)\n",
    "large_output": "import sys\nsys.stdout.write('\\n'.join(map(str, range(300000))) + '\\n')\n",
    "large_output_print": "for i in range(100000):\n    print(i, i * i)\n",
    "output_os_write": "import os\nos.write(1, b'x' * 100000 + b'\\n')\n",
    "fast_output_atexit": (
        "import sys, io, atexit\nbuf = io.StringIO()\nsys.stdout = buf\n"
        "atexit.register(lambda: sys.__stdout__.write(buf.getvalue()))\nprint('buffered', 42)\n"
    ),
    "stderr_and_exit_0": "import sys\nprint('out')\nprint('err', file=sys.stderr)\n",
    "exit_code_3": "import sys\nprint('partial')\nsys.exit(3)\n",
    "exit_message": "import sys\nsys.exit('bad input')\n",
    "os_exit": "import os, sys\nsys.stdout.write('lost?')\nos._exit(5)\n",
    "uncaught": "def f():\n    raise ValueError('boom')\nprint('before')\nf()\n",
    "recursion_error": "import sys\ndef f(n):\n    return f(n + 1)\nf(0)\n",
    "recursion_caught": "def f(n):\n    return f(n + 1)\ntry:\n    f(0)\nexcept RecursionError:\n    print('caught')\n",
    "memory_error": "try:\n    x = bytearray(1 << 40)\nexcept MemoryError:\n    print('memory error')\n",
    "memory_error_uncaught": "x = [0] * (1 << 36)\n",
    "big_allocation": "x = [i for i in range(3_000_000)]\nprint(len(x), sum(x) % 7)\n",
    "syntax_error": "print('x'\n",
    "keyboard_interrupt": "raise KeyboardInterrupt\n",
    "closed_stdout_flush": (
        "import sys, os\nprint('hi')\nsys.stdout.flush()\nos.close(1)\nprint('more')\nsys.stdout.flush()\n"
    ),
    "stdout_closed_by_python": "import sys\nprint('hi')\nsys.stdout.close()\n",
    "time_limit": "while True:\n    pass\n",
    "sleep_limit": "import time\ntime.sleep(30)\n",
    "files_in_cwd": (
        "import os, tempfile\nopen('f.txt', 'w').write('abc')\nprint(open('f.txt').read(), os.listdir('.'))\n"
        "os.remove('f.txt')\nprint(os.getcwd() != '', os.path.exists('f.txt'))\n"
    ),
    "tempfile_module": "import tempfile\ntry:\n    with tempfile.TemporaryFile() as f:\n        f.write(b'x')\n"
    "    print('tmp ok')\nexcept OSError as e:\n    print('tmp', type(e).__name__)\n",
    "environment": "import os, sys, platform\nprint(sys.version_info >= (3, 8), os.cpu_count() is not None)\n"
    "print(type(os.getpid()), sys.getrecursionlimit(), platform.system())\n",
    "resource_limits": "import resource\nprint(resource.getrlimit(resource.RLIMIT_STACK)[0] != 0)\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0)\n",
    "gc_and_hash": "import gc, hashlib, zlib, base64, pickle\ngc.collect()\ngc.disable()\n"
    "print(hashlib.sha256(b'a').hexdigest()[:8], zlib.crc32(b'a'), base64.b64encode(b'ab'), len(pickle.dumps([1])))\n",
    "sort_big": (
        "import random\nrandom.seed(5)\nxs = [random.random() for _ in range(500000)]\nxs.sort()\n"
        "print(xs[0] < xs[-1])\n"
    ),
    "lru_cache_dp": "import functools, sys\nsys.setrecursionlimit(10000)\n"
    "@functools.lru_cache(None)\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
    "print(fib(3000) % 1000)\n",
    "signal_alarm": (
        "import signal\ntry:\n    signal.alarm(0)\n    print('alarm ok')\nexcept OSError as e:\n"
        "    print('alarm', e.errno)\n"
    ),
    "signal_handler_alarm": (
        "import signal, time\nfired = []\nsignal.signal(signal.SIGALRM, lambda *a: fired.append(1))\n"
        "signal.setitimer(signal.ITIMER_REAL, 0.05)\ntime.sleep(0.3)\nprint(fired)\n"
    ),
}
"""name -> program. Every program reads `STDIN` (or ignores it)."""
