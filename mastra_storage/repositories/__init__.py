"""One repository per entity. Each takes a SQLAlchemy `Session`, flushes what
it writes and never commits: the facade (or a host application) owns the
transaction."""

from .evals import EvalRepository
from .messages import MessageRepository
from .resources import ResourceRepository
from .scores import ScoreRepository
from .threads import ThreadRepository
from .vectors import VectorRepository, VectorRow
from .workflows import WorkflowRepository

__all__ = [
    "EvalRepository",
    "MessageRepository",
    "ResourceRepository",
    "ScoreRepository",
    "ThreadRepository",
    "VectorRepository",
    "VectorRow",
    "WorkflowRepository",
]
