"""Declarative ORM models of Mastra's tables, their MetaData and column types.

A host application can import `metadata` (or the models) to see our tables;
`include_object` keeps them out of the host's own autogenerate.
"""

from __future__ import annotations

from typing import Any

from .base import NAMING_CONVENTION, POSTGRESQL_ONLY, Base, is_present
from .models import EvalResultRow, MessageRow, ResourceRow, ThreadRow, WorkflowSnapshotRow
from .types import JSONValue, SafeText, UTCDateTime, UTCDateTimeTZ

metadata = Base.metadata
TABLE_NAMES = frozenset(metadata.tables)


def include_object(
    object_: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """For a host's Alembic `include_object`: leaves this library's tables (and
    their indexes and constraints) out of the host's autogenerate."""
    table = getattr(object_, "table", None) if type_ != "table" else object_
    table_name = name if type_ == "table" else getattr(table, "name", None)
    return table_name not in TABLE_NAMES


__all__ = [
    "NAMING_CONVENTION",
    "POSTGRESQL_ONLY",
    "TABLE_NAMES",
    "Base",
    "EvalResultRow",
    "JSONValue",
    "MessageRow",
    "ResourceRow",
    "SafeText",
    "ThreadRow",
    "UTCDateTime",
    "UTCDateTimeTZ",
    "WorkflowSnapshotRow",
    "include_object",
    "is_present",
    "metadata",
]
