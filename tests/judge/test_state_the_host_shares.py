"""Kernel state a run can change that outlives it or that programs judged at the same time share must carry
nothing from one program to another (issue 10, classes 3 and 4), and a run must not change the host.

- The scheduler's autogroup: the pool's children share their worker's session, whose nice value any child may
  set (`/proc/self/autogroup`, 0 to 19, no privilege needed). It outlived the run: the next program read the
  number back and, at 19, got a sixtieth of its share of a busy core (the wall-clock backstop then ends a fast
  program). Each child now starts a session (so a scheduler group) of its own, and the worker still puts its own
  value back after every run (`test_scheduler_state_between_runs.py`: the group's virtual time was a channel too).
- The host's device files: the sandbox's `/dev/null`, `/dev/zero`, ... are the host's own inodes, and a program
  could set their times to now (`os.utime` needs only write access), changing the host's files and leaving a
  value every later run on any worker read back. The worker now mounts them read-only (they still read and write).
- Record locks: a read lock needs only read access, and a lock is held on the file, which every process on the
  host shares: a program locking byte ranges of an interpreter file passed its stdin (a hidden test's input) to
  another program judged at the same time on another worker, which tested the ranges with F_GETLK. The seccomp
  filter now refuses record locks.
- Futex words: a shared futex operation names its word by the file page behind it, so programs on two workers met
  on a word of the C library's code; shared operations now do nothing.
- The scratch folder: its times told when the previous run ended (it is now made just before the next run), and
  files without a name (`O_TMPFILE`, now refused) moved its inode counter while it looked untouched.
- Without the uid layer, files beside the scratch folder (`/tmp`, `/dev`); processes left through the host's /proc.

Each attack is checked on what it tried (the writer's own view), on what the next run or a run beside it sees,
and from outside; after each the pool keeps serving and nothing is left running.
"""

from __future__ import annotations

import os
import secrets
import threading
import time

import pytest

from codefeedback_env.judge import Limits
from codefeedback_env.judge.pool import PoolOptions, WorkerPoolBackend
from tests.judge.processes import descendants, wait_until
from tests.judge.test_pool_backend import machine_has_all_layers
from tests.process_table import running

LIMITS = Limits(time=5.0, memory=256 << 20, output=1 << 20)

_SET_NICE = (
    "import os, time\nend = time.monotonic() + 2\nwhile True:\n    try:\n{write}\n        break\n"
    "    except BlockingIOError:  # the kernel allows one such write per 0.1 s on the host\n"
    "        if time.monotonic() > end:\n            raise\n        time.sleep(0.02)\n"
    "print(open('/proc/self/autogroup').read().split()[-1])\n"
)
AUTOGROUP_WRITERS = {
    "open_and_write": (
        _SET_NICE.format(write="        with open('/proc/self/autogroup', 'w') as f:\n            f.write('7')"),
        b"7\n",
    ),
    "lowest_priority": (
        _SET_NICE.format(
            write="        fd = os.open('/proc/self/autogroup', os.O_WRONLY)\n        os.write(fd, b'19')"
        ),
        b"19\n",
    ),
    "from_a_thread_then_crash": (
        "import threading, time\nseen = []\ndef write():\n    end = time.monotonic() + 2\n    while True:\n"
        "        try:\n            with open('/proc/self/autogroup', 'w') as f:\n                f.write('11')\n"
        "            break\n        except BlockingIOError:\n"
        "            if time.monotonic() > end:\n                raise\n"
        "            time.sleep(0.02)\n    seen.append(open('/proc/self/autogroup').read().split()[-1])\n"
        "thread = threading.Thread(target=write)\nthread.start()\nthread.join()\nprint(*seen)\nraise SystemExit(2)\n",
        b"11\n",
    ),
}
AUTOGROUP_READER = "print(open('/proc/self/autogroup').read().split()[-1])\n"


# Each test below runs on each_backend_showing_proc (conftest): by default children have no /proc, so no nice
# value to set; the programs write /proc/self/autogroup and the test checks that the worker puts it back.


def _run(backend, program: str, stdin: str = ""):
    return backend.run_stdio(program, stdin, LIMITS)


def _contained(backend, baseline: int) -> None:
    assert _run(backend, "print(input())", "3\n").stdout == b"3\n", "the judge stopped serving"
    # <=: a process of an earlier test's pool may still have been ending when the baseline was counted
    assert wait_until(lambda: len(descendants()) <= baseline), "a process was left running"


@pytest.mark.parametrize("writer", sorted(AUTOGROUP_WRITERS))
def test_a_run_cannot_leave_its_nice_value_to_the_next(each_backend_showing_proc, writer):
    program, sees = AUTOGROUP_WRITERS[writer]
    before = _run(each_backend_showing_proc, AUTOGROUP_READER).stdout
    baseline = len(descendants())
    outcome = _run(each_backend_showing_proc, program)
    assert outcome.stdout == sees, outcome  # the write took effect for the writer itself
    after = _run(each_backend_showing_proc, AUTOGROUP_READER).stdout
    assert after == before, f"{writer} changed what the next run sees"
    _contained(each_backend_showing_proc, baseline)


# -- the host's device files (pool: the portable backend runs programs as the judge's user, no boundary) --------

DEVICES = ("/dev/null", "/dev/full", "/dev/random", "/dev/urandom")
_TOUCH = (
    "import os\ntouched = []\nfor path in {paths!r}:\n    try:\n{call}\n        touched.append(path)\n"
    "    except OSError:\n        pass\nprint(len(touched))\n"
)
DEVICE_WRITERS = {
    "utime_now": _TOUCH.format(paths=DEVICES, call="        os.utime(path)"),
    "utime_ns_now": _TOUCH.format(
        paths=DEVICES, call="        fd = os.open(path, os.O_WRONLY)\n        os.utime(fd)\n        os.close(fd)"
    ),
    "private_pty_master": _TOUCH.format(
        paths=("/dev/ptmx", "/dev/pts/ptmx", "/dev/pts", "/dev"), call="        os.utime(path)"
    ),
}
DEVICE_READER = f"import os\nprint([os.stat(p).st_mtime_ns for p in {(*DEVICES, '/dev/pts')!r}])\n"
DEVICES_STILL_WORK = (
    "import os\nwith open('/dev/null', 'w') as f:\n    f.write('x' * 1000)\n"
    "print(len(os.urandom(8)) + len(open('/dev/urandom', 'rb').read(8)) + len(open('/dev/random', 'rb').read(8)))\n"
    "try:\n    os.write(os.open('/dev/full', os.O_WRONLY), b'x')\nexcept OSError as error:\n    print(error.errno)\n"
)

needs_pool_layers = pytest.mark.skipif(not machine_has_all_layers(), reason="needs root and bubblewrap")


@pytest.fixture(scope="module")
def pool_showing_proc():
    """A pool whose children see their own /proc (by default they have none), for programs that read it."""
    with WorkerPoolBackend(1, options=PoolOptions(hide_proc=False)) as made:
        yield made


@needs_pool_layers
@pytest.mark.parametrize("writer", sorted(DEVICE_WRITERS))
def test_a_run_cannot_set_the_times_of_device_files(pool, writer):
    host_before = [os.stat(path).st_mtime_ns for path in DEVICES]
    seen_before = _run(pool, DEVICE_READER).stdout
    baseline = len(descendants())
    outcome = _run(pool, DEVICE_WRITERS[writer])
    assert outcome.exit_code == 0 and outcome.stdout == b"0\n", outcome  # every utime refused
    assert [os.stat(path).st_mtime_ns for path in DEVICES] == host_before, "the host's device files changed"
    assert _run(pool, DEVICE_READER).stdout == seen_before, "the next run sees other times"
    _contained(pool, baseline)


@needs_pool_layers
def test_device_files_still_read_and_write(pool):
    outcome = _run(pool, DEVICES_STILL_WORK)
    assert outcome.exit_code == 0 and outcome.stdout == b"24\n28\n", outcome  # 28: ENOSPC, as on the host


_OPEN_A_TERMINAL = "import os, pty\nfrom os import O_RDWR, O_NOCTTY\n"
TERMINAL_OPENERS = {
    "ptmx": _OPEN_A_TERMINAL + "os.open('/dev/ptmx', O_RDWR | O_NOCTTY)\n",
    "devpts_ptmx": _OPEN_A_TERMINAL + "os.open('/dev/pts/ptmx', O_RDWR | O_NOCTTY)\n",
    "os_openpty": _OPEN_A_TERMINAL + "os.openpty()\n",
    "pty_module": _OPEN_A_TERMINAL + "pty.openpty()\n",
}
LEAVE_A_TIME_ON_A_TERMINAL = (  # the kernel updates a terminal's times at most once per 8 s: wait for a new window
    "import os, time\nfd = os.open('/dev/ptmx', os.O_RDWR | os.O_NOCTTY)\nos.set_blocking(fd, False)\n"
    "while not (int(time.time()) ^ int(os.stat('/dev/pts/ptmx').st_mtime)) & ~7:\n    time.sleep(0.1)\n"
    "os.write(fd, b'x')\nos.read(fd, 1)\nprint(int(os.stat('/dev/pts/ptmx').st_mtime) == int(time.time()))\n"
)
TERMINAL_TIMES = "import os\ntry:\n    st = os.stat('/dev/ptmx')\nexcept OSError:\n    st = None\nprint(st)\n"


@needs_pool_layers
@pytest.mark.parametrize("opener", sorted(TERMINAL_OPENERS))
def test_a_run_cannot_open_a_terminal(pool, opener):
    """No program can use a pseudo-terminal (seccomp refuses the ioctls `openpty` needs), and a master alone let a run
    set the times of the devpts's `ptmx` (below): the sandbox has none."""
    outcome = _run(pool, TERMINAL_OPENERS[opener])
    assert outcome.exit_code == 1 and b"Error" in outcome.stderr, outcome
    assert _run(pool, "import os\nprint(os.listdir('/dev/pts'))\n").stdout == b"[]\n"


@needs_pool_layers
def test_a_run_cannot_leave_a_time_on_a_terminal(pool):
    """Red before: the kernel sets a terminal's times when it is read or written, read-only mount or not; a run writing
    to a pseudo-terminal master set `/dev/pts/ptmx`'s times to that second, and every later run on the worker read
    when (and whether) it did."""
    before = _run(pool, TERMINAL_TIMES).stdout
    outcome = pool.run_stdio(LEAVE_A_TIME_ON_A_TERMINAL, "", Limits(time=12.0, memory=256 << 20, output=1 << 20))
    assert outcome.stdout != b"True\n", outcome
    assert _run(pool, TERMINAL_TIMES).stdout == before, "the next run sees the time the previous one left"


SANDBOX_FOLDERS = ("/", "/tmp", "/dev", "/dev/pts", "/dev/shm", "/proc", "/judge", "/lib", "/root")
FOLDER_TIMES = (
    f"import os\nfor path in {SANDBOX_FOLDERS!r}:\n    st = os.stat(path)\n"
    "    print(path, st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)\n"
)
FOLDER_VISITORS = {
    "lists_each": f"import os\nfor path in {SANDBOX_FOLDERS!r}:\n    os.listdir(path)\n",
    "walks_the_tree": (
        "import os\nfor root, folders, files in os.walk('/'):\n    folders[:] = [f for f in folders if f != 'proc']\n"
    ),
    "scans_tmp_at_a_chosen_moment": (
        "import os, time\ntime.sleep((700_000_000 - time.time_ns()) % 1_000_000_000 / 1e9)\n"
        "with os.scandir('/tmp') as entries:\n    list(entries)\n"
    ),
}


@needs_pool_layers
@pytest.mark.parametrize("visitor", sorted(FOLDER_VISITORS))
def test_a_run_cannot_leave_a_time_on_the_sandbox_folders(visitor):
    """Red before: listing the sandbox's `/tmp` (its own tmpfs, read-write for the worker) set its access time to that
    moment, which the program chooses, and every later run on the worker read it back."""
    with WorkerPoolBackend(1) as fresh:  # relatime sets an access time once, until the folder changes: a new worker
        before = _run(fresh, FOLDER_TIMES).stdout
        baseline = len(descendants())
        assert _run(fresh, FOLDER_VISITORS[visitor]).exit_code == 0
        assert _run(fresh, FOLDER_TIMES).stdout == before, f"{visitor} left a time for the next run"
        _contained(fresh, baseline)


# -- record locks between programs judged at the same time (pool, two workers) --------------------------------

_BITS = 64
_LOCK_COMMON = (
    "import fcntl, os, struct, sys, time\nfd = os.open({path!r}, os.O_RDONLY)\nBASE = 4000\n"
    "def lock(command, kind, start):\n"
    "    return fcntl.fcntl(fd, command, struct.pack('hhqqi', kind, 0, start, 1, 0))\n"
    "def held(start):\n"
    "    for command in (fcntl.F_GETLK, getattr(fcntl, 'F_OFD_GETLK', 36)):\n"
    "        try:\n            answer = lock(command, fcntl.F_WRLCK, start)\n"
    "            return struct.unpack('hhqqi', answer)[0] != fcntl.F_UNLCK\n"
    "        except OSError:\n            continue\n"
    "    return False\n"
)
LOCK_WRITER = _LOCK_COMMON + (
    "value = int(sys.stdin.read())\nmade = 0\n"
    "for i in range(-1, {bits}):\n    if i < 0 or value >> i & 1:\n"
    "        for command in ({set_command}, fcntl.F_SETLK, getattr(fcntl, 'F_OFD_SETLK', 37)):\n"
    "            try:\n                lock(command, fcntl.F_RDLCK, BASE + i)\n"
    "                made += 1\n                break\n"
    "            except OSError:\n                continue\n"
    "end = time.monotonic() + 4\nwhile made and not held(BASE - 2) and time.monotonic() < end:\n    time.sleep(0.01)\n"
    "print(made)\n"
)
LOCK_READER = _LOCK_COMMON + (
    "end = time.monotonic() + 4\nwhile not held(BASE - 1) and time.monotonic() < end:\n    time.sleep(0.01)\n"
    "value = sum(1 << i for i in range({bits}) if held(BASE + i))\n"
    "try:\n    lock(fcntl.F_SETLK, fcntl.F_RDLCK, BASE - 2)\n    time.sleep(0.2)\nexcept OSError:\n    pass\n"
    "print(value)\n"
)
LOCK_PAIRS = {
    "interpreter_file_classic_locks": (os.__file__, "fcntl.F_SETLKW"),
    "interpreter_file_open_file_locks": (os.__file__, "getattr(fcntl, 'F_OFD_SETLKW', 38)"),
    "device_file": ("/dev/null", "fcntl.F_SETLK"),
}


def _writer_and_reader_at_once(writer: str, reader: str, value: int) -> dict:
    """Judge `writer` (given `value` as its stdin) and `reader` at the same time on a two-worker pool; the reader
    must not print the writer's stdin and nothing may be left running. The outcomes by name."""
    with WorkerPoolBackend(2) as pool:
        pool.start()  # both workers
        baseline = len(descendants())
        outcomes = {}

        def run(name: str, program: str, stdin: str) -> None:
            outcomes[name] = _run(pool, program, stdin)

        threads = [
            threading.Thread(target=run, args=("writer", writer, f"{value}\n")),
            threading.Thread(target=run, args=("reader", reader, "")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes["reader"].stdout != f"{value}\n".encode(), "the reader got the writer's stdin"
        _contained(pool, baseline)
    return outcomes


@needs_pool_layers
@pytest.mark.parametrize("pair", sorted(LOCK_PAIRS))
def test_programs_judged_at_the_same_time_cannot_pass_data_through_locks(pair):
    path, set_command = LOCK_PAIRS[pair]
    writer = LOCK_WRITER.format(path=path, bits=_BITS, set_command=set_command)
    reader = LOCK_READER.format(path=path, bits=_BITS)
    value = secrets.randbits(_BITS) | 1
    outcomes = _writer_and_reader_at_once(writer, reader, value)
    assert outcomes["writer"].stdout == b"0\n", outcomes["writer"]  # no lock could be taken
    assert outcomes["reader"].stdout == b"0\n", outcomes["reader"]  # and none seen


# -- when the previous run ended, read from the scratch folder's times ------------------------------------------

_END_AT_CHOSEN_MOMENT = (  # end at .700 s of the clock
    "import time\n{change}\ntime.sleep((700_000_000 - time.time_ns()) % 1_000_000_000 / 1e9)\n"
)
SCRATCH_CHANGERS = {
    "writes_a_file": _END_AT_CHOSEN_MOMENT.format(change="open('notes.txt', 'w').write('x')"),
    "changes_the_mode": _END_AT_CHOSEN_MOMENT.format(change="import os\nos.chmod('.', 0o750)"),
    "changes_the_times": _END_AT_CHOSEN_MOMENT.format(change="import os\nos.utime('.', (0, 0))"),
}
SCRATCH_TIMES = "import os\nst = os.stat('.')\nprint(st.st_ctime_ns, st.st_mtime_ns)\n"
CLOCK_REALTIME_COARSE = 5
"""Linux's clock id of the coarse real-time clock, which file systems take their times from (`time` has no name
for it). A time taken from the precise clock can be ahead of every file time made after it: by a tick, and by
more when the kernel's timekeeping is late on a loaded machine; a time from the coarse clock never is."""


@pytest.mark.parametrize("changer", sorted(SCRATCH_CHANGERS))
def test_the_scratch_folder_does_not_tell_when_the_previous_run_ended(each_backend_showing_proc, changer):
    """The pool replaced a changed scratch folder when the run that changed it ended, so the next run read that
    moment (chosen by the program: about six bits) in the new folder's times, even long after. It is now made
    just before the next run starts: its times are that run's own start."""
    _run(each_backend_showing_proc, "print(1)")  # the pool's worker started
    baseline = len(descendants())
    for _ in range(2):
        assert _run(each_backend_showing_proc, SCRATCH_CHANGERS[changer]).exit_code == 0
        time.sleep(0.3)
        sent = time.clock_gettime_ns(CLOCK_REALTIME_COARSE)
        times = [int(value) for value in _run(each_backend_showing_proc, SCRATCH_TIMES).stdout.split()]
        assert min(times) >= sent, f"the folder's times {times} are older than the run ({sent}): {changer} left them"
    _contained(each_backend_showing_proc, baseline)


# -- files beside the scratch folder, for children that keep the worker's uid (no uid layer) ---------------------

BESIDE_SCRATCH = ("/tmp/cfleft", "/dev/cfleft", "/tmp/slot0/../cfleft2")
WRITE_BESIDE = (
    f"made = 0\nfor path in {BESIDE_SCRATCH!r}:\n    try:\n        open(path, 'w').write('x' * 100000)\n"
    "        made += 1\n    except OSError:\n        pass\nprint(made)\n"
)
READ_BESIDE = "import os\nprint(sorted(os.listdir('/tmp')), sorted(n for n in os.listdir('/dev') if 'cf' in n))\n"


@needs_pool_layers
def test_children_of_the_workers_uid_cannot_leave_files_beside_their_scratch_folder():
    """Without the uid layer a child is uid 0 without capabilities, and owned the sandbox's /tmp and /dev: files it
    wrote there outlived the run (the next runs read them; no limit counted them). /dev is now read-only and /tmp
    belongs to nobody."""
    with WorkerPoolBackend(1, options=PoolOptions(separate_uids=False)) as same_uid:
        before = _run(same_uid, READ_BESIDE).stdout
        baseline = len(descendants())
        outcome = _run(same_uid, WRITE_BESIDE)
        assert outcome.exit_code == 0 and outcome.stdout == b"0\n", outcome
        assert _run(same_uid, READ_BESIDE).stdout == before == b"['slot0'] []\n"
        _contained(same_uid, baseline)


# -- futex words on pages of files every process maps (pool, two workers) ------------------------------------

_FUTEX_COMMON = (
    "import ctypes, mmap, os, sys, threading, time\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "libc.syscall.restype = ctypes.c_long\n{where}\n"
    "def futex(address, operation, value, count=0, other=0, bits=0xFFFFFFFF):\n"
    "    return libc.syscall(ctypes.c_long(202), ctypes.c_void_p(address), ctypes.c_int(operation),\n"
    "                        ctypes.c_uint32(value), ctypes.c_void_p(count), ctypes.c_void_p(other),\n"
    "                        ctypes.c_uint32(bits))\n"
    "def word(i):\n    return BASE + 4 * i\n"
)
_IN_LIBC = "BASE = (ctypes.cast(libc.printf, ctypes.c_void_p).value & ~0xFFF) + 256  # the C library's code"
FUTEX_WRITER = _FUTEX_COMMON + (
    "value = int(sys.stdin.read())\nthreading.stack_size(1 << 16)\nwaiting = 0\n"
    "def wait(i):\n    futex(word(i), {wait}, ctypes.c_uint32.from_address(word(i)).value)\n"
    "for i in range(-1, {bits}):\n    if i < 0 or value >> i & 1:\n"
    "        threading.Thread(target=wait, args=(i + 1,), daemon=True).start()\n"
    "time.sleep(2.5)\nprint(sum(thread.is_alive() for thread in threading.enumerate()) - 1)\n"
)
FUTEX_READER = _FUTEX_COMMON + (
    "def waiters(i):  # {count}\n    return max(0, futex(word(i), {count_operation}, 0, 1 << 30, word(i)))\n"
    "end = time.monotonic() + 2\nwhile not waiters(0) and time.monotonic() < end:\n    time.sleep(0.01)\n"
    "print(sum(1 << i for i in range({bits}) if waiters(i + 1)))\n"
)
FUTEX_PAIRS = {
    "wait_in_libc_count_by_requeue": (0, 3, "requeue every waiter onto its own word: wakes none, counts them"),
    "wait_bitset_in_libc_count_by_wake": (9, 1, "wake them: the writer's threads end, the count is the answer"),
}


@needs_pool_layers
@pytest.mark.parametrize("pair", sorted(FUTEX_PAIRS))
def test_programs_judged_at_the_same_time_cannot_meet_on_a_futex(pair):
    """A futex operation without the private flag names its word by the page behind it: on a page of a file every
    process maps (the C library's code) two programs on two workers met on the same futex, and the number of
    waiters the second counted passed the first one's stdin over (16 bits here). Shared futex operations now do
    nothing (a wait returns at once), so no waiter is ever there to count."""
    wait, count_operation, count = FUTEX_PAIRS[pair]
    bits = 16
    writer = FUTEX_WRITER.format(where=_IN_LIBC, wait=wait, bits=bits)
    reader = FUTEX_READER.format(where=_IN_LIBC, count_operation=count_operation, count=count, bits=bits)
    value = secrets.randbits(bits) | 1
    outcomes = _writer_and_reader_at_once(writer, reader, value)
    assert outcomes["writer"].stdout == b"0\n", outcomes["writer"]  # no thread stayed waiting
    assert outcomes["reader"].stdout == b"0\n", outcomes["reader"]


# -- leaving a process behind through the host's /proc (class 9; the portable backend shows the host's /proc) ------

_ANCESTORS = (
    "import ctypes, os, signal, sys, time\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "libc.syscall.restype = ctypes.c_long\n"
    "def parent(pid):\n    return int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])\n"
    "try:\n    me = int(os.readlink('/proc/self'))\n    outer = [parent(parent(me))]\n"
    "    outer.append(parent(outer[0]))\nexcept (OSError, ValueError):\n    outer = []\n"
    "def leave():\n    if os.fork() == 0:\n        os.setsid()\n"
    "        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', '{marker}'])\n"
)
LEAVERS = {
    # enter the pid namespace of the bootstrap (outside the program's own), so children are not killed with it
    "setns_to_an_outer_pid_namespace": _ANCESTORS
    + "for pid in outer:\n    try:\n        fd = os.open(f'/proc/{pid}/ns/pid', os.O_RDONLY)\n"
    "        if libc.setns(fd, 0x20000000) == 0:\n            break\n    except OSError:\n        pass\n"
    "leave()\ntime.sleep(0.3)\nprint(3)\n",
    # signal the bootstrap through a descriptor of its /proc folder (pidfd_send_signal accepts one)
    "pidfd_of_a_proc_folder": _ANCESTORS
    + "leave()\nfor pid in outer:\n    try:\n        fd = os.open(f'/proc/{pid}', os.O_RDONLY | os.O_DIRECTORY)\n"
    "        libc.syscall(ctypes.c_long(424), fd, signal.SIGKILL, None, 0)\n    except OSError:\n        pass\n"
    "time.sleep(0.3)\nprint(3)\n",
}


@pytest.mark.parametrize("leaver", sorted(LEAVERS))
def test_no_process_outlives_the_run_through_the_hosts_proc(each_backend_showing_proc, leaver):
    marker = f"cf-left-{secrets.token_hex(4)}"
    _run(each_backend_showing_proc, "print(1)")
    baseline = len(descendants())
    _run(each_backend_showing_proc, LEAVERS[leaver].replace("{marker}", marker))
    assert wait_until(lambda: not running(marker)), f"{leaver} left a process running"
    _contained(each_backend_showing_proc, baseline)


# -- the scratch tmpfs's inode counter (files without a name change nothing else there) -------------------------

TMPFILE_WRITERS = {
    "raw_o_tmpfile": (
        "import os\nmade = 0\nfor _ in range(100):\n    try:\n"
        "        os.close(os.open('.', os.O_TMPFILE | os.O_WRONLY, 0o600))\n        made += 1\n"
        "    except OSError:\n        pass\nprint(made)\n"
    ),
    "o_tmpfile_written_then_closed": (
        "import os\nmade = 0\nfor _ in range(37):\n    try:\n"
        "        fd = os.open('.', os.O_TMPFILE | os.O_RDWR, 0o600)\n        os.write(fd, b'x' * 5000)\n"
        "        os.close(fd)\n        made += 1\n    except OSError:\n        pass\nprint(made)\n"
    ),
    "temporary_files": (  # the standard library's way; it falls back to a named file, which the worker notices
        "import tempfile\nfor _ in range(50):\n    with tempfile.TemporaryFile() as f:\n        f.write(b'x')\n"
        "print(0)\n"
    ),
}
INODE_READER = "import os\nopen('mine', 'w').close()\nprint(os.stat('mine').st_ino)\n"
TEMPORARY_FILE_WORKS = (
    "import tempfile\nwith tempfile.TemporaryFile() as f:\n    f.write(b'kept')\n    f.seek(0)\n    print(f.read())\n"
)


@needs_pool_layers
@pytest.mark.parametrize("writer", sorted(TMPFILE_WRITERS))
def test_a_run_cannot_move_the_scratch_folders_inode_counter(pool, writer):
    """`O_TMPFILE` made files with no name: the scratch folder looked untouched (no entry, time or space once they
    were closed), so the pool kept it, and the next run read how many were made from a new file's inode number
    (any number, each run). The pool refuses `O_TMPFILE` (EOPNOTSUPP, as a file system without it does). (The
    portable backend's folders are on the host's file system, whose inode numbers every process moves.)"""
    _run(pool, INODE_READER)
    before = _run(pool, INODE_READER).stdout
    baseline = len(descendants())
    outcome = _run(pool, TMPFILE_WRITERS[writer])
    assert outcome.exit_code == 0, outcome
    assert outcome.stdout == b"0\n", outcome  # no file without a name was made
    assert _run(pool, INODE_READER).stdout == before, f"{writer} moved the inode counter the next run reads"
    assert _run(pool, TEMPORARY_FILE_WORKS).stdout == b"b'kept'\n"
    _contained(pool, baseline)


# -- same-page merging (KSM) between programs judged at the same time ----------------------------------------------

_OFFER_TO_MERGING = (
    "import ctypes, mmap, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "region = mmap.mmap(-1, 1 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)\nregion.write(b'x' * (1 << 20))\n"
    "address = ctypes.addressof(ctypes.c_char.from_buffer(region))\n"
    # the raw call, with 64 bits of advice: glibc's madvise (an int) would cut high bits off before the kernel
    "libc.syscall.argtypes = (ctypes.c_long, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long)\n"
    "number = {{'x86_64': 28, 'aarch64': 233}}[os.uname().machine]\n"
    "result = libc.syscall(number, ctypes.c_void_p(address), ctypes.c_size_t(1 << 20), ctypes.c_long({advice}))\n"
    "flags, inside = [], False\nfor line in open('/proc/self/smaps'):\n    head = line.split()[0]\n"
    "    if '-' in head and not head.endswith(':'):\n        start, end = (int(x, 16) for x in head.split('-'))\n"
    "        inside = start <= address < end\n    elif inside and head == 'VmFlags:':\n"
    "        flags = line.split()[1:]\n"
    "print(result, 'mg' in flags)\n"
)
MERGING_OFFERS = {"mergeable": 12, "mergeable_high_bits_set": 12 | 1 << 32}


@needs_pool_layers
@pytest.mark.parametrize("offer", sorted(MERGING_OFFERS))
def test_no_page_is_offered_to_same_page_merging(pool_showing_proc, offer):
    """Where the kernel's same-page merging runs, pages of equal content in two processes become one, and a write
    to it takes a copy-on-write fault: a program timing writes learns whether a program judged at the same time
    holds a page it guessed. `madvise(MADV_MERGEABLE)` marked the region (`mg` in its VmFlags) whether or not the
    host runs it; it now succeeds without doing anything."""
    pool = pool_showing_proc
    _run(pool, "print(1)")  # the pool's worker started
    baseline = len(descendants())
    outcome = _run(pool, _OFFER_TO_MERGING.format(advice=MERGING_OFFERS[offer]))
    assert outcome.exit_code == 0 and outcome.stdout == b"0 False\n", outcome
    _contained(pool, baseline)
