"""What each data method of the API does, given a Session or Connection,
grouped by Mastra's storage domains (memory, workflows, scores, evals).

The facades (sync `MastraStorage` and the async twins) validate nothing and
decide nothing themselves: they open or borrow a connection and call one of
these functions, so the logic exists once. Each function validates all of its
input before its first write, so bad input writes nothing.
"""

from ._inputs import (
    Direction,
    date_range_of,
    direction_of,
    ids_of,
    json_value,
    optional_dict,
    optional_string,
    optional_text,
    require_text,
    stamped,
    thread_ids_of,
)
from .evals import get_evals, save_evals
from .memory import (
    create_thread,
    delete_messages,
    delete_thread,
    get_resource_by_id,
    get_thread_by_id,
    list_messages,
    list_messages_by_id,
    list_messages_by_resource_id,
    list_threads,
    save_messages,
    save_resource,
    save_thread,
    update_messages,
    update_resource,
    update_thread,
)
from .scores import (
    get_score_by_id,
    list_scores_by_entity_id,
    list_scores_by_run_id,
    list_scores_by_scorer_id,
    list_scores_by_span,
    save_score,
)
from .workflows import (
    delete_workflow_run_by_id,
    get_workflow_run_by_id,
    list_workflow_runs,
    load_workflow_snapshot,
    persist_workflow_snapshot,
    supports_concurrent_updates,
    update_workflow_results,
    update_workflow_state,
)

__all__ = [
    "Direction",
    "create_thread",
    "date_range_of",
    "delete_messages",
    "delete_thread",
    "delete_workflow_run_by_id",
    "direction_of",
    "get_evals",
    "get_resource_by_id",
    "get_score_by_id",
    "get_thread_by_id",
    "get_workflow_run_by_id",
    "ids_of",
    "json_value",
    "list_messages",
    "list_messages_by_id",
    "list_messages_by_resource_id",
    "list_scores_by_entity_id",
    "list_scores_by_run_id",
    "list_scores_by_scorer_id",
    "list_scores_by_span",
    "list_threads",
    "list_workflow_runs",
    "load_workflow_snapshot",
    "optional_dict",
    "optional_string",
    "optional_text",
    "persist_workflow_snapshot",
    "require_text",
    "save_evals",
    "save_messages",
    "save_resource",
    "save_score",
    "save_thread",
    "stamped",
    "supports_concurrent_updates",
    "thread_ids_of",
    "update_messages",
    "update_resource",
    "update_thread",
    "update_workflow_results",
    "update_workflow_state",
]
