"""The whole flow on the embedded default SQLite file (./mastra.db): first
Memory (history, working memory, semantic recall), then the storage below it:
a thread, messages paged, a context window, a workflow snapshot round trip
and an evaluation result.

Run it with `make demo` (or `python examples/demo.py` once installed).
"""

from __future__ import annotations

import os
import sys

from mastra_storage import DefaultStorage, HashingEmbedder, MastraStorage, Memory


def memory_tour(storage: MastraStorage) -> None:
    """What an agent does every turn: save the turn, recall context."""
    # HashingEmbedder matches shared words; with the `embeddings` extra,
    # SentenceTransformerEmbedder() matches meaning (all-MiniLM-L6-v2, offline).
    memory = Memory(
        storage,
        options={
            "last_messages": 2,
            "semantic_recall": {"top_k": 1, "message_range": 1},
            "working_memory": {"enabled": True},
        },
        embedder=HashingEmbedder(),
    )
    thread = memory.create_thread(resource_id="demo-user", title="Weekend")
    turns = [
        ("user", "My sister Ana lives in Porto, near the river."),
        ("assistant", "Nice! Do you visit her often?"),
        ("user", "Twice a year. Now, can you suggest a sourdough recipe?"),
        ("assistant", "Sure: flour, water, salt and a lively starter."),
        ("user", "How long should the dough rise?"),
        ("assistant", "About 4 to 6 hours at room temperature."),
    ]
    memory.save_messages(
        messages=[{"thread_id": thread.id, "role": role, "content": text} for role, text in turns]
    )  # embedded and indexed in the same transaction
    context = memory.recall(
        thread_id=thread.id, resource_id="demo-user", query="where does my sister live?"
    )
    print("memory.recall: last 2 turns + the best match with its neighbours:")
    for message in context.messages:
        mark = "*" if message.id in context.recalled_ids else " "
        print(f"  {mark} {message.role:>9}: {message.content.content}")
    memory.update_working_memory(
        resource_id="demo-user", working_memory="# User\n- Sister: Ana, in Porto\n"
    )
    again = memory.recall(thread_id=thread.id, resource_id="demo-user")
    print(f"working memory: {again.working_memory!r}")
    print(f"tool for the model: {memory.working_memory_tool()['name']}")


def main() -> int:
    url = os.environ.get("MASTRA_STORAGE_URL", "file:mastra.db")
    with DefaultStorage(name="demo", url=url) as storage:
        storage.init()  # creates or upgrades the schema (Alembic); safe to repeat
        print(f"storage: {storage!r}")
        memory_tour(storage)

        thread = storage.create_thread(
            resource_id="user-42", title="Trip planning", metadata={"channel": "web"}
        )
        print(f"thread {thread.id} created at {thread.created_at.isoformat()}")

        turns = [
            ("user", "I want to visit Lisbon in May."),
            ("assistant", "Lovely time of year. How many days?"),
            ("user", "Five days, mostly food and tiles 🍽️"),
            ("assistant", "Noted: 5 days, food and azulejos."),
            ("user", "Add a day trip to Sintra."),
        ]
        saved = storage.save_messages(
            messages=[
                {"thread_id": thread.id, "role": role, "content": text} for role, text in turns
            ]
        )
        print(f"saved {len(saved)} messages")

        page = storage.list_messages(thread_id=thread.id, per_page=2, page=0)
        print(f"page 0 of 2: total={page.total} has_more={page.has_more}")
        for message in page.messages:
            print(f"  {message.role:>9}: {message.content.content}")

        recent = storage.list_messages(
            thread_id=thread.id, per_page=2, direction="DESC", count_total=False
        )
        print("last two:", [m.content.content for m in recent.messages])

        window = storage.list_messages(
            thread_id=thread.id,
            per_page=0,
            include=[{"id": saved[2].id, "with_previous_messages": 1, "with_next_messages": 1}],
        )
        print("context around the third message:", [m.content.content for m in window.messages])

        storage.update_resource(resource_id="user-42", working_memory="# User\n- likes food")
        resource = storage.get_resource_by_id(resource_id="user-42")
        print(f"working memory: {resource.working_memory!r}" if resource else "no resource")

        snapshot = {"runId": "run-1", "status": "suspended", "context": {}, "value": {}}
        storage.persist_workflow_snapshot(
            workflow_name="plan-trip", run_id="run-1", snapshot=snapshot, resource_id="user-42"
        )
        storage.update_workflow_results(
            workflow_name="plan-trip", run_id="run-1", step_id="pick-dates",
            result={"status": "success", "output": {"month": "May"}},
        )  # fmt: skip
        loaded = storage.load_workflow_snapshot(workflow_name="plan-trip", run_id="run-1")
        assert loaded is not None
        print(f"snapshot round trip: status={loaded['status']} context={loaded['context']}")

        storage.save_eval(
            eval={
                "input": "Plan a trip", "output": "5 days in Lisbon",
                "result": {"score": 0.9}, "agent_name": "planner",
                "metric_name": "relevance", "run_id": "run-1",
            }
        )  # fmt: skip
        evals = storage.get_evals_by_agent_name(agent_name="planner")
        print(f"evals for planner: {len(evals)}, latest score {evals[0].result['score']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
