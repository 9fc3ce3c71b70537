"""Marks on operations that tell the facades how little transaction they need."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_SINGLE_STATEMENT = "__mastra_storage_single_statement__"


def single_statement(operation: F) -> F:
    """Mark a read that sends exactly one statement, whatever its arguments.

    One statement is atomic and sees one snapshot by itself, so a facade may
    run the operation without BEGIN and COMMIT of its own (SQLite: the
    statement is its own transaction). tests/test_single_statement.py checks
    every marked operation sends one statement."""
    setattr(operation, _SINGLE_STATEMENT, True)
    return operation


def is_single_statement(operation: Callable[..., Any]) -> bool:
    """Whether `operation` is marked `single_statement`."""
    return getattr(operation, _SINGLE_STATEMENT, False) is True
