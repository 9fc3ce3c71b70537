"""Marks on operations that tell the facades how little transaction they need."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_SINGLE_STATEMENT = "__mastra_storage_single_statement__"
_UNLESS = "__mastra_storage_single_statement_unless__"
_POINT = "__mastra_storage_point_read__"
_POINT_WRITE = "__mastra_storage_point_write__"
_WHERE = "__mastra_storage_single_statement_where__"
_SHORT = "__mastra_storage_short_read__"

SHORT_READ_ROWS = 100
"""The most rows a `short_read` returns: building their models on the event
loop's thread takes well under a millisecond."""


def single_statement(operation: F) -> F:
    """Mark a read that sends exactly one statement, whatever its arguments.

    One statement is atomic and sees one snapshot by itself, so a facade may
    run the operation without BEGIN and COMMIT of its own (SQLite: the
    statement is its own transaction). tests/test_single_statement.py checks
    every marked operation sends one statement."""
    setattr(operation, _SINGLE_STATEMENT, True)
    return operation


def point_read(operation: F) -> F:
    """Mark a `single_statement` read of at most one row, found by its key: no
    lock waits (a read), no large result. The async SQLite facade may run it
    on the event loop's own thread (see `AsyncMastraStorage`); checked by
    tests/test_single_statement.py."""
    setattr(operation, _POINT, True)
    return single_statement(operation)


def is_point_read(operation: Callable[..., Any]) -> bool:
    """Whether `operation` is marked `point_read`."""
    return getattr(operation, _POINT, False) is True


def short_read(key: Callable[[Mapping[str, Any]], Hashable | None]) -> Callable[[F], F]:
    """Mark a read that, when `key(arguments)` gives a key (not None) for the
    call's keyword arguments (as given: before any parsing), sends one
    statement taking no lock and returns at most `SHORT_READ_ROWS` rows; the
    key names what the statement reads (a thread, a resource), whose size
    decides how long it runs. The async SQLite facade may run such a read on
    the event loop's own thread, its statement stopped past a time budget
    (see `AsyncMastraStorage`). The operation must also be marked as sending
    one statement then (`single_statement_when`); tests/test_single_statement.py
    checks both."""

    def mark(operation: F) -> F:
        setattr(operation, _SHORT, key)
        return operation

    return mark


def short_read_key(operation: Callable[..., Any], arguments: Mapping[str, Any]) -> Hashable | None:
    """The key of a `short_read` call with these keyword `arguments` (None:
    not marked, or not short with these arguments)."""
    key: Callable[[Mapping[str, Any]], Hashable | None] | None = getattr(operation, _SHORT, None)
    return None if key is None else key(arguments)


def single_statement_unless(*arguments: str) -> Callable[[F], F]:
    """Mark an operation (a write too) that sends exactly one statement when
    each of `arguments` is None: that one statement is atomic by itself, so
    a facade may run it without a transaction of its own (autocommit).
    tests/test_single_statement.py checks it."""

    def mark(operation: F) -> F:
        setattr(operation, _UNLESS, arguments)
        return operation

    return mark


def single_statement_where(
    feature: str, when: Callable[[Mapping[str, Any]], bool]
) -> Callable[[F], F]:
    """Mark an operation (a write too) that sends exactly one statement on a
    backend whose `Features` has `feature` true, when `when(arguments)` says
    so of the call's keyword arguments (as given: before any parsing), so a
    facade may run it without a transaction of its own there (autocommit).
    The operation must then send one statement; it may still send one when
    `when` says no. tests/test_single_statement.py checks it."""

    def mark(operation: F) -> F:
        setattr(operation, _WHERE, (feature, when))
        return operation

    return mark


def single_statement_when(when: Callable[[Mapping[str, Any]], bool]) -> Callable[[F], F]:
    """Mark an operation that sends exactly one statement, on every backend,
    when `when(arguments)` says so of the call's keyword arguments (as
    given: before any parsing): `single_statement_where` without a backend
    condition. tests/test_single_statement.py checks it."""

    def mark(operation: F) -> F:
        setattr(operation, _WHERE, (None, when))
        return operation

    return mark


def is_single_statement(
    operation: Callable[..., Any],
    arguments: Mapping[str, Any] | None = None,
    feats: Any = None,
) -> bool:
    """Whether `operation` is marked `single_statement`; or, called with these
    keyword `arguments`, `single_statement_unless` one that is None in them;
    or, on a backend of these `feats` (`dialects.Features`),
    `single_statement_where` one of them (`single_statement_when`: on any)."""
    if getattr(operation, _SINGLE_STATEMENT, False) is True:
        return True
    where: tuple[str, Callable[[Mapping[str, Any]], bool]] | None = getattr(operation, _WHERE, None)
    if where is not None:
        return (
            (where[0] is None or (feats is not None and getattr(feats, where[0]) is True))
            and arguments is not None
            and where[1](arguments)
        )
    unless: tuple[str, ...] | None = getattr(operation, _UNLESS, None)
    if unless is None or arguments is None:
        return False
    for name in unless:  # noqa: SIM110 (no generator: this runs for every write)
        if arguments.get(name) is not None:
            return False
    return True


def point_write(*arguments: str) -> Callable[[F], F]:
    """Mark a write that, when each of `arguments` is None, sends one
    statement writing one row found by its key (`single_statement_unless`
    those arguments): no large result, and in SQLite's WAL mode its commit
    waits for nothing but the write lock. The async SQLite facade may run it
    on the event loop's own thread (see `AsyncMastraStorage`), async
    PostgreSQL's in two passes on its held connection (`held_connection`:
    the second pass's result is returned, so a point write returns None);
    checked by tests/test_single_statement.py."""
    unless = single_statement_unless(*arguments)

    def mark(operation: F) -> F:
        setattr(operation, _POINT_WRITE, True)
        return unless(operation)

    return mark


def is_point_write(operation: Callable[..., Any]) -> bool:
    """Whether `operation` is marked `point_write` (whose conditions
    `is_single_statement(operation, arguments)` tells for one call)."""
    return getattr(operation, _POINT_WRITE, False) is True


def feature_needed(operation: Callable[..., Any]) -> str | None:
    """The `Features` field a `single_statement_where` mark names (None: no such mark)."""
    where: tuple[str, Any] | None = getattr(operation, _WHERE, None)
    return None if where is None else where[0]


def conditions(operation: Callable[..., Any]) -> tuple[str, ...] | None:
    """The arguments a `single_statement_unless` mark names (None: no such mark)."""
    return getattr(operation, _UNLESS, None)
