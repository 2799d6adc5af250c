"""SQLite state under the home: WAL mode, numbered schema migrations (PRAGMA user_version)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

MIGRATIONS: tuple[str, ...] = (
    # 1: tasks this node worked on or requested, their stage history, earnings, known peers.
    """
    CREATE TABLE tasks (
        task_id TEXT PRIMARY KEY,
        role TEXT NOT NULL DEFAULT 'worker',
        model TEXT NOT NULL DEFAULT '',
        model_cid TEXT NOT NULL DEFAULT '',
        input_cid TEXT NOT NULL DEFAULT '',
        result_cid TEXT NOT NULL DEFAULT '',
        result_hash TEXT NOT NULL DEFAULT '',
        stage TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        reward_wei TEXT NOT NULL DEFAULT '0',
        failure_reason TEXT NOT NULL DEFAULT '',
        details TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX tasks_stage ON tasks(stage);
    CREATE INDEX tasks_updated ON tasks(updated_at);
    CREATE TABLE task_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL,
        stage TEXT NOT NULL,
        ts REAL NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        tx_hash TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX task_events_task ON task_events(task_id);
    CREATE TABLE earnings (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL,
        amount_wei TEXT NOT NULL,
        token TEXT NOT NULL DEFAULT 'COMP',
        tx_hash TEXT NOT NULL DEFAULT '',
        ts REAL NOT NULL
    );
    CREATE TABLE peers (
        peer_id TEXT PRIMARY KEY,
        addrs TEXT NOT NULL DEFAULT '[]',
        score REAL NOT NULL DEFAULT 0,
        capabilities TEXT NOT NULL DEFAULT '{}',
        last_seen REAL NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
)


class MigrationError(RuntimeError):
    """The database was written by a newer version of the node."""


def open_db(path: Path, migrations: tuple[str, ...] = MIGRATIONS) -> sqlite3.Connection:
    """Open (creating if needed) the state database and bring its schema up to date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10, isolation_level="DEFERRED", check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    migrate(conn, migrations)
    return conn


def migrate(conn: sqlite3.Connection, migrations: tuple[str, ...] = MIGRATIONS) -> int:
    """Apply pending migrations, each in its own transaction; returns the schema version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(migrations):
        raise MigrationError(f"state database schema {version} is newer than this node "
                             f"({len(migrations)}); upgrade oarn")
    for number, script in enumerate(migrations[version:], start=version + 1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    return len(migrations)
