"""Acceptance policy: should this node take this task right now, and why (not)?

Inputs: `[compute]` from the config, the latest hardware telemetry and how many tasks already run.
Every decision carries one readable reason ("needs 12 GiB VRAM, 7.5 GiB free"). Checks run in a
fixed order, cheapest and most final first, and the first failing one decides.

`compute.accepted_models` is matched against what the chain says, never against what a peer
announced: each entry (a glob or a CID) is tried on the task's on-chain model CID (its string as
the chain holds it; a CID entry also matches the same content in the other CID version) and on
the names this node's own model store binds to exactly that CID (`oarn model add/pull` record
name → CID locally). A model name from a gossip announcement is display only: a hostile CID
announced as `mlp-mnist` never passes an `mlp-*` policy.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from oarn_tui.amounts import format_amount
from oarn_tui.hardware.samples import TelemetrySample
from oarn_tui.storage.cid import CID, CIDError


@dataclass(frozen=True)
class TaskRequirements:
    """What a task needs, as the pipeline reads it from the chain/gossip task and manifest."""

    framework: str  # onnx | gguf | torchscript | ollama
    min_vram_mb: int = 0
    min_ram_mb: int = 0
    max_runtime_s: int = 0
    determinism_class: str = ""
    model_name: str = ""  # as announced by a peer: display only, never matched
    model_cid: str = ""  # as the chain holds it
    reward_wei: int = 0
    local_names: tuple[str, ...] = ()  # names the local model store binds to `model_cid`


@dataclass(frozen=True)
class Decision:
    accepted: bool
    reason: str

    def __bool__(self) -> bool:
        return self.accepted


def _gib(mb: float) -> str:
    value = mb / 1024
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text} GiB"


class AcceptancePolicy:
    """Decides on tasks from a `ComputeSection` (live keys take effect on `update`)."""

    def __init__(self, compute: Any, min_reward_wei: int, task_timeout_s: int | None = None
                 ) -> None:
        self.update(compute, min_reward_wei)
        self.task_timeout_s = task_timeout_s

    @classmethod
    def from_config(cls, config: Any) -> AcceptancePolicy:
        return cls(config.compute, config.min_reward_wei, config.compute.task_timeout_s)

    def update(self, compute: Any, min_reward_wei: int) -> None:
        self.compute = compute
        self.min_reward_wei = min_reward_wei

    def decide(self, task: TaskRequirements, telemetry: TelemetrySample | None,
               running_tasks: int = 0) -> Decision:
        c = self.compute  # pause/resume is the runtime's AcceptingSwitch, not checked here
        if task.framework not in c.frameworks:
            return Decision(False, f"framework {task.framework!r} is not offered "
                                   f"(offered: {', '.join(c.frameworks) or 'none'})")
        if not model_allowed(self.compute.accepted_models, task.model_cid, task.local_names):
            return Decision(False, _model_refusal(task))
        if task.reward_wei < self.min_reward_wei:
            return Decision(False, f"reward {format_amount(task.reward_wei)} COMP is below "
                                   f"min_reward {format_amount(self.min_reward_wei)} COMP")
        if running_tasks >= c.max_concurrent_tasks:
            return Decision(False, f"busy: {running_tasks} of {c.max_concurrent_tasks} task "
                                   "slots in use")
        if self.task_timeout_s and task.max_runtime_s > self.task_timeout_s:
            return Decision(False, f"needs up to {task.max_runtime_s} s, task_timeout_s is "
                                   f"{self.task_timeout_s} s")
        if telemetry is None:
            return Decision(False, "no hardware telemetry yet")
        return self._resources(task, telemetry)

    def _resources(self, task: TaskRequirements, t: TelemetrySample) -> Decision:
        c = self.compute
        hottest = t.hottest_gpu_c
        if hottest is not None and hottest >= c.max_temperature_c:
            return Decision(False, f"GPU at {hottest} °C, limit {c.max_temperature_c} °C")
        if c.only_when_idle and t.cpu_percent >= c.idle_cpu_percent:
            return Decision(False, f"machine busy: CPU at {t.cpu_percent:.0f} %, idle means "
                                   f"under {c.idle_cpu_percent} %")
        if task.min_vram_mb > 0:
            if not t.gpus:
                return Decision(False, f"needs {_gib(task.min_vram_mb)} VRAM, no GPU")
            free = t.vram_free_mb
            if task.min_vram_mb + c.vram_headroom_mb > free:
                return Decision(False, f"needs {_gib(task.min_vram_mb)} VRAM"
                                       f"{_headroom(c.vram_headroom_mb)}, {_gib(free)} free")
        if task.min_ram_mb + c.ram_headroom_mb > t.ram_available_mb:
            return Decision(False, f"needs {_gib(task.min_ram_mb)} RAM"
                                   f"{_headroom(c.ram_headroom_mb)}, "
                                   f"{_gib(t.ram_available_mb)} free")
        return Decision(True, "accepted: resources and policy allow it")


def _parse_cid(text: str) -> CID | None:
    try:
        return CID.parse(text)
    except (CIDError, ValueError):
        return None


def same_cid(a: str, b: CID | None) -> bool:
    """True when the string `a` is a CID naming the same content as `b` (either version)."""
    parsed = _parse_cid(a) if b is not None else None
    return parsed is not None and b is not None and parsed.to_v1() == b.to_v1()


def model_allowed(patterns: list[str], model_cid: str, local_names: tuple[str, ...] = ()
                  ) -> bool:
    """Does any `accepted_models` entry match the on-chain `model_cid` or a locally bound name?

    A CID entry matches the same content in either CID version; any entry also matches as a
    glob (so `bafyab*` and `*` keep working). Only `*` accepts a task with no model CID.
    """
    if not model_cid:
        return "*" in patterns
    chain_cid = _parse_cid(model_cid)
    candidates = [model_cid, *local_names]
    return any(same_cid(pattern, chain_cid)
               or any(fnmatch.fnmatchcase(name, pattern) for name in candidates)
               for pattern in patterns)


def names_bound_to(model_cid: str, manifests: list[dict[str, Any]]) -> tuple[str, ...]:
    """Names of the local model store's manifests whose CID is exactly `model_cid`'s content."""
    chain_cid = _parse_cid(model_cid)
    if chain_cid is None:
        return ()
    return tuple(str(m["name"]) for m in manifests
                 if isinstance(m.get("name"), str) and same_cid(str(m.get("cid", "")), chain_cid))


def _model_refusal(task: TaskRequirements) -> str:
    label = task.local_names[0] if task.local_names else (task.model_cid or "unnamed model")
    reason = f"model {label!r} matches no accepted_models pattern"
    if task.model_name and task.model_name not in task.local_names:
        reason += (f" (the announced name {task.model_name!r} counts only when the local model "
                   "store binds it to this CID)")
    return reason


def _headroom(mb: int) -> str:
    return f" + {_gib(mb)} headroom" if mb else ""
