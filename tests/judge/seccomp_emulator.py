"""A classic-BPF interpreter for seccomp filters, as the kernel runs them: what a process holding some filters gets
for a system call, without making it.

`run(program, data)` runs one filter over a `struct seccomp_data`; `stacked(programs, data)` applies several as the
kernel does (every filter runs, the strictest action wins, and of equal actions the newest filter's).
"""

from __future__ import annotations

import struct

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
X32_SYSCALL_BIT = 0x40000000
ACTION_FULL = 0xFFFF0000
_INSTRUCTION = struct.Struct("<HBBI")
_WORD = 0xFFFFFFFF


def instructions(program: bytes) -> list[tuple[int, int, int, int]]:
    """(code, jt, jf, k) of each instruction."""
    return [_INSTRUCTION.unpack_from(program, offset) for offset in range(0, len(program), _INSTRUCTION.size)]


def seccomp_data(nr: int, args: tuple[int, ...] = (0,) * 6, arch: int = AUDIT_ARCH_X86_64) -> bytes:
    """The kernel's `struct seccomp_data` for a call (instruction pointer 0)."""
    return struct.pack("<iIQ6Q", nr, arch, 0, *args)


def run(program: list[tuple[int, int, int, int]], data: bytes, loaded: set[int] | None = None) -> int:
    """The 32-bit return value of `program` on `data`; the offsets it loads are added to `loaded`."""
    a = x = 0
    memory = [0] * 16
    pc = 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        kind = code & 0x07
        if code == 0x20:  # ld [k]
            if loaded is not None:
                loaded.add(k)
            a = struct.unpack_from("<I", data, k)[0]
        elif code == 0x00:  # ld #k
            a = k
        elif code == 0x60:  # ld M[k]
            a = memory[k]
        elif code == 0x61:  # ldx M[k]
            x = memory[k]
        elif code == 0x01:  # ldx #k
            x = k
        elif code == 0x02:  # st M[k]
            memory[k] = a
        elif code == 0x03:  # stx M[k]
            memory[k] = x
        elif kind == 0x04:  # alu
            operand = x if code & 0x08 else k
            a = _alu(code & 0xF0, a, operand) & _WORD
        elif kind == 0x05:  # jmp
            operation = code & 0xF0
            if operation == 0x00:
                pc += k
                continue
            operand = x if code & 0x08 else k
            taken = {0x10: a == operand, 0x20: a > operand, 0x30: a >= operand, 0x40: bool(a & operand)}[operation]
            pc += jt if taken else jf
        elif kind == 0x06:  # ret
            return (a if code & 0x10 else k) & _WORD
        elif code == 0x07:  # tax
            x = a
        elif code == 0x87:  # txa
            a = x
        else:
            raise ValueError(f"instruction {code:#x} at {pc - 1} is not emulated")


def _alu(operation: int, a: int, operand: int) -> int:
    operations = {
        0x00: lambda: a + operand,
        0x10: lambda: a - operand,
        0x20: lambda: a * operand,
        0x40: lambda: a | operand,
        0x50: lambda: a & operand,
        0x60: lambda: a << operand,
        0x70: lambda: a >> operand,
        0x80: lambda: -a,
        0xA0: lambda: a ^ operand,
    }
    if operation not in operations:
        raise ValueError(f"ALU operation {operation:#x} is not emulated")
    return operations[operation]()


def _action(value: int) -> int:
    """The kernel's ACTION_ONLY: the action bits as a signed 32-bit number (smaller is stricter)."""
    action = value & ACTION_FULL
    return action - (1 << 32) if action & 0x80000000 else action


def stacked(programs: list[list[tuple[int, int, int, int]]], data: bytes, loaded: set[int] | None = None) -> int:
    """What a process holding `programs` (oldest first) gets: the kernel runs the newest first and keeps the
    strictest action, the first found among equals."""
    result = 0x7FFF0000  # SECCOMP_RET_ALLOW
    for program in reversed(programs):
        value = run(program, data, loaded)
        if _action(value) < _action(result):
            result = value
    return result


def constants(*programs: list[tuple[int, int, int, int]]) -> set[int]:
    """Every constant the programs compare or mask with (the values whose neighbours change their answers)."""
    found = set()
    for program in programs:
        for code, _, _, k in program:
            if code & 0x07 in (0x04, 0x05) and not code & 0x08:
                found.add(k)
    return found
