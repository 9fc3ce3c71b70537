"""What a value must be to be stored, checked at one boundary for every method.

Each check raises `ValidationError` naming the field (a dotted path inside a
JSON value), so bad input never reaches the database driver. The limits are
the same on every backend and documented in docs/API.md:

- JSON values (metadata, message content, snapshots, step results, eval
  payloads) hold only what JSON holds: objects with text keys, arrays, text,
  finite numbers, booleans and null, nested at most `MAX_JSON_DEPTH` deep. An
  aware `datetime` inside becomes Mastra's ISO-8601 `...Z` text (as
  `JSON.stringify` of a `Date`); a tuple becomes an array.
- Text: a lone UTF-16 surrogate (half an emoji cut by a stream) becomes
  U+FFFD, as Mastra's TypeScript stores it; in an id it is refused.
- Ids (thread, message, resource, run ids, workflow names, ...) are at most
  `MAX_ID_LENGTH` characters.
- Page sizes and window sizes are whole numbers (not `bool`) from 0 to
  `MAX_PAGE_SIZE`; an offset (`page * per_page`) at most `MAX_OFFSET`.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .clock import format_iso
from .errors import ValidationError

MAX_JSON_DEPTH = 100
"""How deep objects and arrays may nest inside one JSON value."""
MAX_JSON_INT_DIGITS = 4_300
"""Digits of an integer inside a JSON value at most: what Python writes as
text by default (`sys.get_int_max_str_digits()`); a longer one is refused
rather than failing in the encoder."""
_INT_BOUND = 10**MAX_JSON_INT_DIGITS
MAX_ID_LENGTH = 255
"""Characters in an id (any backend; PostgreSQL's index rows bound it)."""
MAX_THREAD_IDS = 1000
"""Distinct thread ids one `list_messages(thread_id=[...])` call may name: a
page read over more threads than a page holds has no use, and its one
statement would carry a bound parameter per id."""
MAX_PAGE_SIZE = 100_000
"""Largest `per_page`, `with_previous_messages`, `with_next_messages`."""
MAX_OFFSET = 2**31 - 1
"""Largest `page * per_page`."""
MAX_INT = 2**63 - 1
"""Integers passed as arguments (fencing tokens) fit a signed 64-bit column."""

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


_SUMMARY = reprlib.Repr()
_SUMMARY.maxlevel = 2
_SUMMARY.maxstring = _SUMMARY.maxother = _SUMMARY.maxlong = 40


MARIADB_MAX_JSON_DEPTH = 32
"""MariaDB's JSON columns and functions refuse a document nested deeper than
this (`JSON_DEPTH`: a scalar or an empty array or object is 1, a container one
more than its deepest item): there a value deeper than this is a
`ValidationError`, whatever `MAX_JSON_DEPTH` allows elsewhere."""


def json_depth(value: Any) -> int:
    """`JSON_DEPTH` of a JSON value (see `MARIADB_MAX_JSON_DEPTH`), walked
    without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list | tuple):
            stack.extend((child, depth + 1) for child in children)
    return deepest


def summary(value: object) -> str:
    """A short, bounded description of a caller's value for an error message:
    its type and a truncated repr, never the whole value (a huge or deeply
    nested value would flood the message or overflow the stack)."""
    try:
        shown = _SUMMARY.repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        shown = "..."
    return f"{type(value).__name__} {shown}"


def clean_text(value: str) -> str:
    """`value` with every lone surrogate replaced by U+FFFD (a plain `str`)."""
    if str.isascii(value):  # str's own: a subclass may say otherwise
        return value if type(value) is str else str.__str__(value)
    text = value if type(value) is str else str.__str__(value)
    return _SURROGATE.sub(REPLACEMENT, text) if _SURROGATE.search(text) else text


def has_surrogate(value: str) -> bool:
    return not str.isascii(value) and _SURROGATE.search(value) is not None


def check_id(value: Any, field: str) -> str:
    """A non-empty id of at most `MAX_ID_LENGTH` characters without surrogates."""
    if type(value) is str and value.isascii() and len(value) <= MAX_ID_LENGTH:
        # The common case (ASCII: no surrogate), in one frame.
        if value and not value.isspace():
            return value
        raise ValidationError(f"{field} must be a non-empty string", field=field)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be a non-empty string", field=field)
    return id_text(value, field)


def id_text(value: str, field: str) -> str:
    """The length and surrogate checks of `check_id` (emptiness left to the caller)."""
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(
            f"{field} is {len(value)} characters long; ids are at most {MAX_ID_LENGTH}",
            field=field,
        )
    if has_surrogate(value):
        raise ValidationError(
            f"{field} holds a lone UTF-16 surrogate, which an id cannot hold", field=field
        )
    return value if type(value) is str else str.__str__(value)


def json_value(value: Any, field: str) -> Any:
    """`value` as the JSON value that is stored (see the module docstring), or
    `ValidationError` naming `field` and the path inside it."""
    try:
        return _plain_json(value, 0)
    except _NotPlain:
        # `_json` returns the same for what `_plain_json` takes, and says
        # where and why for the rest.
        return _json(value, field, 0)


_PLAIN_LEAVES = frozenset({type(None), bool})
"""Leaves kept as they are without a check (an `int` is checked for its length)."""


class _NotPlain(Exception):
    """Raised by `_plain_json` for what it leaves to `_json`."""


def _plain_json(value: Any, depth: int) -> Any:
    """`_json` for plain JSON data (exact `dict`, `list`, `tuple`, `str`,
    `int`, `bool`, finite `float`, None), without building a path per item:
    the common case, at about half the cost. Raises `_NotPlain` for anything
    else (an error, a subclass, a datetime, nesting at the limit)."""
    kind = type(value)
    if kind is dict:  # first: a value to store is mostly an object
        if depth >= MAX_JSON_DEPTH:
            raise _NotPlain
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            if not key.isascii():
                key = clean_text(key)
            item_kind = type(item)
            if (
                (item_kind is str and item.isascii())
                or item_kind in _PLAIN_LEAVES
                or (item_kind is int and -_INT_BOUND < item < _INT_BOUND)
            ):
                out[key] = item
            else:
                out[key] = _plain_json(item, depth + 1)
        return out
    if kind is str:
        return value if value.isascii() else clean_text(value)
    if value is None or kind is bool:
        return value
    if kind is int:
        if -_INT_BOUND < value < _INT_BOUND:
            return value
        raise _NotPlain
    if kind is float:
        if not math.isfinite(value):
            raise _NotPlain
        return value
    if depth >= MAX_JSON_DEPTH:
        raise _NotPlain
    if kind is list or kind is tuple:
        return [
            item if type(item) is str and item.isascii() else _plain_json(item, depth + 1)
            for item in value
        ]
    raise _NotPlain


def json_object(value: Any, field: str) -> dict[str, Any]:
    cleaned = json_value(value, field)
    if not isinstance(cleaned, dict):
        raise ValidationError(f"{field} must be a mapping", field=field)
    return cleaned


def json_object_as_is(value: dict[str, Any], field: str) -> dict[str, Any]:
    """`json_object` for a value the call encodes at once and keeps no
    reference to (a workflow snapshot): a dict of plain JSON that the check
    leaves unchanged (exact `dict`, `list`, `tuple`, `str` without a lone
    surrogate, `int`, `bool`, finite `float`, None; text keys; within
    `MAX_JSON_DEPTH`) is returned itself, checked without building a copy;
    anything else goes through `json_object` (its copy, or its
    `ValidationError`). The stored JSON text is the same either way."""
    if _as_is(value, 0):
        return value
    return json_object(value, field)


def _as_is(value: dict[str, Any], depth: int) -> bool:
    """True when the dict `value` holds only what `_plain_json` keeps as it is."""
    if depth >= MAX_JSON_DEPTH:
        return False
    for key in value:
        if type(key) is not str or (not key.isascii() and has_surrogate(key)):
            return False
    return _items_as_is(value.values(), depth)


def _items_as_is(items: Iterable[Any], depth: int) -> bool:
    """`_as_is` for the values of a dict, or the items of an array, at `depth`."""
    for item in items:
        kind = type(item)
        if kind is str:
            if not item.isascii() and has_surrogate(item):
                return False
        elif kind is int:
            if not -_INT_BOUND < item < _INT_BOUND:
                return False
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif kind is dict:
            if not _as_is(item, depth + 1):
                return False
        elif kind is list or kind is tuple:
            if depth + 1 >= MAX_JSON_DEPTH or not _items_as_is(item, depth + 1):
                return False
        elif kind not in _PLAIN_LEAVES:
            return False
    return True


Path = str | tuple[Any, str | int]
"""Where a value sits in the caller's argument: the field's name, or (the
parent's `Path`, a key or index). Built as a chain of pairs while walking,
which costs far less than a string per node; spelled out only for an error."""


def _json(value: Any, path: Path, depth: int) -> Any:
    kind = type(value)
    if kind is str:
        return value if value.isascii() else clean_text(value)
    if value is None or kind is bool:
        return value
    if kind is int:
        return _json_int(value, path)
    if kind is float:
        if not math.isfinite(value):
            raise _not_json(path, f"{value} is not a JSON number (NaN and infinity are not)")
        return value
    if kind is dict or kind is list or kind is tuple:
        pass
    elif isinstance(value, str):
        return clean_text(value)
    elif isinstance(value, bool):
        return bool(value)
    elif isinstance(value, int):
        return _json_int(int(value), path)
    elif isinstance(value, float):
        return _json(float(value), path, depth)
    elif isinstance(value, datetime):
        try:
            return format_iso(value)
        except ValueError as error:
            where = spelled(path)
            raise ValidationError(f"{where}: {error}", field=field_of(path)) from None
    elif not isinstance(value, dict | list | tuple):
        raise _not_json(path, f"a {type(value).__name__} is not a JSON value")
    if depth >= MAX_JSON_DEPTH:
        raise ValidationError(
            f"{spelled(path)}: nested deeper than {MAX_JSON_DEPTH} levels", field=field_of(path)
        )
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _not_json(path, f"key {summary(key)} is not text; JSON keys are text")
            key = clean_text(key)
            out[key] = _json(item, (path, key), depth + 1)
        return out
    return [_json(item, (path, index), depth + 1) for index, item in enumerate(value)]


def _json_int(value: int, path: Path) -> int:
    if -_INT_BOUND < value < _INT_BOUND:
        return value
    raise _not_json(path, f"an integer longer than {MAX_JSON_INT_DIGITS} digits is not stored")


MAX_PATH_LENGTH = 200
"""Characters of a path an error message spells out at most (then `...`)."""


def spelled(path: Path) -> str:
    """`field.key[0].key` for a `Path`; cut to about `MAX_PATH_LENGTH` characters."""
    parts: list[str | int] = []
    while isinstance(path, tuple):
        path, part = path
        parts.append(part)
    text = path
    for part in reversed(parts):
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
        if len(text) >= MAX_PATH_LENGTH:
            return text + "..."
    return text


def field_of(path: Path) -> str:
    """The argument a `Path` starts from."""
    while isinstance(path, tuple):
        path = path[0]
    return path.split(".")[0].split("[")[0]


def _not_json(path: Path, why: str) -> ValidationError:
    return ValidationError(f"{spelled(path)}: {why}", field=field_of(path))


def whole_number(value: Any, field: str, *, minimum: int = 0, maximum: int = MAX_PAGE_SIZE) -> int:
    """An `int` (not a `bool`) from `minimum` to `maximum`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            f"{field} must be a whole number, got {type(value).__name__}", field=field
        )
    if not minimum <= value <= maximum:
        raise ValidationError(f"{field} must be >= {minimum} and <= {maximum}", field=field)
    return int(value)
