"""Retention domain model: what `prune` and `delete_resource` removed."""

from __future__ import annotations

from ._base import DomainModel, UTCDatetime


class PruneReport(DomainModel):
    """Rows deleted per domain (`"messages"`, `"threads"`, `"workflow_runs"`,
    `"scores"`, `"evals"`; `delete_resource` adds `"resources"`, and tables
    that registered dependent rows their own names). With `dry_run`, the rows
    that would have been deleted. `report["messages"]` is 0 for a domain not
    touched."""

    counts: dict[str, int]
    dry_run: bool = False
    cutoff: UTCDatetime | None = None
    """`prune`: rows last updated before this instant were deleted."""

    def __getitem__(self, domain: str) -> int:
        return self.counts.get(domain, 0)

    @property
    def total(self) -> int:
        """Rows deleted (or, in a dry run, that would be) over every domain."""
        return sum(self.counts.values())
