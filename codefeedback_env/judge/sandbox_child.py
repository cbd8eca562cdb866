"""Bootstrap that runs inside the sandboxed child: set limits, run the program, report plain data.

Usage (started by a backend as `python -I -S sandbox_child.py ...`):
    sandbox_child.py stdio    PROGRAM CPU_SECONDS MEMORY_BYTES FILE_BYTES
    sandbox_child.py function PROGRAM CPU_SECONDS MEMORY_BYTES FILE_BYTES REQUEST_FD REPLY_FD

It imports only the standard library and `plaindata` (from its own folder). Nothing it prints or
returns decides a verdict on its own: the parent compares outputs and checks results itself.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
import plaindata  # noqa: E402

del sys.path[0]

PROGRAM_FILENAME = "solution.py"
MAX_PROCESSES = 64


def apply_limits(cpu_seconds: int, memory_bytes: int, file_bytes: int) -> None:
    """Per-process resource limits; the parent also enforces a wall-clock deadline."""
    import resource

    def cap(which: int, soft: int, hard: int | None = None) -> None:
        try:
            resource.setrlimit(which, (soft, soft if hard is None else hard))
        except (ValueError, OSError):
            pass  # the machine does not allow this one; the time limit still applies

    cap(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1)
    cap(resource.RLIMIT_AS, memory_bytes)
    cap(resource.RLIMIT_FSIZE, file_bytes)
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_NPROC, MAX_PROCESSES)
    # Let deep recursion in the main thread use the memory budget rather than an 8 MB stack.
    cap(resource.RLIMIT_STACK, memory_bytes)


def format_exception(error: BaseException) -> str:
    """The traceback as Python prints it, without this bootstrap's frames."""
    import traceback

    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != PROGRAM_FILENAME:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb))


def _exit(code: object = None) -> None:
    """`exit()` / `quit()` as the `site` module defines them (the child runs with -S, without site)."""
    raise SystemExit(code)


def install_site_builtins() -> None:
    import builtins

    builtins.exit = builtins.quit = _exit  # type: ignore[attr-defined]


def load_program(path: str, module_name: str) -> dict:
    with open(path, encoding="utf-8") as source_file:
        source = source_file.read()
    namespace = {"__name__": module_name, "__file__": PROGRAM_FILENAME, "__builtins__": __builtins__}
    exec(compile(source, PROGRAM_FILENAME, "exec", dont_inherit=True), namespace)
    return namespace


def run_stdio(path: str) -> None:
    try:
        load_program(path, "__main__")
    except SystemExit:
        raise
    except BaseException as error:  # report like the interpreter would, minus our frames
        sys.stderr.write(format_exception(error))
        raise SystemExit(1) from None


def _read_exact(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            raise EOFError("request channel closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _send(fd: int, message: object) -> None:
    payload = plaindata.dumps(message)
    data = len(payload).to_bytes(8, "little") + payload
    while data:
        data = data[os.write(fd, data) :]


def run_function(path: str, request_fd: int, reply_fd: int) -> None:
    """Load the program, then answer call requests {"call": name, "args": [...], "kwargs": {...}}."""
    try:
        namespace = load_program(path, "solution")
    except BaseException as error:
        _send(reply_fd, {"raise": format_exception(error)})
        return
    names = sorted(name for name, value in namespace.items() if callable(value) and not name.startswith("__"))
    _send(reply_fd, {"names": names})
    while True:
        try:
            size = int.from_bytes(_read_exact(request_fd, 8), "little")
            request = plaindata.loads(_read_exact(request_fd, size))
        except EOFError:
            return
        function = namespace.get(request["call"])
        if not callable(function):
            _send(reply_fd, {"raise": f"NameError: the program does not define a function {request['call']!r}\n"})
            continue
        try:
            value = function(*request["args"], **request["kwargs"])
        except BaseException as error:
            _send(reply_fd, {"raise": format_exception(error)})
            continue
        try:
            _send(reply_fd, {"value": value})
        except plaindata.PlainDataError as error:
            _send(reply_fd, {"raise": f"TypeError: the function returned a value that is not plain data ({error})\n"})


def main(argv: list[str]) -> None:
    mode, path, cpu, memory, file_size = argv[:5]
    apply_limits(int(cpu), int(memory), int(file_size))
    install_site_builtins()
    if mode == "stdio":
        run_stdio(path)
    else:
        run_function(path, int(argv[5]), int(argv[6]))


if __name__ == "__main__":
    main(sys.argv[1:])
