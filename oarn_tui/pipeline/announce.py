"""Gossip bodies of the pipeline: task announcements and result notices.

Announcements are hints: a worker always reads the task from the chain before acting, so a
forged or stale announcement never causes a wrong claim. What hints may cost is bounded by
`intake.AnnouncementIntake` (budgets per origin before any RPC, the chain's task counter); the
announced model name is display only — `accepted_models` never matches it (see compute.policy).
"""

from __future__ import annotations

from typing import Any

MAX_TASK_ID = 2**63


def task_item(task_id: int, *, model_cid: str, input_cid: str, framework: str,
              reward_wei: int, redundancy: int, model_name: str = "") -> dict[str, Any]:
    return {"task_id": int(task_id), "model_cid": model_cid, "input_cid": input_cid,
            "framework": framework, "reward_wei": str(reward_wei), "redundancy": redundancy,
            "model_name": model_name}


def announced_task_ids(body: dict[str, Any]) -> tuple[list[int], list[str]]:
    """Task ids from a `tasks` body, and one-line reasons for items that were malformed."""
    ids: list[int] = []
    problems: list[str] = []
    items = body.get("tasks")
    if not isinstance(items, list):
        return [], ["body has no task list"]
    for item in items:
        raw = item.get("task_id") if isinstance(item, dict) else None
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw < MAX_TASK_ID:
            problems.append(f"bad task_id {raw!r}")
            continue
        ids.append(raw)
    return ids, problems


def model_names(body: dict[str, Any]) -> dict[int, str]:
    """Announced model names by task id (display only: never trusted for `accepted_models`)."""
    names: dict[int, str] = {}
    for item in body.get("tasks") or ():
        if isinstance(item, dict) and isinstance(item.get("task_id"), int):
            name = item.get("model_name")
            if isinstance(name, str) and len(name) <= 128:
                names[item["task_id"]] = name
    return names
