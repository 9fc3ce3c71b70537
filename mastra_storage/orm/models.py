"""Declarative models of Mastra's tables. Table and column names are Mastra's
(`../shared/mastra-schema.md`); attribute names are snake_case."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Double,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.sqlite import REAL
from sqlalchemy.orm import Mapped, mapped_column

from .base import POSTGRESQL_ONLY, Base, Id
from .types import StringifiedJSON, UTCDateTimeTZ


def timestamp_twin(name: str) -> Mapped[datetime | None]:
    """Mastra's `"<col>Z" timestamptz DEFAULT now()` twin of a timestamp column,
    present on PostgreSQL only and filled by every writer."""
    return mapped_column(
        name,
        UTCDateTimeTZ(),
        server_default=func.now(),
        nullable=True,
        deferred=True,
        info={POSTGRESQL_ONLY: True},
    )


class ThreadRow(Base):
    __tablename__ = "mastra_threads"

    id: Mapped[Id] = mapped_column(primary_key=True)
    resource_id: Mapped[Id] = mapped_column("resourceId")
    title: Mapped[str]
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata")
    created_at: Mapped[datetime] = mapped_column("createdAt")
    updated_at: Mapped[datetime] = mapped_column("updatedAt")
    created_at_z: Mapped[datetime | None] = timestamp_twin("createdAtZ")
    updated_at_z: Mapped[datetime | None] = timestamp_twin("updatedAtZ")

    __table_args__ = (
        Index("mastra_threads_resourceid_createdat_idx", "resourceId", "createdAt"),
        Index("mastra_threads_resourceid_updatedat_idx", "resourceId", "updatedAt"),
    )


class MessageRow(Base):
    __tablename__ = "mastra_messages"

    id: Mapped[Id] = mapped_column(primary_key=True)
    thread_id: Mapped[Id]
    # A JSON string of the v2 content, as Mastra stores it (text, not jsonb).
    content: Mapped[str] = mapped_column(Text().with_variant(mysql.LONGTEXT(), "mysql"))
    role: Mapped[str]
    type: Mapped[str]
    created_at: Mapped[datetime] = mapped_column("createdAt")
    resource_id: Mapped[Id | None] = mapped_column("resourceId")
    created_at_z: Mapped[datetime | None] = timestamp_twin("createdAtZ")

    __table_args__ = (
        # Serves "messages of a thread in createdAt order", ties broken by id, so
        # pages, last-N reads and context windows are index range scans.
        Index("mastra_messages_thread_id_createdat_id_idx", "thread_id", "createdAt", "id"),
        Index("mastra_messages_resourceid_createdat_id_idx", "resourceId", "createdAt", "id"),
    )


class ResourceRow(Base):
    __tablename__ = "mastra_resources"

    id: Mapped[Id] = mapped_column(primary_key=True)
    working_memory: Mapped[str | None] = mapped_column("workingMemory")
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata")
    created_at: Mapped[datetime] = mapped_column("createdAt")
    updated_at: Mapped[datetime] = mapped_column("updatedAt")
    created_at_z: Mapped[datetime | None] = timestamp_twin("createdAtZ")
    updated_at_z: Mapped[datetime | None] = timestamp_twin("updatedAtZ")


class WorkflowSnapshotRow(Base):
    __tablename__ = "mastra_workflow_snapshot"

    workflow_name: Mapped[Id]
    run_id: Mapped[Id]
    resource_id: Mapped[Id | None] = mapped_column("resourceId")
    snapshot: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column("createdAt")
    updated_at: Mapped[datetime] = mapped_column("updatedAt")
    created_at_z: Mapped[datetime | None] = timestamp_twin("createdAtZ")
    updated_at_z: Mapped[datetime | None] = timestamp_twin("updatedAtZ")

    __table_args__ = (
        # Mastra's key is a UNIQUE constraint, not a primary key; the mapper
        # treats it as the identity.
        UniqueConstraint("workflow_name", "run_id"),
        Index("mastra_workflow_snapshot_name_createdat_idx", "workflow_name", "createdAt"),
        Index("mastra_workflow_snapshot_run_id_idx", "run_id"),
        Index("mastra_workflow_snapshot_resourceid_createdat_idx", "resourceId", "createdAt"),
    )
    __mapper_args__ = {
        **Base.__mapper_args__,
        "primary_key": ["workflow_name", "run_id"],
    }


class EvalResultRow(Base):
    __tablename__ = "mastra_evals"

    # Mastra's table has no key; this surrogate one is filled by the database
    # and ignored by Mastra's readers and writers.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    input: Mapped[str]
    output: Mapped[str]
    result: Mapped[dict[str, Any]]
    agent_name: Mapped[Id]
    metric_name: Mapped[str]
    instructions: Mapped[str]
    test_info: Mapped[dict[str, Any] | None]
    global_run_id: Mapped[Id]
    run_id: Mapped[Id]
    created_at: Mapped[datetime]
    created_at_camel: Mapped[datetime | None] = mapped_column("createdAt")
    created_at_z: Mapped[datetime | None] = timestamp_twin("created_atZ")
    created_at_camel_z: Mapped[datetime | None] = timestamp_twin("createdAtZ")

    __table_args__ = (
        Index("mastra_evals_agent_name_created_at_idx", "agent_name", "created_at", "id"),
    )


def stringified_json(
    name: str, *, nullable: bool = True, not_null_in_mastra_pg: bool = False
) -> Mapped[Any]:
    return mapped_column(
        name,
        StringifiedJSON(null_as_json_on_postgresql=not_null_in_mastra_pg),
        nullable=nullable,
    )


class ScoreResultRow(Base):
    """Mastra 1.x `mastra_scorers`: one scorer result per row.

    Mastra's two adapters disagree on NOT NULL (`@mastra/pg` sets it on the
    columns its writer always fills, `@mastra/libsql` on `id` only); this table
    is NOT NULL where both writers always fill the column, so either writer's
    rows fit, and `input`/`output` stay nullable (libsql may leave them out).
    """

    __tablename__ = "mastra_scorers"

    id: Mapped[Id] = mapped_column(primary_key=True)
    scorer_id: Mapped[Id] = mapped_column("scorerId")
    trace_id: Mapped[Id | None] = mapped_column("traceId")
    span_id: Mapped[Id | None] = mapped_column("spanId")
    run_id: Mapped[Id] = mapped_column("runId")
    scorer: Mapped[Any] = stringified_json("scorer", nullable=False)
    preprocess_step_result: Mapped[Any] = stringified_json("preprocessStepResult")
    extract_step_result: Mapped[Any] = stringified_json("extractStepResult")
    analyze_step_result: Mapped[Any] = stringified_json("analyzeStepResult")
    score: Mapped[float] = mapped_column(Double().with_variant(REAL(), "sqlite"))
    reason: Mapped[str | None]
    metadata_: Mapped[Any] = stringified_json("metadata")
    preprocess_prompt: Mapped[str | None] = mapped_column("preprocessPrompt")
    extract_prompt: Mapped[str | None] = mapped_column("extractPrompt")
    generate_score_prompt: Mapped[str | None] = mapped_column("generateScorePrompt")
    generate_reason_prompt: Mapped[str | None] = mapped_column("generateReasonPrompt")
    analyze_prompt: Mapped[str | None] = mapped_column("analyzePrompt")
    reason_prompt: Mapped[str | None] = mapped_column("reasonPrompt")
    input: Mapped[Any] = stringified_json("input", not_null_in_mastra_pg=True)
    output: Mapped[Any] = stringified_json("output", not_null_in_mastra_pg=True)
    additional_context: Mapped[Any] = stringified_json("additionalContext")
    request_context: Mapped[Any] = stringified_json("requestContext")
    entity_type: Mapped[Id | None] = mapped_column("entityType")
    entity: Mapped[Any] = stringified_json("entity")
    entity_id: Mapped[Id | None] = mapped_column("entityId")
    source: Mapped[str]
    resource_id: Mapped[Id | None] = mapped_column("resourceId")
    thread_id: Mapped[Id | None] = mapped_column("threadId")
    organization_id: Mapped[str | None] = mapped_column("organizationId")
    project_id: Mapped[str | None] = mapped_column("projectId")
    batch_id: Mapped[str | None] = mapped_column("batchId")
    dataset_id: Mapped[str | None] = mapped_column("datasetId")
    dataset_item_id: Mapped[str | None] = mapped_column("datasetItemId")
    created_at: Mapped[datetime] = mapped_column("createdAt")
    updated_at: Mapped[datetime] = mapped_column("updatedAt")
    created_at_z: Mapped[datetime | None] = timestamp_twin("createdAtZ")
    updated_at_z: Mapped[datetime | None] = timestamp_twin("updatedAtZ")

    __table_args__ = (
        # One per list call, newest first with ties broken by id.
        Index("mastra_scorers_scorerid_createdat_id_idx", "scorerId", "createdAt", "id"),
        Index("mastra_scorers_runid_createdat_id_idx", "runId", "createdAt", "id"),
        Index(
            "mastra_scorers_entityid_entitytype_createdat_id_idx",
            "entityId",
            "entityType",
            "createdAt",
            "id",
        ),
        Index(
            "mastra_scorers_traceid_spanid_createdat_id_idx",
            "traceId",
            "spanId",
            "createdAt",
            "id",
        ),
        Index("mastra_scorers_resourceid_idx", "resourceId"),
        Index("mastra_scorers_updatedat_idx", "updatedAt"),
    )


class WorkflowRunLockRow(Base):
    """Our table, not Mastra's: who holds each workflow run's lock, and its
    fencing counter.

    A run gets its row on its first acquisition, and nothing deletes it, so
    `fencing_token` only grows. Releasing a lease clears `holder` and
    `expires_at`; an advisory row is free as soon as its advisory lock is.
    """

    __tablename__ = "mastra_workflow_run_locks"

    workflow_name: Mapped[Id] = mapped_column(primary_key=True)
    run_id: Mapped[Id] = mapped_column(primary_key=True)
    holder: Mapped[str | None]
    # Which lock backend took the row: "advisory" rows are live while their
    # PostgreSQL advisory lock is held, "lease" rows until `expires_at`.
    backend: Mapped[str]
    fencing_token: Mapped[int] = mapped_column(BigInteger)
    acquired_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]


class MemoryMessageRow(Base):
    """Our table, not Mastra's: one embedding per message, for `Memory`'s
    semantic recall (Mastra keeps these in a vector store's `memory_messages`
    index, with the same ids in its metadata).

    `vector` is the unit-length embedding as little-endian float32 bytes
    (`dimension` * 4 bytes); cosine similarity is then a dot product.
    """

    __tablename__ = "memory_messages"

    message_id: Mapped[Id] = mapped_column(primary_key=True)
    thread_id: Mapped[Id]
    resource_id: Mapped[Id | None]
    dimension: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary().with_variant(mysql.LONGBLOB(), "mysql"))
    created_at: Mapped[datetime]

    __table_args__ = (
        # A search streams the rows of one scope; the dimension index answers
        # "which dimensions are stored" with MIN/MAX, without a scan.
        Index("memory_messages_thread_id_idx", "thread_id"),
        Index("memory_messages_resource_id_idx", "resource_id"),
        Index("memory_messages_dimension_idx", "dimension"),
    )
