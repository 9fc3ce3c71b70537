"""Configuration: a storage from a URL or from the environment, of the right class.

    storage = storage_from_env()            # MASTRA_STORAGE_URL, else file:mastra.db
    storage = from_url("postgresql+psycopg://app@db/app", schema="agents")
    storage = async_from_url("file:agents.db")

A PostgreSQL URL gives a `PostgresStorage` (`AsyncPostgresStorage`), a MySQL
or MariaDB URL a `MySQLStorage` (`AsyncMySQLStorage`); anything else a
`DefaultStorage` (`AsyncDefaultStorage`), which takes any supported
SQLAlchemy URL and Mastra's `file:PATH` / `file::memory:`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import URL

from .engines import normalize_url, schema_from_env, url_from_env
from .errors import ValidationError

if TYPE_CHECKING:
    from .async_storage import AsyncMastraStorage
    from .storage import MastraStorage


def _backend(url: str | URL, schema: str | None) -> str:
    """The URL's backend name (`postgresql`, `mysql`, `sqlite`, ...)."""
    backend = normalize_url(url).get_backend_name()
    if schema is not None and backend != "postgresql":
        raise ValidationError("schema= needs a PostgreSQL URL", field="schema")
    return backend


def from_url(url: str | URL, *, schema: str | None = None, **options: Any) -> MastraStorage:
    """A sync storage for `url`: `PostgresStorage` for a PostgreSQL URL (with
    `schema=`), `MySQLStorage` for a MySQL or MariaDB one (`mysql://`,
    `mariadb://`, `mysql+pymysql://`), `DefaultStorage` for any other. Further keywords (`name=`,
    `lock_backend=`, engine options such as `pool_size=`) go to the constructor.

    Raises `ValidationError` (field `url`) for an empty or malformed URL, and
    (field `schema`) for a schema with a database that is not PostgreSQL.
    """
    from .storage import DefaultStorage, MySQLStorage, PostgresStorage

    backend = _backend(url, schema)
    if backend == "postgresql":
        return PostgresStorage(url=url, schema=schema, **options)
    if backend == "mysql":
        return MySQLStorage(url=url, **options)
    return DefaultStorage(url=url, **options)


def async_from_url(
    url: str | URL, *, schema: str | None = None, **options: Any
) -> AsyncMastraStorage:
    """As `from_url`, with the async classes (`AsyncPostgresStorage`,
    `AsyncMySQLStorage`, `AsyncDefaultStorage`)."""
    from .async_storage import AsyncDefaultStorage, AsyncMySQLStorage, AsyncPostgresStorage

    backend = _backend(url, schema)
    if backend == "postgresql":
        return AsyncPostgresStorage(url=url, schema=schema, **options)
    if backend == "mysql":
        return AsyncMySQLStorage(url=url, **options)
    return AsyncDefaultStorage(url=url, **options)


def storage_from_env(**options: Any) -> MastraStorage:
    """`from_url` with the URL from `MASTRA_STORAGE_URL` (default
    `file:mastra.db`) and the schema from `MASTRA_STORAGE_SCHEMA` (default
    none). Keywords as `from_url`."""
    options.setdefault("schema", schema_from_env())
    return from_url(url_from_env(), **options)


def async_storage_from_env(**options: Any) -> AsyncMastraStorage:
    """As `storage_from_env`, with the async classes."""
    options.setdefault("schema", schema_from_env())
    return async_from_url(url_from_env(), **options)
