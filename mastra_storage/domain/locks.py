"""Run-lock domain model."""

from __future__ import annotations

from ._base import DomainModel, UTCDatetime


class RunLock(DomainModel):
    holder: str
    expires_at: UTCDatetime | None = None
    backend: str
    fencing_token: int
