"""The host's own models. Its metadata also sees mastra-storage's tables, so
the host's code can query them; `include_object` keeps them out of the host's
autogenerate."""

from __future__ import annotations

from sqlalchemy import MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import mastra_storage.orm


class HostBase(DeclarativeBase):
    pass


class Customer(HostBase):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class LinkBase(DeclarativeBase):
    """Tables of the "branch" setup only, whose host revision depends on
    mastra-storage's threads table."""


class CustomerThread(LinkBase):
    """Links a customer to a mastra-storage thread."""

    __tablename__ = "customer_threads"

    customer_id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(64), primary_key=True)


def target_metadata(mode: str) -> list[MetaData]:
    """What the host's autogenerate compares against: its own tables, plus ours,
    which `mastra_storage.orm.include_object` filters out again."""
    own = [HostBase.metadata] + ([LinkBase.metadata] if mode == "branch" else [])
    return [*own, mastra_storage.orm.metadata]
