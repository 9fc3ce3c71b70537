"""Getting the suite's PostgreSQL database ready on a fresh machine: the
server must be running, the database need not exist (it is created)."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def ensure_database(url: str) -> bool:
    """Create the database named in `url` when the server has none of that
    name, connecting to the server's `postgres` database to do it. True when
    it was created. Errors other than "does not exist" propagate."""
    target = make_url(url)
    engine = create_engine(target, connect_args={"connect_timeout": 5})
    try:
        with engine.connect():
            return False
    except Exception as error:
        if "does not exist" not in str(error):
            raise
    finally:
        engine.dispose()
    admin = create_engine(
        target.set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 5},
    )
    try:
        with admin.connect() as conn:
            name = conn.dialect.identifier_preparer.quote(target.database or "")
            try:
                conn.execute(text(f"CREATE DATABASE {name}"))
            except Exception as error:  # another run created it meanwhile
                if "already exists" not in str(error):
                    raise
        return True
    finally:
        admin.dispose()
