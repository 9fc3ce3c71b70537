"""Run the host application once: migrate (the host's history and ours), then
write a customer (the host's row) and a thread with a message (ours) in one
transaction.

    cd examples/host_app
    python -m host_app                              # ./host.db, separate histories
    python -m host_app --mode branch --url sqlite:///branch.db
    python -m host_app --url postgresql+psycopg://app@localhost/app

`python -m` puts the current folder on the import path: no PYTHONPATH needed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from sqlalchemy.orm import Session

from mastra_storage import DefaultStorage
from mastra_storage.engines import create_engine_for_url

from . import db
from .models import Customer


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m host_app", description=__doc__)
    parser.add_argument("--url", default="file:host.db", help="database URL (default: %(default)s)")
    parser.add_argument("--mode", choices=["separate", "branch"], default="separate")
    args = parser.parse_args(argv)

    engine = create_engine_for_url(args.url)
    storage = DefaultStorage(engine=engine)  # the host's engine; close() leaves it open
    try:
        db.upgrade(engine, args.mode)
        with Session(engine, expire_on_commit=False) as session, session.begin():
            customer = Customer(name="Ada")
            session.add(customer)
            session.flush()
            thread = storage.create_thread(
                resource_id=f"customer-{customer.id}", title="Welcome", session=session
            )
            storage.save_messages(
                messages=[{"thread_id": thread.id, "role": "user", "content": "hello"}],
                session=session,
            )
        print(f"customer {customer.id} and thread {thread.id} committed in one transaction")
    finally:
        storage.close()
        engine.dispose()


if __name__ == "__main__":
    main()
