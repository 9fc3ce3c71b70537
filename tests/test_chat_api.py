"""The FastAPI example: a chat stored in the host's own async session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from chat_api import create_app
from conftest import PostgresSchemas
from fastapi.testclient import TestClient

from mastra_storage import migrate
from mastra_storage.engines import create_async_engine_for_url, create_engine_for_url


@pytest.fixture(params=["sqlite-file", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[TestClient]:
    if request.param == "sqlite-file":
        url, schema = f"file:{tmp_path / 'chat.db'}", None
    else:
        schemas: PostgresSchemas = request.getfixturevalue("pg_schemas")
        url, schema = schemas.url, schemas.new("chat")
        setup = create_engine_for_url(url)
        with setup.begin() as conn:
            migrate.ensure_schema(conn, schema)
        setup.dispose()
    with TestClient(create_app(create_async_engine_for_url(url, schema=schema))) as test_client:
        yield test_client


def test_a_chat_round_trip(client: TestClient) -> None:
    thread = client.post("/threads", json={"resource_id": "user-1", "title": "Hi"}).json()
    assert thread["resourceId"] == "user-1" and thread["createdAt"].endswith("Z")
    for text_ in ("hello", "how are you?", "🙂"):
        response = client.post(f"/threads/{thread['id']}/messages", json={"content": text_})
        assert response.status_code == 200, response.text
    page = client.get(f"/threads/{thread['id']}/messages", params={"per_page": 2}).json()
    assert [m["content"]["content"] for m in page["messages"]] == ["hello", "how are you?"]
    assert page["total"] == 3 and page["hasMore"] is True
    assert page["usage"] == 3  # the host's row, written in the same transactions


def test_the_context_comes_from_memory(client: TestClient) -> None:
    thread = client.post("/threads", json={"resource_id": "user-1"}).json()
    other = client.post("/threads", json={"resource_id": "user-2"}).json()
    said = [
        "my bike is a red gazelle",
        "ok",
        *[f"filler message number {i}" for i in range(12)],
    ]
    for text_ in said:
        assert client.post(f"/threads/{thread['id']}/messages", json={"content": text_}).is_success
    url = f"/threads/{thread['id']}/context"
    context = client.get(url, params={"resource_id": "user-1", "query": "what colour is my bike"})
    body = context.json()
    texts = [m["content"]["content"] for m in body["messages"]]
    assert texts[:2] == ["my bike is a red gazelle", "ok"]  # recalled, with a neighbour
    assert body["recalledIds"][0] == body["messages"][0]["id"]  # the best match
    assert texts[-10:] == said[4:]  # the last 10
    assert sorted(texts, key=said.index) == texts and len(set(texts)) == len(texts)
    assert body["tools"][0]["name"] == "updateWorkingMemory"
    assert "<working_memory_template>" in body["instructions"]

    put = client.put("/resources/user-1/working-memory", json={"working_memory": "# Bike: red"})
    assert put.is_success
    after = client.get(url, params={"resource_id": "user-1"}).json()
    assert after["workingMemory"] == "# Bike: red" and after["recalledIds"] == []
    assert client.get(url, params={"resource_id": "user-2"}).status_code == 422
    assert client.get(f"/threads/{other['id']}/context?resource_id=user-2").json()["messages"] == []
    assert client.get("/threads/nope/context", params={"resource_id": "user-1"}).status_code == 404


def test_a_failed_save_rolls_back_the_host_row_too(client: TestClient) -> None:
    response = client.post("/threads/nope/messages", json={"content": "lost"})
    assert response.status_code == 404
    page = client.get("/threads/nope/messages").json()
    assert page["total"] == 0
    assert page["usage"] is None  # the usage row was rolled back with the messages


def test_library_errors_become_http_statuses(client: TestClient) -> None:
    thread = client.post("/threads", json={"resource_id": "user-1", "id": "t-1"}).json()
    assert thread["id"] == "t-1"

    bad_role = client.post("/threads/t-1/messages", json={"role": "robot", "content": "x"})
    assert bad_role.status_code == 422, bad_role.text
    assert bad_role.json()["field"] and "role" in bad_role.text
    bad_page = client.get("/threads/t-1/messages", params={"per_page": -1})
    assert bad_page.status_code == 422 and bad_page.json()["field"] == "per_page"

    again = client.post("/threads", json={"resource_id": "user-1", "id": "t-1"})
    assert again.status_code == 409, again.text

    unknown = client.post("/threads/nope/messages", json={"content": "lost"})
    assert unknown.status_code == 404
    # Nothing of the refused requests was kept.
    page = client.get("/threads/t-1/messages").json()
    assert page["total"] == 0 and page["usage"] == 0  # the refused message: not counted
