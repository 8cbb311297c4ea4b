"""The store: one SQLite file for history, the response cache and usage, shared by every kernel.

Where it lives: ``settings.store`` (``%nemotron config store=…``), else ``NEMOTRON_STORE``, else
``jupyter_data_dir()/nemotron-magics/store.sqlite3``; ``off`` (either way) turns it off.

Several kernels write it at once, so: WAL mode (readers never wait for the writer), a busy
timeout, and short ``BEGIN IMMEDIATE`` transactions retried while another process holds the lock.
Nothing is written that a reader should not see: every text goes through the package's one
redaction (:func:`._secrets.redact`) before it reaches the file, so no key is ever stored.

Tables: ``history`` (one row per finished response, with an FTS5 index over prompt, answer and
reasoning), ``cache`` (key → response dict, see :mod:`._cache`). Usage is summed from history.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._config import settings
from ._errors import ConfigurationError
from ._secrets import redact

if TYPE_CHECKING:
    from ._response import Response

ENV_VAR = "NEMOTRON_STORE"
_OFF = ("off", "none", "false", "0", "no")
#: How long one write keeps trying while other processes hold the lock (seconds).
LOCK_PATIENCE = 60.0
_T = TypeVar("_T")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS history (
        id INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        provider TEXT, model TEXT,
        params TEXT, messages TEXT, prompt TEXT,
        reasoning TEXT, answer TEXT, tool_calls TEXT,
        prompt_tokens INTEGER, completion_tokens INTEGER, reasoning_tokens INTEGER, cached_tokens INTEGER,
        cost REAL, cost_is_estimate INTEGER,
        latency REAL, finish_reason TEXT, error TEXT, pid INTEGER
    )""",
    "CREATE INDEX IF NOT EXISTS history_time ON history(time)",
    """CREATE VIRTUAL TABLE IF NOT EXISTS history_text USING fts5(
        prompt, answer, reasoning, content='history', content_rowid='id'
    )""",
    """CREATE TRIGGER IF NOT EXISTS history_indexed AFTER INSERT ON history BEGIN
        INSERT INTO history_text(rowid, prompt, answer, reasoning)
        VALUES (new.id, new.prompt, new.answer, new.reasoning);
    END""",
    """CREATE TABLE IF NOT EXISTS cache (
        key TEXT PRIMARY KEY, time REAL NOT NULL, provider TEXT, model TEXT, response TEXT NOT NULL
    )""",
)


def store_path() -> Path | None:
    """The store's file now, or None when it is off."""
    value = (settings.store or os.environ.get(ENV_VAR) or "").strip()
    if value.lower() in _OFF:
        return None
    if value:
        return Path(value).expanduser()
    try:
        from jupyter_core.paths import jupyter_data_dir

        base = Path(jupyter_data_dir())
    except ModuleNotFoundError:  # jupyter_core comes with any kernel; a bare script may lack it
        base = Path.home() / ".local" / "share" / "jupyter"
    return base / "nemotron-magics" / "store.sqlite3"


def _locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Store:
    """One SQLite file; one connection per process, used under a lock by any thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<Store {str(self.path)!r}>"

    # -- the connection ------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():  # prompts and answers are private: the owner reads them
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            conn = sqlite3.connect(
                self.path, timeout=LOCK_PATIENCE, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(
                f"The store {self.path} cannot be opened ({exc}); set NEMOTRON_STORE to a writable "
                "file, or NEMOTRON_STORE=off"
            ) from None
        conn.execute(f"PRAGMA busy_timeout={int(LOCK_PATIENCE * 1000)}")
        self._retry(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a killed process

        def create() -> None:
            with self._transaction(conn):
                for statement in _SCHEMA:
                    conn.execute(statement)

        self._retry(create)
        self._conn, self._pid = conn, os.getpid()
        return conn

    @staticmethod
    @contextmanager
    def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")  # take the write lock now, so a busy wait happens here
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @staticmethod
    def _retry(work: Callable[[], _T]) -> _T:
        """Run ``work``, again while another process holds the lock (past the busy timeout)."""
        deadline = time.monotonic() + LOCK_PATIENCE
        pause = 0.01
        while True:
            try:
                return work()
            except sqlite3.OperationalError as exc:
                if not _locked(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    def write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Run the statements in one short transaction (all or nothing), retried while locked."""
        with self._lock:
            conn = self._connection()

            def run() -> None:
                with self._transaction(conn):
                    for sql, args in statements:
                        conn.execute(sql, args)

            self._retry(run)

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            conn = self._connection()
            return self._retry(lambda: conn.execute(sql, args).fetchall())

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # -- rows ----------------------------------------------------------------------------
    def history_row(self, r: Response) -> tuple[str, Sequence[Any]]:
        body = dict(r.request or {})
        messages = body.pop("messages", [])
        for transport_only in ("stream", "stream_options"):
            body.pop(transport_only, None)
        u = r.usage
        calls = [
            {
                "name": c.name,
                "arguments": c.arguments_text,
                "status": c.status,
                "result": c.result,
                "error": c.error,
            }
            for c in r.tool_calls
        ]
        error = r.error.message if r.error is not None else None
        if error is None and r.validation_errors:
            error = "not valid against the schema: " + "; ".join(r.validation_errors[:5])
        values = (
            r.timings.sent_at,
            r.provider,
            r.model,
            _text(json.dumps(body, default=str)),
            _text(json.dumps(messages, default=str)),
            _text(last_user_text(messages)),
            _text(r.reasoning),
            _text(r.content),
            _text(json.dumps(calls, default=str)) if calls else None,
            _whole(u.prompt_tokens) if u else None,
            _whole(u.completion_tokens) if u else None,
            _whole(u.reasoning_tokens) if u else None,
            _whole(u.cached_tokens) if u else None,
            _money(u.cost) if u else None,
            int(bool(u and u.cost_is_estimate)),
            r.timings.done,
            r.finish_reason,
            _text(error),
            os.getpid(),
        )
        sql = (
            "INSERT INTO history (time, provider, model, params, messages, prompt, reasoning, answer, "
            "tool_calls, prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cost, "
            "cost_is_estimate, latency, finish_reason, error, pid) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        return sql, values

    @staticmethod
    def cache_row(key: str, r: Response) -> tuple[str, Sequence[Any]]:
        document = _text(json.dumps(r.to_dict(), default=str))
        return (
            "INSERT OR REPLACE INTO cache (key, time, provider, model, response) VALUES (?, ?, ?, ?, ?)",
            (key, time.time(), r.provider, r.model, document),
        )

    def cached(self, key: str) -> dict[str, Any] | None:
        rows = self.read("SELECT response FROM cache WHERE key = ?", (key,))
        if not rows:
            return None
        value: dict[str, Any] = json.loads(rows[0][0])
        return value


def _text(value: str | None) -> str | None:
    return redact(value) if value else value


def _whole(value: Any) -> int | None:
    return value if type(value) is int else None


def _money(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) else None


def last_user_text(messages: Any) -> str:
    """The text of the last user message (what a reader calls "the prompt")."""
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):  # content parts: the text ones
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


# --------------------------------------------------------------------------- the process's store

_stores: dict[Path, Store] = {}
_stores_lock = threading.Lock()


def get_store() -> Store | None:
    """The store in effect now (None when off); one :class:`Store` per path per process."""
    path = store_path()
    if path is None:
        return None
    with _stores_lock:
        store = _stores.get(path)
        if store is None:
            store = _stores[path] = Store(path)
        return store


def clean_finish(r: Response) -> bool:
    """Whether an answer may be served again from the cache: it ended by itself, whole and valid."""
    return r.error is None and r.finish_reason in ("stop", "tool_calls") and not r.validation_errors


def record_finished(r: Response) -> None:
    """The completion hook's subscriber: one history row, and the cache entry if one was asked for."""
    if r.cached:
        return  # served from the cache: no call was made, nothing new to log
    store = get_store()
    if store is None:
        return
    statements = [store.history_row(r)]
    if r.cache_key is not None and clean_finish(r):
        statements.append(store.cache_row(r.cache_key, r))
    store.write(statements)


__all__ = ["ENV_VAR", "Store", "clean_finish", "get_store", "record_finished", "store_path"]
