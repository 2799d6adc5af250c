"""One owner per state (issue #13, build 5): `accepting` in one switch, one snapshot cache per
runtime, snapshots immutable all the way down. (Peers from libp2p events: tests/p2p.)"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oarn_tui.compute.policy import AcceptancePolicy, TaskRequirements
from oarn_tui.config import load_config, set_key
from oarn_tui.core.peerbook import PeerInfo
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.runtime.snapshot import NodeSnapshot

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[NodeRuntime]:
    node = NodeRuntime(load_config(tmp_path, env={}), log_to_file=False)
    yield node
    node.close()


def other_runtime(home: Path) -> NodeRuntime:
    return NodeRuntime(load_config(home, env={}), log_to_file=False)


# -- accepting ----------------------------------------------------------------------------------


async def test_config_reload_changes_accepting_after_a_pause_and_resume(
        runtime: NodeRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Today a pause/resume pinned `accepting` in `extra_status`: a later reload of a changed
    `compute.accepting` was ignored and the pipeline kept claiming."""
    monkeypatch.delenv("OARN_COMPUTE_ACCEPTING", raising=False)
    assert await runtime.commands.call("pause") == {"accepting": False}
    assert await runtime.commands.call("resume") == {"accepting": True}
    assert runtime.accepting is True
    set_key(tmp_path, "compute.accepting", "false")
    result = await runtime.commands.call("config.reload")
    assert "compute.accepting" in result["applied"]
    assert runtime.accepting is False  # what the pipeline reads (ServiceHost.accepting)
    status = runtime.status()
    assert status["accepting"] is False and status["accepting_set_by"] == "config"
    assert runtime.snapshot().accepting is False
    # last write wins: the operator resumes, a reload that leaves the key alone keeps it
    await runtime.commands.call("resume")
    await runtime.commands.call("config.reload")
    assert runtime.accepting is True and runtime.status()["accepting_set_by"] == "operator"
    set_key(tmp_path, "compute.accepting", "true")
    await runtime.commands.call("config.reload")
    await runtime.commands.call("pause")
    set_key(tmp_path, "node.log_level", '"debug"')
    await runtime.commands.call("config.reload")  # another key: the pause stays
    assert runtime.accepting is False


async def test_a_resume_is_not_vetoed_by_the_config_copy_in_the_policy(tmp_path: Path) -> None:
    """`compute.accepting = false` at start, then `resume`: the acceptance policy must not
    refuse with "paused" from its own copy of the config (the switch is the only owner)."""
    config = load_config(tmp_path, env={"OARN_COMPUTE_ACCEPTING": "false"})
    node = NodeRuntime(config, log_to_file=False)
    try:
        assert node.accepting is False
        await node.commands.call("resume")
        assert node.accepting is True
        decision = AcceptancePolicy.from_config(node.config).decide(
            TaskRequirements(framework="onnx", min_vram_mb=0, min_ram_mb=0, max_runtime_s=1,
                             model_name="m", model_cid="bafyabc", reward_wei=10**18), None)
        assert decision.reason != "paused: not accepting new tasks"
    finally:
        node.close()


# -- one snapshot cache -------------------------------------------------------------------------


async def test_two_runtimes_in_one_process_never_share_a_parsed_list(tmp_path: Path) -> None:
    """The parsed task list was cached in a module global shared by every runtime: another
    runtime's snapshot in between evicted this one's, and the last runtime's lists stayed
    referenced by the module."""
    first, second = other_runtime(tmp_path / "a"), other_runtime(tmp_path / "b")
    try:
        first.ledger.transition("a-1", "discovered", ts=100.0)
        second.ledger.transition("b-1", "discovered", ts=100.0)
        a1 = first.snapshot()
        b1 = second.snapshot()
        assert [t.task_id for t in a1.tasks] == ["a-1"]
        assert [t.task_id for t in b1.tasks] == ["b-1"]
        assert a1.tasks is not b1.tasks
        await first.commands.call("pause")  # a change outside the ledger: a new snapshot...
        a2 = first.snapshot()
        assert a2 is not a1 and a2.accepting is False
        assert a2.tasks is a1.tasks  # ...that reuses this runtime's own parsed tasks
        import oarn_tui.runtime.snapshot as snapshot_module

        assert not [name for name, value in vars(snapshot_module).items()
                    if isinstance(value, dict) and not name.startswith("__")]
    finally:
        first.close()
        second.close()


# -- immutable all the way down -----------------------------------------------------------------


def _mutations(snapshot: NodeSnapshot) -> list[tuple[str, Any]]:
    """Every way a reader could try to change something reachable from a snapshot."""
    task, peer = snapshot.tasks[0], snapshot.peers[0]
    return [
        ("raw[key]", lambda: snapshot.raw.__setitem__("accepting", True)),  # type: ignore[attr-defined]
        ("raw.task_list[0]", lambda: snapshot.raw["task_list"][0].__setitem__("stage", "x")),
        ("raw.task_list.append", lambda: snapshot.raw["task_list"].append({})),
        ("raw.wallet", lambda: snapshot.raw["wallet"].__setitem__("address", "0xevil")),
        ("task.details", lambda: task.details.__setitem__("result_cid", "x")),  # type: ignore[attr-defined]
        ("task.details nested", lambda: task.details["nested"].__setitem__("k", 1)),
        ("task.stage", lambda: setattr(task, "stage", "x")),
        ("peer.capabilities", lambda: peer.capabilities.__setitem__("gpu", "x")),  # type: ignore[attr-defined]
        ("peer.capabilities nested",
         lambda: peer.capabilities["frameworks"].append("x")),
        ("wallet.balances_wei", lambda: snapshot.wallet.balances_wei.__setitem__("COMP", 1)),  # type: ignore[attr-defined]
        ("task_counts", lambda: snapshot.task_counts.__setitem__("failed", 9)),  # type: ignore[attr-defined]
        ("telemetry.history", lambda: snapshot.telemetry.history.__setitem__("cpu", ())),  # type: ignore[attr-defined]
        ("snapshot.accepting", lambda: setattr(snapshot, "accepting", False)),
    ]


def test_nothing_reachable_from_a_snapshot_can_be_changed(runtime: NodeRuntime) -> None:
    runtime.ledger.transition("t-1", "discovered", ts=100.0,
                              details={"nested": {"k": 0}, "result_cid": ""})
    runtime.peers.upsert(PeerInfo(peer_id="12D3KooWpeer", address="/ip4/127.0.0.1/tcp/1",
                                  capabilities={"frameworks": ["onnx"], "gpu": "none"}))
    runtime.extra_status["wallet"] = {"address": "0xabc", "state": "unlocked",
                                      "balances": {"COMP": {"wei": "5"}}}
    runtime.extra_status["telemetry"] = {"cpu_percent": 1.0, "history": {"cpu": [1.0, 2.0]}}
    snapshot = runtime.snapshot()
    before = json.dumps(snapshot.to_dict(), sort_keys=True)
    survived = []
    for name, mutate in _mutations(snapshot):
        try:
            mutate()
        except (TypeError, AttributeError, dataclasses.FrozenInstanceError):
            continue
        survived.append(name)
    assert survived == [], f"mutable through a snapshot: {survived}"
    assert json.dumps(snapshot.to_dict(), sort_keys=True) == before
    thawed = snapshot.to_dict()  # a plain, JSON-ready copy the caller may change
    thawed["task_list"][0]["details"]["nested"]["k"] = 1
    assert snapshot.tasks[0].details["nested"]["k"] == 0


def test_a_later_status_change_does_not_alter_an_earlier_snapshot(runtime: NodeRuntime) -> None:
    runtime.ledger.transition("t-1", "discovered", ts=100.0, details={"note": "first"})
    runtime.extra_status["wallet"] = {"address": "0xabc", "balances": {"COMP": {"wei": "5"}}}
    earlier = runtime.snapshot()
    doc = runtime.status()  # the runtime's own (shared) document parts
    doc["task_list"][0]["details"]["note"] = "rewritten in place"
    doc["task_list"].append({"task_id": "ghost", "stage": "failed"})
    runtime.extra_status["wallet"]["balances"]["COMP"] = {"wei": "999"}
    runtime.ledger.transition("t-1", "accepted", details={"note": "second"})
    later = runtime.snapshot()
    assert later.tasks[0].details["note"] == "second"
    assert earlier.tasks[0].details["note"] == "first"
    assert earlier.raw["task_list"][0]["details"]["note"] == "first"
    assert [t["task_id"] for t in earlier.raw["task_list"]] == ["t-1"]
    assert earlier.wallet.balances_wei["COMP"] == 5
    assert earlier.raw["wallet"]["balances"]["COMP"]["wei"] == "5"


def test_peer_info_is_read_only_in_the_peer_book_too(runtime: NodeRuntime) -> None:
    capabilities: dict[str, Any] = {"frameworks": ["onnx"]}
    runtime.peers.upsert(PeerInfo(peer_id="12D3KooWpeer", capabilities=capabilities))
    capabilities["frameworks"].append("gguf")  # the caller's dict is not the book's
    stored = runtime.peers.get("12D3KooWpeer")
    assert stored is not None and stored.capabilities["frameworks"] == ("onnx",)
    assert stored.to_dict()["capabilities"] == {"frameworks": ["onnx"]}
    json.dumps(runtime.status()["peer_list"])  # thawed for the JSON document
