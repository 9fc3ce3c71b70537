"""Declarative ORM models of Mastra's tables, their MetaData and column types.

A host application can import `metadata` (or the models) to see our tables;
`include_object` keeps them out of the host's own autogenerate.
"""

from __future__ import annotations

from typing import Any

from .base import EXPRESSION_INDEXES, NAMING_CONVENTION, POSTGRESQL_ONLY, VERSION_TABLE, Base
from .models import (
    EvalResultRow,
    MemoryMessageRow,
    MessageRow,
    ResourceRow,
    ScoreResultRow,
    ThreadRow,
    WorkflowRunLockRow,
    WorkflowSnapshotRow,
)
from .types import JSONValue, SafeText, StringifiedJSON, UTCDateTime, UTCDateTimeTZ

metadata = Base.metadata
TABLE_NAMES = frozenset(metadata.tables)
LIBRARY_TABLES = TABLE_NAMES | {VERSION_TABLE}
"""Every table this library creates, its version table included."""


def include_object(
    object_: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """For a host's Alembic `include_object`: leaves this library's tables (its
    version table too, and their columns, indexes and constraints) out of the
    host's autogenerate."""
    table = object_ if type_ == "table" else getattr(object_, "table", None)
    table_name = name if type_ == "table" else getattr(table, "name", None)
    return table_name not in LIBRARY_TABLES


__all__ = [
    "EXPRESSION_INDEXES",
    "LIBRARY_TABLES",
    "NAMING_CONVENTION",
    "POSTGRESQL_ONLY",
    "TABLE_NAMES",
    "VERSION_TABLE",
    "Base",
    "EvalResultRow",
    "JSONValue",
    "MemoryMessageRow",
    "MessageRow",
    "ResourceRow",
    "SafeText",
    "ScoreResultRow",
    "StringifiedJSON",
    "ThreadRow",
    "UTCDateTime",
    "UTCDateTimeTZ",
    "WorkflowRunLockRow",
    "WorkflowSnapshotRow",
    "include_object",
    "metadata",
]
