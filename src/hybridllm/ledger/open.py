"""Open a ledger store from its URL (``ledger.url`` in the config)."""

from __future__ import annotations

import os

from hybridllm.errors import UsageError
from hybridllm.ledger.spool import Spool, spool_dir
from hybridllm.ledger.sqlite import SqliteStore
from hybridllm.ledger.store import LedgerStore

__all__ = ["open_spool", "open_store", "sqlite_path"]

_POSTGRES = ("postgresql://", "postgres://", "postgresql+")


def open_store(url: str, *, migrate: bool = True) -> LedgerStore:
    """Open the store ``url`` names, and (unless ``migrate=False``) bring its schema up to date.

    - ``sqlite:///relative/path.db``: relative to the working directory
    - ``sqlite:////abs/path.db``: absolute
    - ``sqlite://:memory:``: in memory, gone when closed (tests)
    - ``postgresql://user:pass@host:5432/db`` (also ``postgres://``, ``postgresql+psycopg://``):
      :class:`~hybridllm.ledger.postgres.PostgresStore`; libpq options such as
      ``?options=-csearch_path%3Dmyschema`` or ``?sslmode=require`` pass through

    Anything else raises :class:`~hybridllm.errors.UsageError`.
    """
    store: LedgerStore
    if url.startswith(_POSTGRES):
        from hybridllm.ledger.postgres import PostgresStore

        store = PostgresStore(url)
    else:
        store = SqliteStore(sqlite_path(url))
    if migrate:
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
    return store


def open_spool(url: str) -> Spool | None:
    """The spool for the ledger ``url``: SQLite on a file has one (rows are crash-safe once
    spooled, see :mod:`hybridllm.ledger.spool`); in memory and Postgres have none (a reply
    waits for its row's commit)."""
    if url.startswith(_POSTGRES):
        return None
    path = sqlite_path(url)
    return None if path == ":memory:" else Spool(spool_dir(path))


def sqlite_path(url: str) -> str:
    """The file path (or ``:memory:``) of a ``sqlite://`` URL."""
    if not url.startswith("sqlite://"):
        raise UsageError(
            f"unknown ledger URL scheme {_scheme(url)!r}: expected sqlite:///relative/path.db, "
            "sqlite:////absolute/path.db or sqlite://:memory:"
        )
    rest = url.removeprefix("sqlite://")
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/") or rest == "/":
        raise UsageError(
            f"bad SQLite ledger URL {url!r}: expected sqlite:///relative/path.db, "
            "sqlite:////absolute/path.db or sqlite://:memory:"
        )
    path = rest[1:]  # "/rel.db" -> "rel.db"; "//abs.db" -> "/abs.db"
    if "?" in path or "#" in path:
        raise UsageError(f"bad SQLite ledger URL {url!r}: options are not supported")
    return os.path.expanduser(path)


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return scheme if sep else url[:20]
