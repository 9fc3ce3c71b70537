"""A FastAPI chat service that keeps a chat in its own session.

The host application owns the engine and the `AsyncSession`; mastra-storage's
async API works inside that session (`session=`), so the host's own row (a
per-thread usage counter) and the saved messages (with their recall vectors)
commit, or roll back, together. `AsyncMemory` builds each turn's context: the
last messages, the working memory, and semantically recalled earlier ones.

    pip install 'mastra-storage[async,examples]'   # FastAPI and uvicorn
    cd examples/chat_api && uvicorn chat_api:app    # CHAT_DB_URL, default file:chat.db

The library's errors become HTTP answers: `ValidationError` 422 (with the
field), `NotFoundError` 404, `ConflictError` 409.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mastra_storage import (
    AsyncDefaultStorage,
    AsyncMemory,
    ConflictError,
    Embedder,
    HashingEmbedder,
    NotFoundError,
    StorageError,
    ValidationError,
)
from mastra_storage.engines import create_async_engine_for_url


class HostBase(DeclarativeBase):
    pass


class ThreadUsage(HostBase):
    """The host's own table: how many messages each thread received."""

    __tablename__ = "chat_thread_usage"

    thread_id: Mapped[str] = mapped_column(primary_key=True)
    messages: Mapped[int] = mapped_column(default=0)


class NewThread(BaseModel):
    resource_id: str
    title: str = ""
    id: str | None = None


class NewMessage(BaseModel):
    role: str = "user"
    content: Any


class WorkingMemory(BaseModel):
    working_memory: str


async def transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """One host transaction per request: committed when the handler returns,
    rolled back when it raises."""
    async with request.app.state.sessions() as session, session.begin():
        yield session


Transaction = Annotated[AsyncSession, Depends(transaction)]


def create_app(engine: AsyncEngine, embedder: Embedder | None = None) -> FastAPI:
    """`embedder`: for semantic recall; by default a word-hashing one (use
    `SentenceTransformerEmbedder()` from the `embeddings` extra for meaning)."""
    storage = AsyncDefaultStorage(engine=engine)  # any supported engine, the host's own
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    memory = AsyncMemory(
        storage,
        options={
            "last_messages": 10,
            "semantic_recall": {"top_k": 3, "message_range": 1},
            "working_memory": {"enabled": True},
        },
        embedder=embedder or HashingEmbedder(),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as conn:
            await conn.run_sync(HostBase.metadata.create_all)
        await storage.init()
        yield

    app = FastAPI(title="chat", lifespan=lifespan)
    app.state.sessions = sessions

    # Raising rolls the request's whole transaction back (the host's row too);
    # the handler turns the library's error into its HTTP status.
    statuses: list[tuple[type[StorageError], int]] = [
        (ValidationError, 422),
        (NotFoundError, 404),
        (ConflictError, 409),
    ]

    async def storage_error(_: Request, error: Exception) -> JSONResponse:
        status = next(code for kind, code in statuses if isinstance(error, kind))
        body: dict[str, Any] = {"detail": str(error)}
        if isinstance(error, ValidationError):
            body["field"] = error.field
        return JSONResponse(status_code=status, content=body)

    for kind, _status in statuses:
        app.add_exception_handler(kind, storage_error)

    @app.post("/threads")
    async def create_thread(body: NewThread, session: Transaction) -> Any:
        thread = await storage.create_thread(
            resource_id=body.resource_id, title=body.title, thread_id=body.id, session=session
        )
        session.add(ThreadUsage(thread_id=thread.id, messages=0))
        return thread.model_dump(mode="json", by_alias=True)

    @app.post("/threads/{thread_id}/messages")
    async def post_message(thread_id: str, body: NewMessage, session: Transaction) -> Any:
        usage = await session.get(ThreadUsage, thread_id, with_for_update=True)
        if usage is None:
            usage = ThreadUsage(thread_id=thread_id, messages=0)
            session.add(usage)
        usage.messages += 1
        # Through Memory: the message and its recall vector, in this transaction
        # (an unknown thread: 404, all rolled back).
        [saved] = await memory.save_messages(
            messages=[{"thread_id": thread_id, "role": body.role, "content": body.content}],
            session=session,
        )
        return saved.model_dump(mode="json", by_alias=True)

    @app.get("/threads/{thread_id}/messages")
    async def list_messages(
        thread_id: str,
        session: Transaction,
        page: int = 0,
        per_page: int = 40,
    ) -> Any:
        result = await storage.list_messages(
            thread_id=thread_id, page=page, per_page=per_page, session=session
        )
        usage = await session.scalar(
            select(ThreadUsage.messages).where(ThreadUsage.thread_id == thread_id)
        )
        return {**result.model_dump(mode="json", by_alias=True), "usage": usage}

    @app.get("/threads/{thread_id}/context")
    async def context(
        thread_id: str, resource_id: str, session: Transaction, query: str | None = None
    ) -> Any:
        """What the model gets for its next turn: recent messages, recalled
        earlier ones, the working memory, its tool and instructions. Another
        resource's thread: 422 (`resource_id`); an unknown thread: 404."""
        found = await memory.recall(
            thread_id=thread_id, resource_id=resource_id, query=query, session=session
        )
        return {
            "messages": [m.model_dump(mode="json", by_alias=True) for m in found.messages],
            "recalledIds": found.recalled_ids,
            "workingMemory": found.working_memory,
            "tools": [memory.working_memory_tool()],
            "instructions": memory.working_memory_instructions(found.working_memory),
        }

    @app.put("/resources/{resource_id}/working-memory")
    async def update_working_memory(
        resource_id: str, body: WorkingMemory, session: Transaction
    ) -> Any:
        """Where the model's `updateWorkingMemory` tool calls land."""
        await memory.update_working_memory(
            resource_id=resource_id, working_memory=body.working_memory, session=session
        )
        return {"workingMemory": body.working_memory}

    return app


app = create_app(create_async_engine_for_url(os.environ.get("CHAT_DB_URL", "file:chat.db")))
