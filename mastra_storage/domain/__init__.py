"""Domain models: what users pass in and get back (pydantic v2), one module
per Mastra storage domain.

Attributes are snake_case; each model validates from and dumps to Mastra's
camelCase JSON (`model_dump(by_alias=True)`). Every datetime is aware UTC.
"""

from ._base import (
    DateRange,
    Direction,
    DomainModel,
    Page,
    ThreadOrderBy,
    UTCDatetime,
    check_paging,
    construct,
    new_id,
    page_info,
    parse,
    require_aware,
)
from .evals import EvalPage, EvalRow
from .locks import RunLock
from .memory import (
    IncludeItem,
    MastraDBMessage,
    MastraDBMessageInput,
    MessageContent,
    MessageFilter,
    MessagePage,
    MessageUpdate,
    Role,
    StorageResource,
    StorageThread,
    ThreadClone,
    ThreadPage,
)
from .retention import PruneReport
from .scores import ScorePage, ScoreRow, ScoringSource
from .workflows import WORKFLOW_RUN_STATUSES, WorkflowRun, WorkflowRuns

__all__ = [
    "WORKFLOW_RUN_STATUSES",
    "DateRange",
    "Direction",
    "DomainModel",
    "EvalPage",
    "EvalRow",
    "IncludeItem",
    "MastraDBMessage",
    "MastraDBMessageInput",
    "MessageContent",
    "MessageFilter",
    "MessagePage",
    "MessageUpdate",
    "Page",
    "PruneReport",
    "Role",
    "RunLock",
    "ScorePage",
    "ScoreRow",
    "ScoringSource",
    "StorageResource",
    "StorageThread",
    "ThreadClone",
    "ThreadOrderBy",
    "ThreadPage",
    "UTCDatetime",
    "WorkflowRun",
    "WorkflowRuns",
    "check_paging",
    "construct",
    "new_id",
    "page_info",
    "parse",
    "require_aware",
]
