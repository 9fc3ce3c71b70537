"""Fencing: refuse writes from a lock holder that another holder has replaced.

Each acquisition of a run's lock gets a fencing token larger than every
earlier one for that run. A write that carries a token is checked, inside the
write's own transaction, against the newest token issued: an older one means
somebody else took the run since, and the write is refused.
"""

from __future__ import annotations

from ..dialects import Executor, engine_of
from ..errors import FencingTokenError, ValidationError
from ..values import MAX_INT
from . import rows
from .base import run_key
from .memory import process_lock_table


def check_fencing(session: Executor, workflow_name: str, run_id: str, token: int) -> None:
    """Refuse a write to run (`workflow_name`, `run_id`) made under fencing
    token `token` unless it is the newest token issued for that run.

    Call it inside the write's transaction, *before* writing, with the same
    session::

        if fencing_token is not None:
            check_fencing(session, workflow_name, run_id, fencing_token)
        ...  # then write the run's rows in `session`

    It locks the run's lock row until the transaction ends (FOR SHARE on
    PostgreSQL, the database write lock on SQLite), so no new holder can be
    issued a token between this check and the commit. Raises
    `FencingTokenError` when a newer holder exists, or when no lock was ever
    issued with that token; `ValidationError` for a token that is not a
    positive int. Returns None when the write may go ahead. Never commits.
    """
    run = run_key(workflow_name, run_id)
    if isinstance(token, bool) or not isinstance(token, int) or not 1 <= token <= MAX_INT:
        raise ValidationError(
            f"fencing_token must be a whole number from 1 to {MAX_INT}, got {token!r:.40}",
            field="fencing_token",
        )
    newest: int | None = None
    memory = process_lock_table(engine_of(session).pool, create=False)
    if memory is not None:  # an in-memory database: its locks live in this process
        newest = memory.newest_token(run)
    if newest is None:
        newest = rows.token_for_write(session, run)
    if newest is None or token > newest:
        raise FencingTokenError(
            f"fencing token {token} was never issued for workflow run {run_id!r} "
            f"of {workflow_name!r}"
        )
    if token < newest:
        raise FencingTokenError(
            f"fencing token {token} is stale: workflow run {run_id!r} of {workflow_name!r} "
            f"has been locked since by a newer holder (token {newest})"
        )
