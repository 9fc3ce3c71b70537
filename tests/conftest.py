"""The backend matrix: every storage test runs on SQLite in memory, SQLite in a
file, PostgreSQL and MySQL/MariaDB, and through the async classes on SQLite in
a file, PostgreSQL and MySQL/MariaDB (driven by `BlockingStorage`, so the test
bodies exist once).

PostgreSQL comes from MASTRA_STORAGE_TEST_PG_URL (default: the local `test`
database, created when the server does not have it yet). Each test run works
in a schema of its own, dropped at the end, and each test starts from empty
tables, so runs and tests cannot see each other's rows. With CI=true an
unreachable PostgreSQL fails the run; elsewhere its tests skip with the reason.

MySQL/MariaDB comes from MASTRA_STORAGE_TEST_MYSQL_URL (default
`mysql+pymysql://root@127.0.0.1:3306/test`): each run works in databases of
its own, named after the URL's (`test_<pid>_<random>_...`), created on the
server and dropped at the end (a MySQL database is what a PostgreSQL schema
is). Unreachable: fails with CI=true, skips elsewhere, as PostgreSQL.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pg_setup import ensure_database
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncSession

from mastra_storage import (
    AsyncDefaultStorage,
    AsyncMastraStorage,
    AsyncMySQLStorage,
    AsyncPostgresStorage,
    DefaultStorage,
    MastraStorage,
    MySQLStorage,
    PostgresStorage,
)
from mastra_storage.engines import create_engine_for_url
from mastra_storage.orm import metadata

PG_URL = os.environ.get(
    "MASTRA_STORAGE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get(
    "MASTRA_STORAGE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = (
    "sqlite-memory",
    "sqlite-file",
    "postgresql",
    "mysql",
    "async-sqlite-file",
    "async-postgresql",
    "async-mysql",
)
SYNC_BACKENDS = tuple(name for name in BACKENDS if not name.startswith("async-"))


def _probe_postgres() -> str | None:
    """None when PostgreSQL answers, else why not. A server without the test
    database gets it created (a fresh machine needs no set-up step)."""
    try:
        ensure_database(PG_URL)
    except Exception as error:  # the server is not reachable: said below
        del error
    engine = create_engine(PG_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as error:  # any failure means: not reachable
        return f"{type(error).__name__}: {error}".splitlines()[0]
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return _reachable("PostgreSQL", PG_URL, _probe_postgres(), "MASTRA_STORAGE_TEST_PG_URL")


def _reachable(server: str, url: str, problem: str | None, variable: str) -> str:
    """`url` when its server answered (`problem` is None); else the test fails
    with CI=true and skips elsewhere, saying why and what to set."""
    if problem is not None:
        message = f"{server} at {url} is unreachable ({problem})"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(f"{message}; set {variable} or start it")
    return url


@dataclass
class PostgresSchemas:
    """Hands out fresh schemas in the test database and drops them at the end."""

    url: str
    run: str
    made: list[str]

    def new(self, label: str = "s") -> str:
        name = f"{self.run}_{label}{len(self.made)}"
        self.made.append(name)
        return name


@pytest.fixture(scope="session")
def pg_schemas(postgres_url: str) -> Iterator[PostgresSchemas]:
    schemas = PostgresSchemas(postgres_url, f"mst_{os.getpid()}_{uuid.uuid4().hex[:6]}", [])
    yield schemas
    engine = create_engine(postgres_url)
    # One transaction per schema: a DROP ... CASCADE locks every object of
    # its schema until commit, and a run's hundreds of schemas in one
    # transaction overflow the server's lock table ("out of shared memory").
    for name in schemas.made:
        quoted = '"' + name.replace('"', '""') + '"'
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {quoted} CASCADE"))
    engine.dispose()


@pytest.fixture(scope="session")
def shared_pg_storage(pg_schemas: PostgresSchemas) -> Iterator[PostgresStorage]:
    """One migrated schema for the whole run; tests empty its tables first."""
    storage = PostgresStorage(url=pg_schemas.url, schema=pg_schemas.new("shared"))
    storage.init()
    yield storage
    storage.close()


def _probe_mysql() -> str | None:
    """None when the MySQL/MariaDB server answers, else why not."""
    engine = create_engine(
        make_url(MYSQL_URL).set(database=""), connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as error:  # any failure means: not reachable
        return f"{type(error).__name__}: {error}".splitlines()[0]
    finally:
        engine.dispose()


@dataclass
class MySQLDatabases:
    """Hands out fresh databases on the MySQL server and drops them at the end."""

    url: str
    run: str
    made: list[str]

    def new(self, label: str = "d") -> str:
        """The URL of a new, empty database of this run."""
        name = f"{self.run}_{label}{len(self.made)}"
        self.made.append(name)
        engine = create_engine(make_url(self.url).set(database=""))
        with engine.begin() as conn:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        engine.dispose()
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        """Drop this run's databases; a connection a failed test left open on
        one (holding its tables' metadata locks) is killed first, so the drop
        cannot wait on it."""
        engine = create_engine(make_url(self.url).set(database=""))
        with engine.begin() as conn:
            for name in self.made:
                stale = conn.execute(
                    text(
                        "SELECT id FROM information_schema.processlist "
                        "WHERE db = :name AND id <> CONNECTION_ID()"
                    ),
                    {"name": name},
                ).scalars()
                for connection_id in list(stale):
                    try:
                        conn.execute(text(f"KILL {int(connection_id)}"))
                    except Exception as error:  # it ended meanwhile
                        del error
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        engine.dispose()


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """The test server's URL; fails with CI=true, skips elsewhere, when unreachable."""
    return _reachable("MySQL/MariaDB", MYSQL_URL, _probe_mysql(), "MASTRA_STORAGE_TEST_MYSQL_URL")


@pytest.fixture(scope="session")
def mysql_databases(mysql_url: str) -> Iterator[MySQLDatabases]:
    base = make_url(mysql_url).database or "test"
    databases = MySQLDatabases(mysql_url, f"{base}_{os.getpid()}_{uuid.uuid4().hex[:6]}", [])
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def shared_mysql_storage(mysql_databases: MySQLDatabases) -> Iterator[MySQLStorage]:
    """One migrated database for the whole run; tests empty its tables first."""
    # pre-ping: tests that end the server's connections to the database
    # (dropped-connection tests) end this storage's pooled ones too.
    storage = MySQLStorage(url=mysql_databases.new("shared"), pool_pre_ping=True)
    storage.init()
    yield storage
    storage.close()


def _empty_tables(engine: Engine) -> None:
    # DELETE, not TRUNCATE: on tables this small it is many times faster.
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@dataclass
class Backend:
    """What a test needs to know about the database it runs on."""

    name: str
    make: Callable[..., MastraStorage]
    """A new storage on the same database (a second worker, say)."""
    url: str
    schema: str | None = None
    asynchronous: bool = False
    """The storage under test is an async class, driven through `BlockingStorage`."""

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgresql"

    @property
    def is_mysql(self) -> bool:
        return self.name == "mysql"


class BlockingStorage:
    """Drives an async storage from the (sync) test bodies, so the whole
    behaviour suite runs against the async classes without a second copy.

    Coroutines run to completion on the backend's event loop; async context
    managers become sync ones; `engine` is a sync engine on the same database
    for the tests' raw SQL.
    """

    def __init__(self, storage: AsyncMastraStorage, engine: Engine, loop: Any) -> None:
        self.storage, self.engine, self._loop = storage, engine, loop

    def __getattr__(self, name: str) -> Any:
        return _blocking(getattr(self.storage, name), name, self._loop)


class BlockingSession:
    """An AsyncSession driven the same way; given back to the storage as
    `session=`, it is unwrapped to the AsyncSession."""

    def __init__(self, session: AsyncSession, loop: Any) -> None:
        self.session, self._loop = session, loop

    def __getattr__(self, name: str) -> Any:
        return _blocking(getattr(self.session, name), name, self._loop)


def _blocking(value: Any, name: str, loop: Any) -> Any:
    if name.startswith("_") or not callable(value):
        return value

    def call(*args: Any, **kwargs: Any) -> Any:
        if isinstance(kwargs.get("session"), BlockingSession):
            kwargs["session"] = kwargs["session"].session
        result = value(*args, **kwargs)
        if inspect.isawaitable(result):
            return loop.run_until_complete(result)
        if hasattr(result, "__anext__"):
            return _blocking_iterator(result, loop)
        if hasattr(result, "__aenter__"):
            return _BlockingContext(result, loop)
        return result

    return call


def _blocking_iterator(iterator: Any, loop: Any) -> Iterator[Any]:
    """An async iterator driven one item at a time (lazily, like the sync one)."""
    while True:
        try:
            yield loop.run_until_complete(iterator.__anext__())
        except StopAsyncIteration:
            return


@dataclass
class _BlockingContext:
    context: Any
    loop: Any

    def __enter__(self) -> Any:
        entered = self.loop.run_until_complete(self.context.__aenter__())
        return BlockingSession(entered, self.loop) if isinstance(entered, AsyncSession) else entered

    def __exit__(self, *exc: Any) -> Any:
        return self.loop.run_until_complete(self.context.__aexit__(*exc))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Backend]:
    made: list[Any] = []
    cleanups: list[Callable[[], Any]] = []

    def remember(storage: Any) -> Any:
        made.append(storage)
        return storage

    if request.param == "sqlite-memory":
        first = remember(DefaultStorage(url="file::memory:"))
        # In-memory SQLite lives in one connection: "another storage" shares its engine.
        yield Backend(
            "sqlite-memory",
            lambda **kw: remember(DefaultStorage(engine=first.engine, **kw)),
            "file::memory:",
        )
    elif request.param == "sqlite-file":
        url = f"file:{tmp_path / 'mastra.db'}"
        yield Backend("sqlite-file", lambda **kw: remember(DefaultStorage(url=url, **kw)), url)
    elif request.param == "postgresql":
        shared: PostgresStorage = request.getfixturevalue("shared_pg_storage")
        _empty_tables(shared.engine)
        yield Backend(
            "postgresql",
            lambda **kw: remember(PostgresStorage(url=PG_URL, schema=shared.schema, **kw)),
            PG_URL,
            shared.schema,
        )
    elif request.param == "mysql":
        shared_mysql: MySQLStorage = request.getfixturevalue("shared_mysql_storage")
        _empty_tables(shared_mysql.engine)
        url = shared_mysql.engine.url.render_as_string(hide_password=False)
        yield Backend("mysql", lambda **kw: remember(MySQLStorage(url=url, **kw)), url)
    else:
        loop = asyncio.new_event_loop()
        cleanups.append(loop.close)
        if request.param == "async-sqlite-file":
            url, schema = f"file:{tmp_path / 'mastra.db'}", None
            raw = create_engine_for_url(url)
            cleanups.insert(0, raw.dispose)

            def make_async(**kw: Any) -> AsyncMastraStorage:
                return AsyncDefaultStorage(url=url, **kw)

        elif request.param == "async-mysql":
            shared_mysql = request.getfixturevalue("shared_mysql_storage")
            _empty_tables(shared_mysql.engine)
            url, schema, raw = (
                shared_mysql.engine.url.render_as_string(hide_password=False),
                None,
                shared_mysql.engine,
            )

            def make_async(**kw: Any) -> AsyncMastraStorage:
                return AsyncMySQLStorage(url=url, **kw)

        else:
            shared = request.getfixturevalue("shared_pg_storage")
            _empty_tables(shared.engine)
            url, schema, raw = PG_URL, shared.schema, shared.engine

            def make_async(**kw: Any) -> AsyncMastraStorage:
                return AsyncPostgresStorage(url=PG_URL, schema=schema, **kw)

        yield Backend(
            request.param.removeprefix("async-"),
            lambda **kw: remember(BlockingStorage(make_async(**kw), raw, loop)),
            url,
            schema,
            asynchronous=True,
        )
    for storage in made:
        storage.close()
    for cleanup in cleanups:
        cleanup()


@pytest.fixture
def storage(backend: Backend) -> MastraStorage:
    """A migrated, empty storage on the backend under test."""
    store = backend.make()
    store.init()
    return store
