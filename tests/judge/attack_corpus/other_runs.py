"""Classes 3 to 5 of issue 10: other programs' text, state between runs, memory outside the limit."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace

from tests.judge.attack_corpus.records import OPEN, THREE, Attack, Harm, Tags, Target, probe_programs, secret_target

# -- 3. other programs' text ------------------------------------------------------------------------------

_MARK = "cfsecret:"
_PICK = f"""
import hashlib
from dataclasses import replace
from collections.abc import Callable
WANT = {{want!r}}
PREFIX = {_MARK[:4]!r} + {_MARK[4:]!r}
answer = 'not found'
def pick(text):
    global answer
    start = text.find(PREFIX)
    while start >= 0:
        candidate = text[start + len(PREFIX):start + len(PREFIX) + 8]
        if hashlib.sha256(candidate.encode('latin-1')).hexdigest() == WANT:
            answer = candidate
            return True
        start = text.find(PREFIX, start + 1)
    return False
"""
_FRAMES = """
import sys, types
seen = set()
def visit(obj, depth):
    if depth > 7 or id(obj) in seen or answer != 'not found':
        return
    seen.add(id(obj))
    if isinstance(obj, str):
        pick(obj)
    elif isinstance(obj, (bytes, bytearray)):
        pick(bytes(obj).decode('latin-1'))
    elif isinstance(obj, dict):
        for key, value in list(obj.items())[:100000]:
            visit(key, depth + 1)
            visit(value, depth + 1)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for value in list(obj)[:100000]:
            visit(value, depth + 1)
    elif isinstance(obj, types.CodeType):
        visit(obj.co_consts, depth + 1)
    elif isinstance(obj, types.FunctionType):
        visit(obj.__code__, depth + 1)
        visit(obj.__globals__, depth + 1)
    elif hasattr(obj, '__dict__') and not isinstance(obj, type):
        try:
            visit(vars(obj), depth + 1)
        except TypeError:
            pass
frame = sys._getframe()
while frame is not None:
    visit(frame.f_locals, 0)
    visit(frame.f_globals, 0)
    frame = frame.f_back
"""
_GC = """
import gc, types
gc.unfreeze()
for obj in gc.get_objects():
    if answer != 'not found':
        break
    if isinstance(obj, dict):
        items = list(obj.keys()) + list(obj.values())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = list(obj)
    elif isinstance(obj, types.FunctionType):
        items = list(obj.__code__.co_consts)
    else:
        continue
    for item in items:
        if isinstance(item, str):
            if pick(item):
                break
        elif isinstance(item, types.CodeType):
            if any(isinstance(c, str) and pick(c) for c in item.co_consts):
                break
"""
_HEAP = """
import os, re
scanned = 0
try:
    with open('/proc/self/maps') as maps:
        regions = [line.split() for line in maps]
    memory = os.open('/proc/self/mem', os.O_RDONLY)
except OSError:
    regions, memory = [], None
for fields in regions:
    if answer != 'not found' or scanned > (1 << 30):
        break
    if not fields[1].startswith('r') or (len(fields) > 5 and fields[5] in ('[vvar]', '[vsyscall]', '[vvar_vclock]')):
        continue
    start, end = (int(x, 16) for x in fields[0].split('-'))
    for offset in range(start, end, 1 << 22):
        try:
            chunk = os.pread(memory, min(1 << 22, end - offset) + 32, offset)
        except OSError:
            try:
                chunk = os.pread(memory, min(1 << 22, end - offset), offset)
            except OSError:
                break
        scanned += len(chunk)
        if PREFIX.encode() in chunk and pick(chunk.decode('latin-1')):
            break
"""


_SIBLINGS = """
import os, stat, time
deadline = time.monotonic() + 3
def read(path):
    try:
        if stat.S_ISREG(os.stat(path).st_mode):  # files and memfds; never a pipe another run reads from
            with open(path, 'rb') as handle:
                pick(handle.read(1 << 20).decode('latin-1'))
    except OSError:
        pass
def walk(folder, depth):
    try:
        names = os.listdir(folder)[:300]
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            if depth < 2:
                walk(path, depth + 1)
        else:
            read(path)
walk('../..', 0)  # the judge's folder of runs: ours, and the one beside it
for pid in os.listdir('/proc'):
    if answer != 'not found' or time.monotonic() > deadline:
        break
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as handle:
                if b'python' not in handle.read():
                    continue
            fds = os.listdir(f'/proc/{pid}/fd')
        except OSError:
            continue
        walk(f'/proc/{pid}/cwd', 2)
        for fd in fds:
            read(f'/proc/{pid}/fd/{fd}')
"""
"""Another program judged at the same time: its scratch folder beside ours, its cwd, files and memfds."""
_RUNNING = "PLANTED = {planted!r}\nimport time\ntime.sleep(3)\n"


def other_programs(secret: Callable[[], str]) -> list[Attack]:
    entries = []
    for name, search in (("source_in_frames", _FRAMES), ("source_in_gc", _GC), ("source_in_heap", _HEAP)):
        value = secret()
        planted = f"PLANTED = {_MARK + value!r}\nprint(0)\n"
        snippet = _PICK.format(want=hashlib.sha256(value.encode()).hexdigest()) + search
        stdio, function = probe_programs(snippet)
        stdio_target, function_target = secret_target(value)
        entries.append(Attack(name, "other_programs", stdio, stdio_target, Harm.LEAK, plant=planted))
        function_plant = f"PLANTED = {_MARK + value!r}\ndef solve():\n    return PLANTED\n"
        entries.append(
            Attack(f"fn_{name}", "other_programs", function, function_target, Harm.LEAK, plant=function_plant)
        )
    value = secret()
    snippet = _PICK.format(want=hashlib.sha256(value.encode()).hexdigest()) + _SIBLINGS
    stdio, function = probe_programs(snippet)
    stdio_target, function_target = (replace(t, time_limit=5.0) for t in secret_target(value))
    running = _RUNNING.format(planted=_MARK + value)
    for name, program, target, plant in (
        ("running_program_beside", stdio, stdio_target, running + "print(0)\n"),
        ("fn_running_program_beside", function, function_target, running + "def solve():\n    return 0\n"),
    ):
        entries.append(Attack(name, "other_programs", program, target, Harm.LEAK, plant=plant, concurrent=True))
    value = secret()
    stdio, function = probe_programs(_LOCK_READ)
    stdio_target, function_target = (replace(t, time_limit=5.0) for t in secret_target(value))
    planted = OPEN + _LOCK_PLANT.format(secret=value)
    for name, program, target, plant in (
        ("record_locks_beside", stdio, stdio_target, planted + "print(0)\n"),
        ("fn_record_locks_beside", function, function_target, planted + "def solve():\n    return 0\n"),
    ):
        entries.append(Attack(name, "other_programs", program, target, Harm.LEAK, plant=plant, concurrent=True))
    value = secret()
    stdio, function = probe_programs(_FUTEX_READ)
    stdio_target, function_target = (replace(t, time_limit=5.0) for t in secret_target(value))
    planted = OPEN + _FUTEX_PLANT.format(secret=value)
    for name, program, target, plant in (
        ("shared_futex_beside", stdio, stdio_target, planted + "print(0)\n"),
        ("fn_shared_futex_beside", function, function_target, planted + "def solve():\n    return 0\n"),
    ):
        entries.append(Attack(name, "other_programs", program, target, Harm.LEAK, plant=plant, concurrent=True))
    return entries


SYSTEM_CALL_NUMBERS = {
    "x86_64": {"futex": 202, "add_key": 248, "keyctl": 250},
    "aarch64": {"futex": 98, "add_key": 217, "keyctl": 219},
    "riscv64": {"futex": 98, "add_key": 217, "keyctl": 219},
    "ppc64le": {"futex": 221, "add_key": 269, "keyctl": 271},
    "s390x": {"futex": 238, "add_key": 278, "keyctl": 280},
}
"""Numbers of the raw system calls the attacks make, by `platform.machine()` (they differ between architectures;
the generic ones, clone3 among them, do not)."""
_NUMBERS = (  # without braces: some programs built from it go through str.format
    "import platform\nNUMBER = dict("
    + ", ".join(
        f"{machine}=dict({', '.join(f'{name}={number}' for name, number in numbers.items())})"
        for machine, numbers in SYSTEM_CALL_NUMBERS.items()
    )
    + ").get(platform.machine(), dict())\n"
)

_FUTEX = (
    _NUMBERS
    + """
import ctypes, threading, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
BASE = (ctypes.cast(libc.printf, ctypes.c_void_p).value & ~0xFFF) + 512
def futex(address, operation, value, count=0, other=0):
    number = ctypes.c_long(NUMBER.get("futex", -1))
    return libc.syscall(number, ctypes.c_void_p(address), ctypes.c_int(operation), ctypes.c_uint32(value),
                        ctypes.c_void_p(count), ctypes.c_void_p(other), 0)
def waiters(i):
    return max(0, futex(BASE + 4 * i, 3, 0, 1 << 30, BASE + 4 * i))
"""
)
_FUTEX_PLANT = (
    _FUTEX + "threading.stack_size(1 << 16)\n"
    "def wait(i):\n    futex(BASE + 4 * i, 0, ctypes.c_uint32.from_address(BASE + 4 * i).value)\n"
    "for i, bit in enumerate('1' + format(int({secret!r}, 16), '032b')):\n    if bit == '1':\n"
    "        threading.Thread(target=wait, args=(i,), daemon=True).start()\n"
    "time.sleep(3)\n"
)
_FUTEX_READ = (
    _FUTEX + "end = time.monotonic() + 3\nwhile not waiters(0) and time.monotonic() < end:\n    time.sleep(0.01)\n"
    "answer = format(sum(1 << (32 - i) for i in range(1, 33) if waiters(i)), '08x') if waiters(0) else 'none'\n"
)
"""A program judged at the same time waits in threads on futex words of the C library's code (a shared operation
names its word by the file page, which every process maps); this one counts each word's waiters (FUTEX_REQUEUE
onto the same word wakes none)."""


_LOCKS = """
import fcntl, os, struct, time
_fd = os.open(os.__file__, os.O_RDONLY)
def lock(command, kind, start):
    return fcntl.fcntl(_fd, command, struct.pack('hhqqi', kind, 0, start, 1, 0))
def held(start):
    try:
        return struct.unpack('hhqqi', lock(fcntl.F_GETLK, fcntl.F_WRLCK, start))[0] != fcntl.F_UNLCK
    except OSError:
        return False
"""
_LOCK_PLANT = (
    _LOCKS + "for i, bit in enumerate('1' + format(int({secret!r}, 16), '032b')):\n    if bit == '1':\n        try:\n"
    "            lock(fcntl.F_SETLK, fcntl.F_RDLCK, 5000 + i)\n        except OSError:\n            pass\n"
    "time.sleep(3)\n"
)
_LOCK_READ = (
    _LOCKS + "end = time.monotonic() + 3\nwhile not held(5000) and time.monotonic() < end:\n    time.sleep(0.01)\n"
    "answer = format(sum(1 << (32 - i) for i in range(1, 33) if held(5000 + i)), '08x') if held(5000) else 'none'\n"
)
"""A program judged at the same time on another worker takes read locks on byte ranges of an interpreter file (a
lock is the file's, shared by the host; a read lock needs only read access); this one tests them with F_GETLK."""


# -- 4. state between runs --------------------------------------------------------------------------------

_LIBC = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
libc.shmdt.argtypes = (ctypes.c_void_p,)
BAD = ctypes.c_void_p(-1).value
"""
_PAGE_FILES = """
import glob, os
_LIBRARY = os.path.dirname(os.__file__)
FILES = sorted(glob.glob(_LIBRARY + '/encodings/cp*.py'))
FILES = FILES[:32]
"""
_STATE = {
    "sysv_shm": (
        "addr = libc.shmat(libc.shmget({key}, 4096, 0o1666), None, 0)\n"
        "if addr not in (None, BAD):\n    ctypes.memmove(addr, {secret!r}.encode(), 8)\n    libc.shmdt(addr)\n",
        "answer = 'none'\nsid = libc.shmget({key}, 0, 0)\naddr = libc.shmat(sid, None, 0) if sid >= 0 else BAD\n"
        "if addr not in (None, BAD):\n    answer = ctypes.string_at(addr, 8).decode('latin-1')\n",
    ),
    "sysv_msg": (
        "class Message(ctypes.Structure):\n    _fields_ = [('kind', ctypes.c_long), ('text', ctypes.c_char * 8)]\n"
        "libc.msgsnd(libc.msgget({key}, 0o1666), ctypes.byref(Message(1, {secret!r}.encode())), 8, 0o4000)\n",
        "class Message(ctypes.Structure):\n    _fields_ = [('kind', ctypes.c_long), ('text', ctypes.c_char * 8)]\n"
        "answer = 'none'\nqid = libc.msgget({key}, 0)\nmessage = Message()\n"
        "if qid >= 0 and libc.msgrcv(qid, ctypes.byref(message), 8, 0, 0o4000) == 8:\n"
        "    answer = message.text.decode('latin-1')\n",
    ),
    "sysv_sem": (
        "sid = libc.semget({key}, 8, 0o1666)\n"
        "for i, digit in enumerate({secret!r}):\n    libc.semctl(sid, i, 16, int(digit, 16))\n",
        "answer = 'none'\nsid = libc.semget({key}, 0, 0)\n"
        "if sid >= 0:\n    answer = ''.join(format(max(0, libc.semctl(sid, i, 12)) % 16, 'x') for i in range(8))\n",
    ),
    "posix_mq": (
        "libc.mq_open.argtypes = (ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p)\n"
        "mq = libc.mq_open({mq_name!r}.encode(), 0o102, 0o666, None)\n"
        "if mq >= 0:\n    libc.mq_send(mq, {secret!r}.encode(), 8, 0)\n",
        "answer = 'none'\nlibc.mq_open.argtypes = (ctypes.c_char_p, ctypes.c_int)\n"
        "mq = libc.mq_open({mq_name!r}.encode(), 0o4000)\nbuffer = ctypes.create_string_buffer(1 << 16)\n"
        "if mq >= 0 and libc.mq_receive(mq, buffer, 1 << 16, None) == 8:\n"
        "    answer = buffer.raw[:8].decode('latin-1')\n",
    ),
    "scratch_xattr": (
        "import os\ntry:\n    os.setxattr('.', 'user.cf', {secret!r}.encode())\nexcept OSError:\n    pass\n",
        "import os\ntry:\n    answer = os.getxattr('.', 'user.cf').decode()\nexcept OSError:\n    answer = 'none'\n",
    ),
    "scratch_mtime": (
        "import os\ntry:\n    os.utime('.', (int({secret!r}, 16), int({secret!r}, 16)))\nexcept OSError:\n    pass\n",
        "import os\nanswer = format(int(os.stat('.').st_mtime), '08x')\n",
    ),
    "kernel_keyring": (
        _NUMBERS + "libc.syscall.restype = ctypes.c_long\nlong = ctypes.c_long\n"
        "libc.syscall(long(NUMBER.get('add_key', -1)), b'user', {keyring!r}.encode(), {secret!r}.encode(), long(8),"
        " long(-4))\n",
        _NUMBERS + "libc.syscall.restype = ctypes.c_long\nlong = ctypes.c_long\nanswer = 'none'\n"
        "keyctl = long(NUMBER.get('keyctl', -1))\n"
        "key = libc.syscall(keyctl, long(10), long(-4), b'user', {keyring!r}.encode(), long(0))\n"
        "buffer = ctypes.create_string_buffer(64)\n"
        "if key > 0 and libc.syscall(keyctl, long(11), long(key), buffer, long(64)) == 8:\n"
        "    answer = buffer.raw[:8].decode('latin-1')\n",
    ),
    "module_in_interpreter_folders": (
        "import os, sys\nfor folder in [os.path.dirname(os.__file__)] + [p for p in sys.path if 'python3' in p]:\n"
        "    try:\n        with open(os.path.join(folder, {module!r} + '.py'), 'w') as handle:\n"
        "            handle.write('SECRET = ' + repr({secret!r}) + chr(10))\n        break\n"
        "    except OSError:\n        continue\n",
        "import importlib, os, sys\nanswer = 'none'\nsys.path.append(os.path.dirname(os.__file__))\n"
        "try:\n    answer = importlib.import_module({module!r}).SECRET\nexcept Exception:\n    pass\n",
    ),
    "files": (
        "import os\nfor path in ('cfstate', {tmp!r}, {vartmp!r}, {shm!r}, os.path.expanduser({home!r})):\n"
        "    try:\n        open(path, 'w').write({secret!r})\n    except OSError:\n        pass\n",
        "import os\nanswer = 'none'\n"
        "for path in ('cfstate', {tmp!r}, {vartmp!r}, {shm!r}, os.path.expanduser({home!r})):\n"
        "    try:\n        answer = open(path).read()\n        break\n    except OSError:\n        pass\n",
    ),
    "page_cache": (
        _PAGE_FILES + "import os\nfor path, bit in zip(FILES, format(int({secret!r}, 16), '032b')):\n"
        "    fd = os.open(path, os.O_RDONLY)\n    os.read(fd, 1 << 20)\n"
        "    if bit == '0':\n        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)\n    os.close(fd)\n",
        _PAGE_FILES + "import os, time\nbits = ''\nfor path in FILES:\n    fd = os.open(path, os.O_RDONLY)\n"
        "    start = time.perf_counter_ns()\n    os.pread(fd, 4096, 0)\n"
        "    bits += '1' if time.perf_counter_ns() - start < 25000 else '0'\n    os.close(fd)\n"
        "answer = format(int(bits, 2), '08x') if len(bits) == 32 else 'none'\n",
    ),
    "forking_process_memory": (
        "import os, string, sys\nwhere = id(string.hexdigits) + sys.getsizeof('') - 1\n"
        "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n    try:\n"
        "        with open(f'/proc/{{pid}}/mem', 'r+b', buffering=0) as memory:\n"
        "            memory.seek(where)\n            memory.write({secret!r}.encode())\n"
        "    except OSError:\n        pass\n",
        "import string\nanswer = string.hexdigits[:8]\n",
    ),
}
"""(plant, read) per channel; `page_cache` caches 32 of the interpreter's files and drops those of its 0 bits
from the host's page cache, and the reader times a read of each (a miss takes tens of microseconds or more);
`forking_process_memory` writes into the memory of the process that forked it
(the worker, or the zygote of its program) through /proc/PID/mem, at the address a preloaded string has in
every fork; the user keyring (add_key, keyctl search and read) outlives a uid's processes."""


_HOST_UNSAFE_STATE = {"forking_process_memory"}
"""Where nothing contains it, this one writes into the memory of the grader's own process (a forking harness)."""


def state_between_runs(tags: Tags, secret: Callable[[], str]) -> list[Attack]:
    entries = []
    for number, (name, (plant, read)) in enumerate(_STATE.items()):
        value = secret()
        values = {
            "key": tags.sysv_key_base + number,
            "secret": value,
            "mq_name": tags.mq_name,
            "tmp": f"/tmp/cf{tags.run}state",
            "vartmp": f"/var/tmp/cf{tags.run}state",
            "keyring": tags.key_description,
            "shm": f"/dev/shm/cf{tags.run}state",
            "home": f"~/cf{tags.run}state",
            "module": tags.module_name,
        }
        prefix = _LIBC if "libc" in plant else ""
        planted = OPEN + prefix + plant.format(**values)
        reader = prefix + read.format(**values)
        stdio, function = probe_programs(reader)
        stdio_target, function_target = secret_target(value)
        unsafe = name in _HOST_UNSAFE_STATE
        entries.append(
            Attack(
                name, "state_between_runs", stdio, stdio_target, Harm.LEAK, plant=planted + "print(0)\n",
                host_unsafe=unsafe,
            )
        )  # fmt: skip
        entries.append(
            Attack(
                f"fn_{name}",
                "state_between_runs",
                function,
                function_target,
                Harm.LEAK,
                plant=planted + "def solve():\n    return 0\n",
                host_unsafe=unsafe,
            )
        )
    locked = "import os\ntry:\n    os.chmod('.', 0)\nexcept OSError:\n    pass\nprint(0)\n"
    writer = "open('notes.txt', 'w').write('x')\nprint(3)\n"
    entries.append(
        Attack("scratch_mode_breaks_next_run", "state_between_runs", writer, THREE, Harm.FALSE_FAIL, plant=locked)
    )
    for name, (plant, read, value) in _narrow_state(secret).items():
        stdio, function = probe_programs(read)
        stdio_target, function_target = secret_target(value)
        entries.append(Attack(name, "state_between_runs", stdio, stdio_target, Harm.LEAK, plant=plant + "print(0)\n"))
        function_plant = plant + "def solve():\n    return 0\n"
        entries.append(
            Attack(f"fn_{name}", "state_between_runs", function, function_target, Harm.LEAK, plant=function_plant)
        )
    return entries


_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
_PERMUTATION = """
import itertools, os, time
DEVICES = {devices!r}
ORDERS = list(itertools.permutations(range(len(DEVICES))))
"""


_VIRTUAL_TIME = r"""
import re, threading, time
def virtual_time():
    text = open('/proc/thread-self/sched').read()
    return float(re.search(r'se.vruntime\s*:\s*(\S+)', text).group(1)) % 64.0
"""


def _narrow_state(secret: Callable[[], str]) -> dict[str, tuple[str, str, str]]:
    """(plant, read, value) for channels narrower than a secret: the session's nice value (1 to 19, written to
    `/proc/self/autogroup`: the worker's session, which its children share, keeps it), the order in which the
    host's device files were last touched (`os.utime`, which needs only write access: one of 119 orders) and the
    scheduler group's virtual time (0 to 7: a thread per CPU spins until its own `se.vruntime` is in that 8 ms bin
    modulo 64 ms, where the next run's first thread starts when it shares the group)."""
    nice = 1 + int(secret(), 16) % 19
    order = 1 + int(secret(), 16) % 119
    virtual_bin = int(secret(), 16) % 8
    spin = _VIRTUAL_TIME + (
        "def spin():\n    end = time.monotonic() + 1.5\n    while time.monotonic() < end:\n"
        f"        if int(virtual_time() // 8) == {virtual_bin} and virtual_time() % 8 < 2:\n            break\n"
        "threads = [threading.Thread(target=spin) for _ in range(2)]\n"
        "for thread in threads:\n    thread.start()\nfor thread in threads:\n    thread.join()\n"
    )
    read_virtual_bin = _VIRTUAL_TIME + "answer = format(int(virtual_time() // 8), 'x')\n"
    set_nice = (
        "import time\nend = time.monotonic() + 1\nwhile time.monotonic() < end:\n    try:\n"
        f"        with open('/proc/self/autogroup', 'w') as f:\n            f.write('{nice}')\n        break\n"
        "    except OSError:\n        time.sleep(0.02)\n"
    )
    read_nice = "answer = format(int(open('/proc/self/autogroup').read().split()[-1]), 'x')\n"
    touch = _PERMUTATION.format(devices=_DEVICES) + (
        f"for index in ORDERS[{order}]:\n    try:\n        os.utime(DEVICES[index])\n    except OSError:\n"
        "        pass\n    time.sleep(0.005)\n"
    )
    read_order = _PERMUTATION.format(devices=_DEVICES) + (
        "times = [os.stat(path).st_mtime_ns for path in DEVICES]\n"
        "recent = max(times) - min(times) < 10 ** 9 and time.time_ns() - min(times) < 60 * 10 ** 9\n"
        "order = tuple(sorted(range(len(DEVICES)), key=times.__getitem__))\n"
        "answer = str(ORDERS.index(order)) if recent else 'none'\n"
    )
    return {
        "session_nice": (OPEN + set_nice, read_nice, format(nice, "x")),
        "device_file_times": (OPEN + touch, read_order, str(order)),
        "scheduler_virtual_time": (OPEN + spin, read_virtual_bin, format(virtual_bin, "x")),
    }


# -- 5. memory outside the limit ------------------------------------------------------------------------

MEMORY_LIMIT = 96 << 20
OUTSIDE = 4 * MEMORY_LIMIT
"""An attack holds four times its memory limit outside its address space; printing 3 says it did."""
_MEMORY = {
    "tmpfs_files": (
        "import os\ntotal = 0\nblock = b'x' * (512 << 10)\n"
        "for folder, prefix in (('.', 'cfmem'), ('/dev/shm', {shm!r}), ('/tmp', {tmp!r})):\n"
        "    try:\n        for i in range(2000):\n            if total >= {outside}:\n                break\n"
        "            with open(os.path.join(folder, f'{{prefix}}{{i}}'), 'wb') as handle:\n"
        "                handle.write(block)\n            total += len(block)\n"
        "    except OSError:\n        pass\n"
        "print(3 if total >= {outside} else 0)\n"
    ),
    "memfds": (
        "import os\ntotal, fds = 0, []\nblock = b'x' * (512 << 10)\n"
        "try:\n    while total < {outside}:\n        fd = os.memfd_create('cfmem')\n        os.write(fd, block)\n"
        "        fds.append(fd)\n        total += len(block)\nexcept OSError:\n    pass\n"
        "print(3 if total >= {outside} else 0)\n"
    ),
    "sysv_segments": (
        _LIBC + "total = 0\nfor i in range({segments}):\n"
        "    sid = libc.shmget({key} + i, 16 << 20, 0o1600)\n    addr = libc.shmat(sid, None, 0) if sid >= 0 else BAD\n"
        "    if addr in (None, BAD):\n        break\n    ctypes.memset(addr, 1, 16 << 20)\n    libc.shmdt(addr)\n"
        "    total += 16 << 20\nprint(3 if total >= {outside} else 0)\n"
    ),
}


SPAWN = """
import ctypes, os, posix
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
class CloneArgs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in ('flags', 'pidfd', 'child_tid', 'parent_tid', 'exit_signal',
                'stack', 'stack_size', 'tls', 'set_tid', 'set_tid_size', 'cgroup')]
def clone3():
    # a raw clone3 with fork's flags: a filter that lets threads through may let this through too
    args = CloneArgs(exit_signal=17)
    return libc.syscall(ctypes.c_long(435), ctypes.byref(args), ctypes.c_long(ctypes.sizeof(args)))
def spawn():
    # posix.fork is os.fork under another name (some harnesses set os.fork to None), else clone3
    try:
        return posix.fork()
    except OSError:
        return clone3()
"""
_CHILDREN_HOLD = (
    SPAWN
    + """
import select, time
read_end, write_end = os.pipe()
started = 0
for _ in range({children}):
    pid = spawn()
    if pid == 0:
        try:
            block = b'x' * {per_child}
            os.write(write_end, b'x')
            time.sleep(30)
        finally:
            os._exit(0)
    if pid < 0:
        break
    started += 1
held = 0
while held < started and select.select([read_end], [], [], 3)[0]:
    held += len(os.read(read_end, 64))
print(3 if held * {per_child} >= {outside} else 0)
"""
)
"""Each forked process gets its own address-space limit: eight of them hold four times the test's limit."""


def memory_outside_limit(tags: Tags) -> list[Attack]:
    target = Target("stdio", stdin="1 2\n", expected="3\n", time_limit=5.0, memory_limit=MEMORY_LIMIT)
    values = {
        "outside": OUTSIDE,
        "key": tags.sysv_key_base + 32,
        "segments": OUTSIDE // (16 << 20),
        "shm": f"cf{tags.run}mem",
        "tmp": f"cf{tags.run}mem",
    }
    entries = [
        Attack(name, "memory_outside_limit", program.format(**values), target, Harm.FALSE_PASS, allocates=OUTSIDE)
        for name, program in _MEMORY.items()
    ]
    children = _CHILDREN_HOLD.format(children=8, per_child=OUTSIDE // 8, outside=OUTSIDE)
    entries.append(Attack("forked_children_hold_memory", "memory_outside_limit", children, target, Harm.FALSE_PASS))
    return entries
