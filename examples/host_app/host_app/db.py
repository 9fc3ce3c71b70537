"""How the host migrates: both ways mastra-storage supports.

- "separate": the host's history, then mastra-storage's own history with its
  own version table (`mastra_storage_alembic_version`), both on the host's
  connection, in one transaction.
- "branch": mastra-storage's versions directory is added to the host's
  `version_locations`; it becomes a second base in the host's history (one
  version table), and host revisions can `depends_on` ours.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from mastra_storage import migrate

HERE = Path(__file__).resolve().parent
MIGRATIONS = HERE / "migrations"


def alembic_config(mode: str, connection: object | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    locations = [MIGRATIONS / "versions"]
    if mode == "branch":
        locations += [MIGRATIONS / "versions_mastra_branch", migrate.versions_location()]
    config.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    config.attributes["mode"] = mode
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, mode: str = "separate") -> None:
    with engine.begin() as connection:
        command.upgrade(alembic_config(mode, connection), "heads")
        if mode == "separate":
            migrate.upgrade(connection)  # same connection, same transaction
