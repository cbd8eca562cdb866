"""Framing between the pool and a worker: length-prefixed JSON control messages, file descriptors attached.

Only small control data crosses this socket (limits, exit status, timings). Programs, stdin and
outputs travel in memfds the parent creates and passes with SCM_RIGHTS, so the worker never holds
test data in its memory. Standard library only: the worker imports this module too.
"""

from __future__ import annotations

import _socket  # not `socket`: the worker imports this module, and socket's enums slow its forks
import json
import os
import struct
from array import array
from collections.abc import Sequence
from typing import Any

HEADER = struct.Struct("<I")
MAX_MESSAGE_BYTES = 1 << 20
MAX_FDS = 8
_FD_SPACE = _socket.CMSG_SPACE(MAX_FDS * array("i").itemsize)
_encode = json.JSONEncoder(separators=(",", ":")).encode  # built once (`json.dumps` with options builds one per call)
_decode = json.JSONDecoder().decode


class ChannelClosed(EOFError):
    """The other side closed the connection or broke the framing."""


class Channel:
    """One end of a worker connection. Not thread-safe: one request at a time per worker."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self._buffer = b""
        self._fds: list[int] = []
        self.last_payload = b""
        """The JSON bytes of the last message received."""

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
        payload = _encode(message).encode()
        data = HEADER.pack(len(payload)) + payload
        try:
            sent = (
                self.sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array("i", fds))])
                if fds
                else self.sock.send(data)
            )
            if sent < len(data):
                self.sock.sendall(data[sent:])
        except OSError as error:
            raise ChannelClosed(f"cannot send to the worker: {error}") from None

    def receive(self) -> tuple[dict[str, Any], list[int]]:
        """The next message and the fds that came with it; blocks (the socket's timeout applies)."""
        payload, fds = self.receive_payload()
        try:
            return _decode(payload.decode()), fds
        except ValueError as error:  # bad JSON or UTF-8
            self._close_fds(fds)
            raise ChannelClosed(f"malformed message: {error}") from None

    def receive_payload(self) -> tuple[bytes, list[int]]:
        """`receive` without decoding: the next message's JSON bytes and its fds (also kept in `last_payload`)."""
        while True:
            if len(self._buffer) >= HEADER.size:
                (size,) = HEADER.unpack_from(self._buffer)
                if size > MAX_MESSAGE_BYTES:
                    raise ChannelClosed(f"message of {size} bytes")
                if len(self._buffer) >= HEADER.size + size:
                    payload = self._buffer[HEADER.size : HEADER.size + size]
                    self._buffer = self._buffer[HEADER.size + size :]
                    fds, self._fds = self._fds, []
                    self.last_payload = payload
                    return payload, fds
            data, fds = _receive_with_fds(self.sock)
            self._fds.extend(fds)
            if not data:
                self._close_fds(self._fds)
                raise ChannelClosed("the connection was closed")
            self._buffer += data

    @property
    def clean(self) -> bool:
        """Nothing received is waiting here: every byte and fd read from the socket belonged to a message
        already returned by `receive`."""
        return not self._buffer and not self._fds

    def peek(self) -> dict[str, Any] | None:
        """The next message if it has fully arrived, without consuming it (its fds stay queued); None if no
        complete message is waiting or this channel is not `clean`. Never blocks."""
        payload = self.peek_payload()
        if payload is None:
            return None
        try:
            message = _decode(payload.decode())
        except ValueError:
            return None
        return message if isinstance(message, dict) else None

    def peek_payload(self) -> bytes | None:
        """`peek` without decoding: the next message's JSON bytes, or None."""
        if not self.clean:
            return None
        try:  # no room for ancillary data: the kernel installs no copy of the message's fds
            data, _, _, _ = self.sock.recvmsg(1 << 16, 0, _socket.MSG_PEEK | _socket.MSG_DONTWAIT)
        except OSError:  # nothing waiting (BlockingIOError) or a broken connection: `receive` will say
            return None
        if len(data) < HEADER.size:
            return None
        (size,) = HEADER.unpack_from(data)
        if size > MAX_MESSAGE_BYTES or len(data) < HEADER.size + size:
            return None
        return data[HEADER.size : HEADER.size + size]

    @staticmethod
    def _close_fds(fds: list[int]) -> None:
        for fd in fds:
            os.close(fd)
        fds.clear()

    def close(self) -> None:
        self._close_fds(self._fds)
        self.sock.close()


def _receive_with_fds(sock: _socket.socket) -> tuple[bytes, list[int]]:
    """`socket.recv_fds` on the bare `_socket` type."""
    data, ancillary, _, _ = sock.recvmsg(1 << 16, _FD_SPACE)
    return data, _fds_of(ancillary)


def _fds_of(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    fds = array("i")
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    return list(fds)
