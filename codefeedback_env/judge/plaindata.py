"""Encode and decode plain built-in data (no user classes) as JSON, for values crossing the sandbox.

Function-style tests send call arguments into the sandboxed program and its return values back.
Only built-in values cross: a subclass instance (a `Counter`, or an int whose `__eq__` always returns
True) arrives as its plain base value, and any other object cannot be encoded, so the checker in the
parent only ever compares plain values. This module imports nothing outside the standard library:
the sandbox child imports it too.
"""

from __future__ import annotations

import base64
import json
from typing import Any

MAX_DEPTH = 200


class PlainDataError(ValueError):
    """A value is not plain built-in data, or an encoded message is malformed."""


# Subclasses of built-in types cross as their base value, converted without calling their own methods
# where the base type offers that, so behaviour (an `__eq__` that always returns True) never crosses.
_BASE_CONVERSIONS: tuple[tuple[type, Any], ...] = (
    (bool, bool),
    (int, int.__int__),
    (float, float.__float__),
    (str, str.__str__),
    (bytes, bytes),
    (complex, complex.__complex__),
    (dict, lambda value: dict(dict.items(value))),
    (list, list),
    (tuple, tuple),
    (set, set),
    (frozenset, frozenset),
)


def _encode(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise PlainDataError(f"value nested deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if value == value and value not in (float("inf"), float("-inf")) else {"x": repr(value)}
    if kind is list:
        return [_encode(v, depth + 1) for v in value]
    if kind is tuple:
        return {"t": [_encode(v, depth + 1) for v in value]}
    if kind is set:
        return {"s": [_encode(v, depth + 1) for v in value]}
    if kind is frozenset:
        return {"f": [_encode(v, depth + 1) for v in value]}
    if kind is dict:
        return {"d": [[_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in value.items()]}
    if kind is bytes:
        return {"b": base64.b64encode(value).decode("ascii")}
    if kind is complex:
        return {"c": [_encode(value.real, depth + 1), _encode(value.imag, depth + 1)]}
    for base, convert in _BASE_CONVERSIONS:
        if isinstance(value, base):  # a subclass (Counter, namedtuple, ...): send its plain base value
            return _encode(convert(value), depth + 1)
    raise PlainDataError(f"a {kind.__module__}.{kind.__qualname__} is not plain built-in data")


_SPECIAL_FLOATS = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def _decode(node: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise PlainDataError(f"value nested deeper than {MAX_DEPTH} levels")
    kind = type(node)
    if node is None or kind in (bool, int, float, str):
        return node
    if kind is list:
        return [_decode(v, depth + 1) for v in node]
    if kind is not dict or len(node) != 1:
        raise PlainDataError(f"malformed plain-data node of type {kind.__name__}")
    ((tag, body),) = node.items()
    try:
        if tag == "t":
            return tuple(_decode(v, depth + 1) for v in body)
        if tag == "s":
            return {_decode(v, depth + 1) for v in body}
        if tag == "f":
            return frozenset(_decode(v, depth + 1) for v in body)
        if tag == "d":
            return {_decode(k, depth + 1): _decode(v, depth + 1) for k, v in body}
        if tag == "b":
            return base64.b64decode(body.encode("ascii"), validate=True)
        if tag == "c":
            real, imag = (_decode(v, depth + 1) for v in body)
            return complex(real, imag)
        if tag == "x":
            return _SPECIAL_FLOATS[body]
    except PlainDataError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise PlainDataError(f"malformed plain-data node tagged {tag!r}: {error}") from None
    raise PlainDataError(f"unknown plain-data tag {tag!r}")


def dumps(value: Any) -> bytes:
    """Encode plain data to UTF-8 JSON bytes; raises PlainDataError for anything else."""
    try:
        text = json.dumps(_encode(value, 0), ensure_ascii=False, separators=(",", ":"))
    except (ValueError, RecursionError) as error:  # e.g. an int longer than sys.get_int_max_str_digits()
        raise PlainDataError(f"cannot encode value: {error}") from None
    return text.encode("utf-8", "surrogatepass")


def loads(data: bytes) -> Any:
    """Decode bytes made by `dumps`; raises PlainDataError on malformed input."""
    try:
        tree = json.loads(data.decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError) as error:  # includes JSONDecodeError and UnicodeDecodeError
        raise PlainDataError(f"malformed plain-data message: {error}") from None
    return _decode(tree, 0)
