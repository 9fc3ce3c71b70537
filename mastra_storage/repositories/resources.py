"""Resources (per-user working memory): `mastra_resources`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select

from ..dialects import Executor, create_row_to_lock, features, lock_rows, upsert
from ..direct import prepare
from ..domain import StorageResource
from ..orm import ResourceRow
from ._common import from_row, twin_pairs, twin_updates, with_twins

TABLE = cast(Table, ResourceRow.__table__)
PAIRS = twin_pairs(TABLE)
COLUMNS = (
    ResourceRow.id,
    ResourceRow.working_memory,
    ResourceRow.metadata_,
    ResourceRow.created_at,
    ResourceRow.updated_at,
)


_BY_ID = prepare(select(*COLUMNS).where(ResourceRow.id == bindparam("id")))
_BY_ID_FOR_UPDATE = _BY_ID.with_for_update()


def to_resource(row: Sequence[Any]) -> StorageResource:
    return from_row(StorageResource, row)


class ResourceRepository:
    """Reads and writes resources in the caller's session; never commits."""

    def __init__(self, session: Executor) -> None:
        self.session = session
        self.features = features(session)

    def get(self, resource_id: str, *, for_update: bool = False) -> StorageResource | None:
        stmt = _BY_ID
        if for_update:
            lock_rows(self.session, TABLE, ResourceRow.id == resource_id)
            if self.features.row_locks:
                stmt = _BY_ID_FOR_UPDATE
        row = self.session.execute(stmt, {"id": resource_id}).first()
        return None if row is None else to_resource(row)

    def lock(self, resource_id: str, now: datetime) -> StorageResource | None:
        """The resource, its row locked until the transaction ends, for a
        read-modify-write that creates it when missing: where a missing row
        cannot be locked (PostgreSQL), a blank one (`created_at` = `now`) is
        inserted first, so concurrent first writers queue instead of
        overwriting each other. None when it does not exist (SQLite)."""
        values = with_twins(
            self.features, PAIRS, {"id": resource_id, "createdAt": now, "updatedAt": now}
        )
        create_row_to_lock(self.session, TABLE, keys=["id"], values=values)
        return self.get(resource_id, for_update=True)

    def save(self, resource: StorageResource) -> StorageResource:
        """Insert or replace by id; `created_at` stays as first saved."""
        values = with_twins(
            self.features,
            PAIRS,
            {
                "id": resource.id,
                "workingMemory": resource.working_memory,
                "metadata": resource.metadata,
                "createdAt": resource.created_at,
                "updatedAt": resource.updated_at,
            },
        )
        stmt = upsert(
            self.features,
            TABLE,
            keys=["id"],
            update_columns=twin_updates(
                self.features, PAIRS, ["workingMemory", "metadata", "updatedAt"]
            ),
        )
        return to_resource(self.session.execute(stmt.values(values).returning(*COLUMNS)).one())
