"""The declarative base: our own MetaData with a naming convention, and the
type map that gives every annotated column the right Mastra type."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from sqlalchemy import MetaData
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.schema import CreateColumn
from sqlalchemy.sql.compiler import DDLCompiler

from .types import IdText, JSONValue, SafeText, UTCDateTime

NAMING_CONVENTION = {
    "ix": "%(table_name)s_%(column_0_N_name)s_idx",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}

VERSION_TABLE = "mastra_storage_alembic_version"
"""Our Alembic version table, apart from a host application's `alembic_version`."""

EXPRESSION_INDEXES = (
    "mastra_workflow_snapshot_name_status_createdat_idx",
    "mastra_workflow_snapshot_threadid_idx",
)
"""Mastra's expression indexes, which migrations create (with Mastra's exact
expressions, per dialect) and the models do not declare; autogenerate leaves
them, and Mastra's schema-prefixed copies of them, alone."""

POSTGRESQL_ONLY = "mastra_storage_postgresql_only"
"""`Column.info` key of columns that exist on PostgreSQL only (the `...Z` twins)."""


Id = Annotated[str, "mastra_storage_id"]
"""`Mapped[Id]`: an id column (`IdText`: VARCHAR(255) on MySQL, TEXT elsewhere)."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # A row added through a Session is not read back by RETURNING for its
    # server defaults: those include the PostgreSQL-only `"<col>Z"` twins,
    # which a RETURNING elsewhere names in vain (MySQL: unknown column;
    # SQLite: the name comes back as a string). They load on access instead.
    __mapper_args__ = {"eager_defaults": False}
    type_annotation_map = {
        Id: IdText(),
        str: SafeText(),
        datetime: UTCDateTime(),
        dict[str, Any]: JSONValue(),
    }


@compiles(CreateColumn)
def _skip_postgresql_only_columns(element: CreateColumn, compiler: DDLCompiler, **kw: Any) -> Any:
    """Mastra's `"<col>Z"` timestamptz twins exist on PostgreSQL only: leave them
    out of CREATE TABLE elsewhere, so a SQLite file has exactly Mastra's columns."""
    column = element.element
    if column.info.get(POSTGRESQL_ONLY) and compiler.dialect.name != "postgresql":
        return None
    return compiler.visit_create_column(element, **kw)  # type: ignore[no-untyped-call]
