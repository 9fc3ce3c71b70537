"""Run-lock domain model."""

from __future__ import annotations

from ._base import DomainModel, UTCDatetime


class RunLock(DomainModel):
    """Who holds a workflow run's lock (Mastra has no such record; ours).

    `holder` is the holding storage instance's id (`storage.lock_holder`),
    `expires_at` when a lease runs out (aware UTC; an advisory lock lasts
    while its connection does), `backend` `"advisory"`, `"lease"` or
    `"memory"`, `fencing_token` the token of this acquisition.
    """

    workflow_name: str
    run_id: str
    holder: str
    expires_at: UTCDatetime | None = None
    backend: str
    fencing_token: int
