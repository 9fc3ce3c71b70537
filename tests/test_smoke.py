from mastra_storage import MastraStorage


def test_thread_round_trip(storage: MastraStorage) -> None:
    thread = storage.create_thread(resource_id="user-1", title="Hello")
    assert storage.get_thread_by_id(thread_id=thread.id) == thread
