"""The `mastra-storage` command line (also `python -m mastra_storage`).

    mastra-storage migrate upgrade            # bring the database to head
    mastra-storage --url postgresql://app@db/app --schema agents migrate current
    mastra-storage threads list --resource user-42 --json
    mastra-storage messages tail THREAD_ID -n 20
    mastra-storage prune --older-than 30d --dry-run
    mastra-storage erase-resource user-42 --yes --json
    mastra-storage memory reindex --resource user-42 --embedder hashing

The database comes from `--url`, else `MASTRA_STORAGE_URL`, else
`file:mastra.db`; the PostgreSQL schema from `--schema`, else
`MASTRA_STORAGE_SCHEMA`. Listings print a table, or JSON with `--json`.
Exit status: 0 success, 1 error (one line on stderr, no traceback), 2 bad usage.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import click
from alembic.util import CommandError
from sqlalchemy import exc as sa_exc

from . import __version__, migrate, operations
from .clock import utc_now
from .config import from_url
from .domain import WORKFLOW_RUN_STATUSES, MastraDBMessage, PruneReport
from .engines import DEFAULT_URL, SCHEMA_VARIABLE, URL_VARIABLE, is_memory_sqlite, normalize_url
from .errors import MigrationRequiredError, StorageError, ValidationError
from .memory import Embedder, HashingEmbedder, Memory, SentenceTransformerEmbedder
from .memory.memory import count_unindexed, stored_dimensions, unindexed_resources
from .operations.retention import MAX_BATCH_SIZE, age_of
from .storage import MastraStorage

MAX_CELL = 60
"""Table cells longer than this are cut (with `…`); `--json` prints everything."""


class Failure(click.ClickException):
    """An error shown as one line on stderr; exit status 1."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class BadInput(Failure):
    """Input the library refused (`ValidationError`): exit status 2, as bad usage."""

    exit_code = 2


def one_line(message: str) -> str:
    return " ".join(message.split()) or "unknown error"


@dataclass
class Settings:
    url: str
    schema: str | None
    traceback: bool


class Cli(click.Group):
    """Turns every error a command meets into one line and an exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            settings = ctx.find_object(Settings)
            if settings is not None and settings.traceback:
                raise
            raise failure_of(error) from error


def failure_of(error: BaseException) -> Failure:
    if isinstance(error, ValidationError | CommandError):  # CommandError: a bad revision
        return BadInput(str(error))
    if isinstance(error, StorageError | sa_exc.SQLAlchemyError):
        return Failure(str(error).splitlines()[0] if str(error) else type(error).__name__)
    if isinstance(error, ImportError | OSError):
        return Failure(str(error))
    name = type(error).__name__
    return Failure(f"unexpected {name}: {error} (run with --traceback to see where)")


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    envvar=URL_VARIABLE,
    default=DEFAULT_URL,
    show_default=True,
    show_envvar=True,
    help="Database URL: any SQLAlchemy URL, or Mastra's file:PATH / file::memory:.",
)
@click.option(
    "--schema",
    envvar=SCHEMA_VARIABLE,
    default=None,
    show_envvar=True,
    help="PostgreSQL schema holding the tables (created by `migrate upgrade`).",
)
@click.option("--traceback", is_flag=True, hidden=True, help="Show the traceback of an error.")
@click.version_option(__version__, prog_name="mastra-storage")
@click.pass_context
def main(ctx: click.Context, url: str, schema: str | None, traceback: bool) -> None:
    """Migrate and inspect a mastra-storage database (SQLite, PostgreSQL, MySQL/MariaDB)."""
    ctx.obj = Settings(url=url, schema=schema or None, traceback=traceback)


pass_settings = click.make_pass_decorator(Settings)


def json_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")(
        function
    )


# -- opening the database --------------------------------------------------------------


def open_storage(settings: Settings) -> MastraStorage:
    return from_url(settings.url, schema=settings.schema, name="mastra-storage-cli")


def require_file(settings: Settings) -> None:
    """A SQLite file that does not exist is an error for every command but
    `migrate upgrade` (which creates it), rather than a new empty file."""
    url = normalize_url(settings.url)
    if url.get_backend_name() == "sqlite" and not is_memory_sqlite(url):
        path = Path(url.database or "")
        if not path.is_file():
            raise Failure(
                f"no SQLite database at {path} "
                "(create it with `mastra-storage migrate upgrade`, or give --url)"
            )


@contextmanager
def migrated(settings: Settings) -> Iterator[MastraStorage]:
    """The storage, once its database is known to be at head (the listings never
    migrate a database behind their back)."""
    require_file(settings)
    storage = open_storage(settings)
    try:
        try:
            migrate.check(storage.engine)
        except MigrationRequiredError as error:
            raise Failure(
                f"the database is at revision {error.current or '<none>'}, this mastra-storage "
                f"needs {error.head}: run `mastra-storage migrate upgrade`"
            ) from error
        yield storage
    finally:
        storage.close()


# -- printing --------------------------------------------------------------------------


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> None:
    if not rows:
        click.echo(empty)
        return
    cells = [[cell(value) for value in row] for row in rows]
    widths = [max(len(headers[i]), *(len(row[i]) for row in cells)) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.ljust(width) for value, width in zip(values, widths, strict=True)
        ).rstrip()

    click.echo(click.style(line(headers), bold=True))
    click.echo(line(["-" * width for width in widths]))
    for row in cells:
        click.echo(line(row))


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def message_text(message: MastraDBMessage) -> str:
    if message.content.content:
        return message.content.content
    texts = [str(part.get("text", "")) for part in message.content.parts if "text" in part]
    if texts:
        return " ".join(texts)
    kinds = [str(part.get("type", "?")) for part in message.content.parts]
    return f"[{', '.join(kinds)}]" if kinds else ""


# -- migrate ---------------------------------------------------------------------------


@main.group("migrate")
def migrate_group() -> None:
    """Bring the schema up or down, or say where it is (no alembic.ini needed)."""


def run_steps(
    settings: Settings, revision: str, *, up: bool
) -> tuple[str | None, str | None, list[str]]:
    """Migrate, with a progress bar over the steps; returns (from, to, applied)."""
    storage = open_storage(settings)
    applied: list[str] = []
    try:
        with migrate.migration_connection(storage.engine) as conn:
            storage._prepare_database(conn)
            before = migrate.current(conn)
            planned = migrate.steps(before, revision, up=up)
            run = migrate.upgrade if up else migrate.downgrade
            if not planned:  # nothing to do, or not known ahead (`+1`, a bad revision)
                run(conn, revision, on_step=applied.append)
            else:
                with click.progressbar(
                    length=len(planned),
                    label="Upgrading" if up else "Downgrading",
                    file=sys.stderr,
                    show_eta=False,
                    item_show_func=lambda rev: rev,
                ) as bar:

                    def step(rev: str) -> None:
                        applied.append(rev)
                        bar.update(1, rev)

                    run(conn, revision, on_step=step)
            after = migrate.current(conn)
    finally:
        storage.close()
    return before, after, applied


@migrate_group.command("upgrade")
@click.argument("revision", default="head")
@pass_settings
def migrate_upgrade(settings: Settings, revision: str) -> None:
    """Upgrade the schema to REVISION (default: head). Creates a SQLite file, and
    a PostgreSQL --schema, when missing. Safe while others use the database."""
    before, after, applied = run_steps(settings, revision, up=True)
    if applied:
        click.echo(f"upgraded {before or '<empty>'} -> {after} ({len(applied)} step(s))")
    else:
        click.echo(f"already at {after}")


@migrate_group.command("downgrade")
@click.argument("revision")
@pass_settings
def migrate_downgrade(settings: Settings, revision: str) -> None:
    """Downgrade the schema to REVISION (`base` drops every table of ours, rows
    included)."""
    require_file(settings)
    before, after, applied = run_steps(settings, revision, up=False)
    if applied:
        click.echo(f"downgraded {before} -> {after or '<empty>'} ({len(applied)} step(s))")
    else:
        click.echo(f"already at {after or '<empty>'}")


@migrate_group.command("current")
@json_option
@pass_settings
def migrate_current(settings: Settings, as_json: bool) -> None:
    """Print the database's revision (`<none>` before the first upgrade)."""
    require_file(settings)
    storage = open_storage(settings)
    try:
        at = migrate.current(storage.engine)
    finally:
        storage.close()
    latest = migrate.head()
    if as_json:
        print_json({"current": at, "head": latest, "at_head": at == latest})
    else:
        click.echo(f"{at or '<none>'}{' (head)' if at == latest else ''}")


@migrate_group.command("check")
@pass_settings
def migrate_check(settings: Settings) -> None:
    """Exit 0 when the database is at head, else 1 saying where it is."""
    require_file(settings)
    storage = open_storage(settings)
    try:
        migrate.check(storage.engine)
    except MigrationRequiredError as error:
        raise Failure(
            f"the database is at revision {error.current or '<none>'}, head is {error.head}: "
            "run `mastra-storage migrate upgrade`"
        ) from error
    finally:
        storage.close()
    click.echo(f"at head ({migrate.head()})")


@migrate_group.command("repair-timestamps")
@json_option
@pass_settings
def migrate_repair_timestamps(settings: Settings, as_json: bool) -> None:
    """Repair timestamps an older Mastra wrote in its host's local time
    (PostgreSQL: plain columns that differ from their "...Z" twins by a time
    zone offset). Migration 0006 did it once; run it again while such services
    still write. Idempotent; nothing to do on SQLite."""
    with migrated(settings) as storage:
        changed = migrate.repair_local_timestamps(storage.engine)
    if as_json:
        print_json({"repaired": changed})
    else:
        click.echo(f"repaired {changed} timestamp(s)")


@migrate_group.command("history")
@json_option
def migrate_history(as_json: bool) -> None:
    """List the revisions this version ships, newest first."""
    revisions = migrate.history()
    if as_json:
        print_json([vars(rev) for rev in revisions])
        return
    print_table(
        ["revision", "down revision", "what it does"],
        [[rev.revision, rev.down_revision, rev.doc] for rev in revisions],
        empty="no revisions",
    )


# -- listings --------------------------------------------------------------------------


def page_options(default: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        function = click.option("--page", type=click.IntRange(min=0), default=0, show_default=True)(
            function
        )
        return click.option(
            "--per-page",
            type=click.IntRange(min=1, max=1000),
            default=default,
            show_default=True,
        )(function)

    return decorate


@main.group("threads")
def threads_group() -> None:
    """Conversation threads (mastra_threads)."""


@threads_group.command("list")
@click.option("--resource", "resource_id", help="Only the threads of this resource (user).")
@page_options(50)
@json_option
@pass_settings
def threads_list(
    settings: Settings, resource_id: str | None, page: int, per_page: int, as_json: bool
) -> None:
    """List threads, newest first."""
    with migrated(settings) as storage:
        found = storage.list_threads(resource_id=resource_id, page=page, per_page=per_page)
    if as_json:
        print_json([thread.model_dump(mode="json") for thread in found.threads])
        return
    print_table(
        ["id", "resource", "title", "created", "updated"],
        [[t.id, t.resource_id, t.title, t.created_at, t.updated_at] for t in found.threads],
        empty="no threads",
    )
    if found.threads:
        click.echo(f"{len(found.threads)} of {found.total} thread(s), page {page}", err=True)


@main.group("messages")
def messages_group() -> None:
    """Messages of a thread (mastra_messages)."""


@messages_group.command("tail")
@click.argument("thread_id")
@click.option(
    "-n", "--lines", "count", type=click.IntRange(min=1, max=1000), default=20, show_default=True
)
@json_option
@pass_settings
def messages_tail(settings: Settings, thread_id: str, count: int, as_json: bool) -> None:
    """Print the last messages of THREAD_ID, oldest first."""
    with migrated(settings) as storage:
        if storage.get_thread_by_id(thread_id=thread_id) is None:
            raise Failure(f"no thread {thread_id!r}")
        found = storage.list_messages(
            thread_id=thread_id, per_page=count, direction="DESC", count_total=False
        )
    messages = list(reversed(found.messages))
    if as_json:
        print_json([message.model_dump(mode="json") for message in messages])
        return
    print_table(
        ["created", "role", "id", "text"],
        [[m.created_at, m.role, m.id, message_text(m)] for m in messages],
        empty="no messages",
    )


@main.group("runs")
def runs_group() -> None:
    """Workflow runs (mastra_workflow_snapshot)."""


@runs_group.command("list")
@click.option("--workflow", "workflow_name", help="Only the runs of this workflow.")
@click.option(
    "--status",
    type=click.Choice(WORKFLOW_RUN_STATUSES),
    help="Only runs in this status (Mastra's WorkflowRunStatus).",
)
@click.option(
    "--thread", "thread_id", help="Only runs of this memory thread (as Mastra embeds it)."
)
@page_options(50)
@json_option
@pass_settings
def runs_list(
    settings: Settings,
    workflow_name: str | None,
    status: str | None,
    thread_id: str | None,
    page: int,
    per_page: int,
    as_json: bool,
) -> None:
    """List workflow runs, newest first."""
    with migrated(settings) as storage:
        found = storage.list_workflow_runs(
            workflow_name=workflow_name,
            status=status,
            thread_id=thread_id,
            page=page,
            per_page=per_page,
        )
    if as_json:
        print_json([run.model_dump(mode="json") for run in found.runs])
        return
    print_table(
        ["workflow", "run", "status", "resource", "created", "updated"],
        [
            [
                r.workflow_name,
                r.run_id,
                r.snapshot.get("status"),
                r.resource_id,
                r.created_at,
                r.updated_at,
            ]
            for r in found.runs
        ],
        empty="no workflow runs",
    )
    if found.runs:
        click.echo(f"{len(found.runs)} of {found.total} run(s), page {page}", err=True)


@main.group("locks")
def locks_group() -> None:
    """Workflow run locks (mastra_workflow_run_locks)."""


@locks_group.command("list")
@click.option("--workflow", "workflow_name", help="Only the locks of this workflow.")
@click.option("--limit", type=click.IntRange(min=1, max=10_000), default=100, show_default=True)
@json_option
@pass_settings
def locks_list(settings: Settings, workflow_name: str | None, limit: int, as_json: bool) -> None:
    """List the run locks held now, by any process."""
    with migrated(settings) as storage:
        locks = storage.list_workflow_run_locks(workflow_name=workflow_name, limit=limit)
    if as_json:
        print_json([lock.model_dump(mode="json") for lock in locks])
        return
    print_table(
        ["workflow", "run", "backend", "token", "expires", "holder"],
        [
            [
                lock.workflow_name,
                lock.run_id,
                lock.backend,
                lock.fencing_token,
                lock.expires_at,
                lock.holder,
            ]
            for lock in locks
        ],
        empty="no locks held",
    )


# -- retention -------------------------------------------------------------------------


def parse_age(ctx: click.Context, param: click.Parameter, value: str) -> timedelta:
    """`--older-than`: a number and a unit (ms, s, m, h, d, w), as `storage.prune`
    takes it; anything else is bad usage (exit 2) before the database is opened."""
    try:
        return age_of(value)
    except ValidationError:
        raise click.BadParameter(
            f"{value!r} is not an age such as 30d, 12h, 90m, 45s, 500ms or 2w"
        ) from None


@main.command("prune")
@click.option(
    "--older-than",
    "age",
    callback=parse_age,
    required=True,
    help="Delete what was last updated longer ago than this: 30d, 12h, 90m, 45s, 500ms, 2w.",
)
@click.option(
    "--domain",
    "domains",
    multiple=True,
    type=click.Choice(operations.DOMAINS),
    help="Only this domain (repeatable; default: all).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, MAX_BATCH_SIZE),
    default=1000,
    show_default=True,
    help="Rows per batch; each batch is its own transaction.",
)
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@json_option
@pass_settings
def prune(
    settings: Settings,
    age: timedelta,
    domains: tuple[str, ...],
    batch_size: int,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Delete rows older than --older-than (`storage.prune`), domain by domain
    with a progress bar, all against one cutoff fixed at the start."""
    chosen = [domain for domain in operations.DOMAINS if not domains or domain in domains]
    # One prune call per step of the bar; messages and threads share one, as a
    # thread goes with its messages (a dry run then counts each message once).
    parts = [[d for d in chosen if d in ("messages", "threads")]]
    parts = [part for part in parts if part] + [
        [d] for d in chosen if d not in ("messages", "threads")
    ]
    with migrated(settings) as storage:
        cutoff = utc_now() - age
        report = PruneReport(counts=dict.fromkeys(chosen, 0), dry_run=dry_run, cutoff=cutoff)
        with click.progressbar(
            parts,
            label="Counting" if dry_run else "Pruning",
            file=sys.stderr,
            show_eta=False,
            item_show_func=lambda part: ", ".join(part) if part else None,
        ) as bar:
            for part in bar:
                # The same cutoff for every part, however long the earlier ones took.
                since = max(utc_now() - cutoff, timedelta(microseconds=1))
                done = storage.prune(
                    older_than=since, domains=part, batch_size=batch_size, dry_run=dry_run
                )
                report = operations.add_counts(report, done.counts)
    if as_json:
        print_json({**report.model_dump(mode="json"), "total": report.total})
        return
    print_counts(report, "would delete" if dry_run else "deleted")
    note = " (dry run: nothing deleted)" if dry_run else ""
    click.echo(f"cutoff {cell(cutoff)}{note}")


def stdin_is_interactive() -> bool:
    return sys.stdin.isatty()


@main.command("erase-resource")
@click.argument("resource_id")
@click.option("--yes", "-y", is_flag=True, help="Erase without asking (needed without a terminal).")
@json_option
@pass_settings
def erase_resource(settings: Settings, resource_id: str, yes: bool, as_json: bool) -> None:
    """Erase RESOURCE_ID and everything of it (`storage.delete_resource`): its
    threads and messages, working memory, workflow runs and scores. Asks first
    on a terminal; without one (scripts, pipes) it refuses unless --yes."""
    with migrated(settings) as storage:
        if not yes:
            if not stdin_is_interactive():
                raise click.UsageError(
                    "erase-resource asks before erasing; without a terminal pass --yes"
                )
            if not click.confirm(
                f"Erase resource {resource_id!r} and everything of it?", default=False, err=True
            ):
                raise Failure(f"not confirmed: nothing of {resource_id!r} erased")
        report = storage.delete_resource(resource_id=resource_id)
    if as_json:
        print_json({"resource_id": resource_id, "counts": report.counts, "total": report.total})
        return
    print_counts(report, "deleted")


def print_counts(report: PruneReport, heading: str) -> None:
    rows: list[list[Any]] = [[domain, count] for domain, count in report.counts.items()]
    print_table(["domain", heading], [*rows, ["total", report.total]], empty="")


# -- memory ----------------------------------------------------------------------------

EMBEDDERS = ("sentence-transformers", "hashing")
EXTRA = "mastra-storage[embeddings]"
RESOURCES_PER_QUERY = 500
"""Resource ids fetched per query when `memory reindex` walks every resource."""


@main.group("memory")
def memory_group() -> None:
    """Memory's semantic recall index (memory_messages)."""


def make_embedder(name: str, dimension: int | None) -> Embedder:
    """The embedder `--embedder` names; a missing extra is an error naming it."""
    if name == "hashing":
        return HashingEmbedder(dimension or 256)
    if dimension is not None:
        raise click.UsageError("--dimension is for --embedder hashing only")
    try:
        return SentenceTransformerEmbedder()
    except ImportError as error:
        hint = "" if EXTRA in str(error) else f" (it needs the extra: pip install '{EXTRA}')"
        raise Failure(f"--embedder sentence-transformers: {error}{hint}") from error


def resources_to_index(storage: MastraStorage) -> Iterator[str]:
    """Every resource id with messages that have no vector, in order, a page
    of ids at a time (those indexed meanwhile drop out of later pages)."""
    after: str | None = None
    while True:
        page = storage._run(
            unindexed_resources, None, write=False, after=after, limit=RESOURCES_PER_QUERY
        )
        yield from page
        if len(page) < RESOURCES_PER_QUERY:
            return
        after = page[-1]


@memory_group.command("reindex")
@click.option("--resource", "resource_id", help="Only this resource's messages (default: all).")
@click.option(
    "--thread", "thread_id", help="Only this thread's messages (its resource unless --resource)."
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Messages embedded per batch; each batch is its own transaction.",
)
@click.option(
    "--embedder",
    "embedder_name",
    type=click.Choice(EMBEDDERS),
    default="sentence-transformers",
    show_default=True,
    help="sentence-transformers (all-MiniLM-L6-v2; extra mastra-storage[embeddings]), "
    "or hashing (HashingEmbedder: shared words, no model).",
)
@click.option(
    "--dimension",
    type=click.IntRange(1, 65_536),
    default=None,
    help="Vector length of --embedder hashing (default 256).",
)
@json_option
@pass_settings
def memory_reindex(
    settings: Settings,
    resource_id: str | None,
    thread_id: str | None,
    batch_size: int,
    embedder_name: str,
    dimension: int | None,
    as_json: bool,
) -> None:
    """Embed the messages that have no vector yet (`Memory.index_messages`):
    saved before semantic recall was on, by plain storage calls, or by a
    Mastra TypeScript service. A progress bar on stderr; a second run finds
    nothing to do. Use the embedder your application's Memory uses: the index
    holds one dimension, and another is refused before anything is embedded."""
    operations.optional_text(resource_id, "resource_id")
    operations.optional_text(thread_id, "thread_id")
    embedder = make_embedder(embedder_name, dimension)
    with migrated(settings) as storage:
        stored = storage._run(stored_dimensions, None, write=False)
        if stored is not None and embedder.dimension not in stored:
            raise Failure(
                f"the index holds {stored[0]}-dimension vectors, --embedder {embedder_name} "
                f"gives {embedder.dimension}: use the embedder that built the index "
                "(or empty it with Memory.clear_index() to rebuild it with another)"
            )
        if thread_id is not None and resource_id is None:
            thread = storage.get_thread_by_id(thread_id=thread_id)
            if thread is None:
                raise Failure(f"no thread {thread_id!r}")
            resource_id = thread.resource_id
        total = storage._run(
            count_unindexed, None, write=False, resource_id=resource_id, thread_id=thread_id
        )
        memory = Memory(storage, embedder=embedder)
        counts: dict[str, int] = {}
        looked_at = 0
        with click.progressbar(length=total, label="Indexing", file=sys.stderr) as bar:
            resources: Iterable[str] = (
                ()
                if not total
                else [resource_id]
                if resource_id is not None
                else resources_to_index(storage)
            )
            for resource in resources:
                seen = 0

                def progress(done: int, _total: int) -> None:
                    nonlocal seen
                    bar.update(done - seen)
                    seen = done

                indexed = memory.index_messages(
                    resource_id=resource,
                    thread_id=thread_id,
                    batch_size=batch_size,
                    progress=progress,
                )
                looked_at += seen
                if indexed:
                    counts[resource] = indexed
    indexed_total = sum(counts.values())
    if as_json:
        print_json(
            {
                "indexed": indexed_total,
                "looked_at": looked_at,
                "resources": counts,
                "embedder": embedder_name,
                "dimension": embedder.dimension,
            }
        )
        return
    if not indexed_total:
        click.echo("nothing to index")
        return
    print_table(["resource", "indexed"], [*counts.items(), ("total", indexed_total)], empty="")
    click.echo(f"{embedder_name} embedder, {embedder.dimension} dimensions", err=True)


def run() -> NoReturn:
    """The console entry point."""
    main(prog_name="mastra-storage")
    raise SystemExit(0)  # pragma: no cover (click exits)
