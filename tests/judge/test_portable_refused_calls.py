"""The calls the portable program's seccomp filter refuses (`child_runtime.become_unprivileged`: a root judge's
program).

`open_by_handle_at`: the program keeps `CAP_DAC_READ_SEARCH` (it reads every file, as root did), which is also what
it asks for: with it, a program opened the host's /tmp that its run's own tmpfs hides (by the folder's handle: an
inode number, and a generation that was 0) and listed the runs judged beside it, read their files, and left a file
there for any later run.

The keyring calls: the kernel's keyrings outlive a run: a program under its own uid added a key to its user keyring
(kept after the run, for the next run its bootstrap's pid is reused for, in the kernel's memory) and to the session
keyring it shares with the judge and every other run. The pool's seccomp policy refuses them too."""

from __future__ import annotations

import ctypes
import os
import tempfile

import pytest

from codefeedback_env.judge import Limits
from codefeedback_env.judge.subprocess_backend import SubprocessBackend

LIMITS = Limits(5.0, 256 << 20, 1 << 16)
OPEN = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
kind, handle = sys.stdin.read().split()
handle = bytes.fromhex(handle)
buffer = ctypes.create_string_buffer(len(handle))
buffer.raw = handle
mount = os.open("/", os.O_RDONLY)
flags = {"list": os.O_RDONLY | os.O_DIRECTORY, "path": os.O_PATH, "create": os.O_RDONLY | os.O_DIRECTORY,
         "read": os.O_RDONLY}[kind]
fd = libc.open_by_handle_at(mount, buffer, flags)
if fd < 0:
    print("refused", os.strerror(ctypes.get_errno()))
    sys.exit(0)
"""
HANDLE_SHAPES = {
    "list": OPEN + "print(os.listdir(fd))\n",
    "path": OPEN + "print(os.listdir(os.open('.', os.O_RDONLY, dir_fd=fd)))\n",
    "create": OPEN + "os.close(os.open('left-by-a-run', os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))\nprint('left')\n",
    "read": OPEN + "print(os.read(fd, 100))\n",
}
"""Programs that open, by its handle, a folder or a file below the host's /tmp (which their run sees as its own empty
tmpfs), then list, create or read there."""


CALL = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
numbers = {{"x86_64": (248, 250), "aarch64": (217, 219)}}[os.uname().machine]
add_key, keyctl = numbers
result = {call}
print("refused" if result < 0 and ctypes.get_errno() == 1 else f"done {{result}} {{ctypes.get_errno()}}")
"""
KEYRING_SHAPES = {
    "user_keyring": 'libc.syscall(add_key, b"user", b"kept", b"for later", 9, -4)',
    "session_keyring": 'libc.syscall(add_key, b"user", b"kept", b"for later", 9, -3)',
    "user_session_keyring": 'libc.syscall(add_key, b"user", b"kept", b"for later", 9, -5)',
    "join_a_named_session": 'libc.syscall(keyctl, 1, b"codefeedback-kept")',
}
"""Programs that keep a key for later runs, or join a keyring by name (`KEYCTL_JOIN_SESSION_KEYRING`)."""


def _handle(path: str) -> bytes | None:
    """`path`'s file handle (a `struct file_handle`: size, type, then the bytes); None where its file system has
    none."""
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(8 + 128)
    ctypes.memmove(buffer, (128).to_bytes(4, "little"), 4)
    mount_id = ctypes.c_int()
    if libc.name_to_handle_at(-100, path.encode(), buffer, ctypes.byref(mount_id), 0) != 0:
        return None
    return buffer.raw[: 8 + int.from_bytes(buffer.raw[:4], "little")]


@pytest.fixture(scope="module")
def backend():
    with SubprocessBackend() as backend:
        if not backend.isolation_layers()["run_uid"]:
            pytest.skip("runs keep the judge's uid here (the judge is not root): no filter is installed")
        yield backend


@pytest.mark.parametrize("shape", sorted(HANDLE_SHAPES))
def test_a_program_cannot_open_the_hosts_hidden_files_by_handle(backend, shape):
    if not backend.isolation_layers()["run_mounts"]:
        pytest.skip("runs get no /tmp of their own here: nothing is hidden")
    folder = tempfile.mkdtemp(dir="/tmp")
    try:
        os.chmod(folder, 0o1777)
        with open(os.path.join(folder, "secret"), "w") as secret:
            secret.write("the run beside it")
        handle = _handle(os.path.join(folder, "secret") if shape == "read" else folder)
        if handle is None:
            pytest.skip("the file system of /tmp gives no file handles")
        outcome = backend.run_stdio(HANDLE_SHAPES[shape], f"{shape} {handle.hex()}\n", LIMITS)
        assert outcome.exit_code == 0 and outcome.stdout.startswith(b"refused"), outcome
        assert os.listdir(folder) == ["secret"]
    finally:
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        os.rmdir(folder)


@pytest.mark.parametrize("shape", sorted(KEYRING_SHAPES))
def test_a_program_cannot_keep_keys_for_later_runs(backend, shape):
    outcome = backend.run_stdio(CALL.format(call=KEYRING_SHAPES[shape]), "", LIMITS)
    assert (outcome.exit_code, outcome.stdout) == (0, b"refused\n"), outcome
