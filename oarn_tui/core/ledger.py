"""The local task ledger: each task's current stage, its stage timeline and the node's earnings.

The pipeline writes here at every transition (before acting on chain, so a restart knows what was
in flight); the dashboard and `status --json` read from here.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from oarn_tui.core.frozen import thaw

WORKER_STAGES = ("discovered", "accepted", "claimed", "fetching", "running", "storing",
                 "submitted", "verified", "rewarded")
REQUESTER_STAGES = ("requested", "assigned", "result_ready", "fetched", "finalized")
END_STAGES = ("rewarded", "finalized", "failed", "released", "cancelled", "refunded", "rejected")
STAGES = WORKER_STAGES + REQUESTER_STAGES + ("failed", "released", "cancelled", "refunded",
                                             "rejected")


@dataclass(frozen=True)
class TaskRecord:
    """One task as the ledger knows it."""

    task_id: str
    stage: str
    role: str = "worker"
    model: str = ""
    model_cid: str = ""
    input_cid: str = ""
    result_cid: str = ""
    result_hash: str = ""
    progress: float = 0.0
    reward_wei: int = 0
    failure_reason: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """A dict from the ledger; a read-only mapping in a snapshot (`NodeSnapshot.tasks`)."""

    @property
    def elapsed_s(self) -> float:
        return max(0.0, self.updated_at - self.created_at)

    def to_dict(self) -> dict[str, Any]:
        from oarn_tui.amounts import amount_json

        return {"task_id": self.task_id, "stage": self.stage, "role": self.role,
                "model": self.model, "model_cid": self.model_cid, "input_cid": self.input_cid,
                "result_cid": self.result_cid, "result_hash": self.result_hash,
                "progress": self.progress, "reward": amount_json(self.reward_wei),
                "failure_reason": self.failure_reason, "created_at": self.created_at,
                "updated_at": self.updated_at, "details": thaw(self.details)}


@dataclass(frozen=True)
class StageEvent:
    task_id: str
    stage: str
    ts: float
    note: str = ""
    tx_hash: str = ""


@dataclass(frozen=True)
class Earning:
    task_id: str
    amount_wei: int
    token: str
    tx_hash: str
    ts: float


class UnknownStage(ValueError):
    pass


def _row_to_task(row: sqlite3.Row) -> TaskRecord:
    return TaskRecord(task_id=row["task_id"], stage=row["stage"], role=row["role"],
                      model=row["model"], model_cid=row["model_cid"], input_cid=row["input_cid"],
                      result_cid=row["result_cid"], result_hash=row["result_hash"],
                      progress=row["progress"], reward_wei=int(row["reward_wei"]),
                      failure_reason=row["failure_reason"], created_at=row["created_at"],
                      updated_at=row["updated_at"], details=json.loads(row["details"]))


DURABLE_DETAILS = frozenset({"salt"})
"""Detail keys whose loss would cost money (an unrevealable commitment): always fsynced."""


@contextlib.contextmanager
def _synchronous_full(db: sqlite3.Connection) -> Iterator[None]:
    """`PRAGMA synchronous=FULL` for the enclosed commit, then back to what it was."""
    previous = db.execute("PRAGMA synchronous").fetchone()[0]
    db.execute("PRAGMA synchronous=FULL")
    try:
        yield
    finally:
        db.execute(f"PRAGMA synchronous={int(previous)}")


class TaskLedger:
    """Reads and writes tasks, stage events and earnings in the state database."""

    UPDATABLE = ("role", "model", "model_cid", "input_cid", "result_cid", "result_hash",
                 "progress", "reward_wei", "failure_reason")

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.revision = 0
        """Bumped on every write, so readers can reuse what they built from an unchanged
        ledger (the status document's task list)."""

    def transition(self, task_id: str, stage: str, *, note: str = "", tx_hash: str = "",
                   details: dict[str, Any] | None = None, ts: float | None = None,
                   durable: bool = False, **fields: Any) -> TaskRecord:
        """Move `task_id` to `stage` (creating it if new), recording a timeline event.

        `durable` (implied when `details` carries a `DURABLE_DETAILS` key such as the
        commit-reveal salt) commits with `synchronous=FULL`: the WAL is fsynced before this
        returns, so a power loss cannot lose a secret that a later on-chain step needs (the
        database otherwise runs with `synchronous=NORMAL`, which may drop the last commits).
        """
        if stage not in STAGES:
            raise UnknownStage(f"unknown task stage {stage!r}")
        unknown = set(fields) - set(self.UPDATABLE)
        if unknown:
            raise TypeError(f"unknown task fields: {sorted(unknown)}")
        now = time.time() if ts is None else ts
        if "reward_wei" in fields:
            fields["reward_wei"] = str(int(fields["reward_wei"]))
        durable = durable or bool(DURABLE_DETAILS & set(details or {}))
        with _synchronous_full(self.db) if durable else contextlib.nullcontext(), self.db:
            existing = self.db.execute("SELECT details FROM tasks WHERE task_id = ?",
                                       (task_id,)).fetchone()
            merged = json.loads(existing["details"]) if existing else {}
            merged.update(details or {})
            if existing is None:
                columns = ["task_id", "stage", "created_at", "updated_at", "details", *fields]
                values = [task_id, stage, now, now, json.dumps(merged), *fields.values()]
                self.db.execute(
                    f"INSERT INTO tasks ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' for _ in columns)})", values)
            else:
                sets = ["stage = ?", "updated_at = ?", "details = ?"] + [f"{k} = ?" for k in fields]
                self.db.execute(f"UPDATE tasks SET {', '.join(sets)} WHERE task_id = ?",
                                [stage, now, json.dumps(merged), *fields.values(), task_id])
            self.db.execute("INSERT INTO task_events (task_id, stage, ts, note, tx_hash) "
                            "VALUES (?, ?, ?, ?, ?)", (task_id, stage, now, note, tx_hash))
        self.revision += 1
        record = self.get(task_id)
        assert record is not None
        return record

    def update(self, task_id: str, **fields: Any) -> None:
        """Change fields without a stage transition (progress, CIDs)."""
        if not fields:
            return
        if "reward_wei" in fields:
            fields["reward_wei"] = str(int(fields["reward_wei"]))
        with self.db:
            self.db.execute(
                f"UPDATE tasks SET {', '.join(f'{k} = ?' for k in fields)}, updated_at = ? "
                "WHERE task_id = ?", [*fields.values(), time.time(), task_id])
        self.revision += 1

    def get(self, task_id: str) -> TaskRecord | None:
        row = self.db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        return _row_to_task(row) if row else None

    def recent(self, limit: int = 200, role: str | None = None) -> list[TaskRecord]:
        query = "SELECT * FROM tasks" + (" WHERE role = ?" if role else "")
        query += " ORDER BY updated_at DESC LIMIT ?"
        params: tuple[Any, ...] = (role, limit) if role else (limit,)
        return [_row_to_task(r) for r in self.db.execute(query, params)]

    def in_stages(self, stages: Iterable[str]) -> list[TaskRecord]:
        stages = tuple(stages)
        rows = self.db.execute(
            f"SELECT * FROM tasks WHERE stage IN ({', '.join('?' for _ in stages)}) "
            "ORDER BY created_at", stages)
        return [_row_to_task(r) for r in rows]

    def counts(self) -> dict[str, int]:
        return {row[0]: row[1] for row in
                self.db.execute("SELECT stage, COUNT(*) FROM tasks GROUP BY stage")}

    def timeline(self, task_id: str) -> list[StageEvent]:
        rows = self.db.execute("SELECT task_id, stage, ts, note, tx_hash FROM task_events "
                               "WHERE task_id = ? ORDER BY id", (task_id,))
        return [StageEvent(*row) for row in rows]

    def record_earning(self, task_id: str, amount_wei: int, tx_hash: str = "",
                       token: str = "COMP") -> Earning:
        now = time.time()
        with self.db:
            self.db.execute("INSERT INTO earnings (task_id, amount_wei, token, tx_hash, ts) "
                            "VALUES (?, ?, ?, ?, ?)", (task_id, str(amount_wei), token, tx_hash,
                                                       now))
        self.revision += 1
        return Earning(task_id, amount_wei, token, tx_hash, now)

    def earnings(self, limit: int = 50) -> list[Earning]:
        rows = self.db.execute("SELECT task_id, amount_wei, token, tx_hash, ts FROM earnings "
                               "ORDER BY id DESC LIMIT ?", (limit,))
        return [Earning(r[0], int(r[1]), r[2], r[3], r[4]) for r in rows]

    def total_earned_wei(self, token: str = "COMP") -> int:
        return sum(int(r[0]) for r in
                   self.db.execute("SELECT amount_wei FROM earnings WHERE token = ?", (token,)))
