"""The runtime core: service order, degraded services, events, ledger, control API."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from oarn_tui.config import load_config
from oarn_tui.core.db import MIGRATIONS, MigrationError, open_db
from oarn_tui.core.ledger import UnknownStage
from oarn_tui.core.peerbook import PeerInfo
from oarn_tui.core.service import ServiceBase
from oarn_tui.runtime.control import AsyncControlClient, ControlServer, socket_path
from oarn_tui.runtime.interface import AttachedNode, EmbeddedNode, RuntimeThread
from oarn_tui.runtime.logs import redact
from oarn_tui.runtime.node import NodeRuntime, dependency_order


class Recorder(ServiceBase):
    """A minimal service that records lifecycle calls (a real Service implementation)."""

    def __init__(self, name: str, journal: list[str], depends_on: tuple[str, ...] = (),
                 fail: bool = False) -> None:
        self.name, self.depends_on, self.journal, self.fail = name, depends_on, journal, fail

    async def start(self, runtime: NodeRuntime) -> None:
        if self.fail:
            raise ConnectionError("rpc unreachable")
        self.journal.append(f"start {self.name}")

    async def stop(self) -> None:
        self.journal.append(f"stop {self.name}")

    def status(self) -> dict[str, Any]:
        return {"state": "running", "reason": ""}


@pytest.fixture
def runtime(tmp_path: Path):
    rt = NodeRuntime(load_config(tmp_path, env={}))
    yield rt
    rt.close()


async def test_services_start_in_dependency_order_and_stop_in_reverse(runtime) -> None:
    journal: list[str] = []
    for service in (Recorder("pipeline", journal, ("chain", "p2p")),
                    Recorder("chain", journal, ("wallet",)), Recorder("wallet", journal),
                    Recorder("p2p", journal, ("wallet",))):
        runtime.add_service(service)
    await runtime.start()
    await runtime.stop()
    starts = [j for j in journal if j.startswith("start")]
    assert starts.index("start wallet") < starts.index("start chain") < starts.index(
        "start pipeline")
    assert starts.index("start p2p") < starts.index("start pipeline")
    stops = [j.split()[1] for j in journal if j.startswith("stop")]
    assert stops == [s.split()[1] for s in reversed(starts)]


def test_dependency_cycle_is_reported() -> None:
    a = Recorder("a", [], ("b",))
    b = Recorder("b", [], ("a",))
    with pytest.raises(ValueError, match="cycle"):
        dependency_order([a, b])


async def test_failing_service_degrades_not_kills(runtime) -> None:
    journal: list[str] = []
    runtime.add_service(Recorder("chain", journal, fail=True))
    runtime.add_service(Recorder("p2p", journal))
    await runtime.start()
    status = runtime.status()
    assert status["services"]["chain"] == {"state": "failed",
                                           "reason": "ConnectionError: rpc unreachable"}
    assert status["services"]["p2p"]["state"] == "running"
    assert [e.kind for e in runtime.events.recent(prefix="service.")] == [
        "service.failed", "service.started"]
    await runtime.stop()


async def test_ledger_timeline_counts_and_snapshot(runtime) -> None:
    runtime.ledger.transition("7", "discovered", model="mlp", reward_wei=3 * 10**18, ts=100.0)
    runtime.ledger.transition("7", "claimed", tx_hash="0x" + "ab" * 32, ts=101.0)
    runtime.ledger.transition("8", "requested", role="requester", ts=102.0)
    runtime.ledger.record_earning("7", 3 * 10**18, "0x" + "cd" * 32)
    snapshot = runtime.snapshot()
    assert snapshot.task_counts == {"claimed": 1, "requested": 1}
    task = next(t for t in snapshot.tasks if t.task_id == "7")
    assert task.model == "mlp" and task.reward_wei == 3 * 10**18 and task.elapsed_s == 1.0
    assert snapshot.wallet.earned_wei == 3 * 10**18
    detail = await runtime.commands.call("task.get", task_id="7")
    assert [e["stage"] for e in detail["timeline"]] == ["discovered", "claimed"]
    with pytest.raises(UnknownStage, match="unknown task stage"):
        runtime.ledger.transition("7", "teleported")


async def test_snapshot_is_reused_while_quiet_and_rebuilt_on_change(runtime) -> None:
    """An idle dashboard polls every second: the runtime hands back the same snapshot until
    the ledger, the peer book or a (non-telemetry) event says something changed, or it ages."""
    runtime.ledger.transition("1", "discovered", ts=100.0)
    first = runtime.snapshot()
    assert runtime.snapshot() is first
    runtime.events.publish("hardware.sample", timestamp=1.0, cpu_percent=3.0, ram_total_mb=8,
                           ram_available_mb=4)
    runtime.events.publish("log", ts=1.0, level="info", logger="oarn", msg="nothing to see")
    assert runtime.snapshot() is first  # telemetry and log lines are not in the status
    assert runtime.snapshot(task_limit=5) is not first  # other limits, other snapshot
    runtime.ledger.update("1", progress=0.5)
    second = runtime.snapshot()
    assert second is not first and second.tasks[0].progress == 0.5
    runtime.peers.upsert(PeerInfo(peer_id="12D3KooWpeer", address="/ip4/127.0.0.1/tcp/1"))
    third = runtime.snapshot()
    assert [p.peer_id for p in third.peers] == ["12D3KooWpeer"]
    runtime.events.publish("node.accepting", accepting=False)
    fourth = runtime.snapshot()
    assert fourth is not third
    status = runtime.status()
    assert status["task_list"] is runtime.status()["task_list"]  # shared while unchanged
    runtime.snapshot_max_age_s = 0.0
    assert runtime.snapshot() is not fourth  # aged out: chain height, balances refresh


def test_state_survives_reopen_and_refuses_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = open_db(path)
    db.execute("INSERT INTO kv VALUES ('k', 'v')")
    db.commit()
    db.close()
    db = open_db(path)
    assert db.execute("SELECT value FROM kv").fetchone()[0] == "v"
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(MigrationError, match="newer"):
        open_db(path)


async def test_control_api_status_commands_and_events(tmp_path: Path) -> None:
    runtime = NodeRuntime(load_config(tmp_path, env={}))
    await runtime.start()
    server = ControlServer(runtime)
    await server.start()
    try:
        assert socket_path(tmp_path).stat().st_mode & 0o777 == 0o600
        node = AttachedNode(tmp_path)
        snapshot = await node.snapshot()
        assert snapshot.attached and snapshot.home == str(tmp_path)
        seen: list[str] = []

        async def collect() -> None:
            async for event in node.events():
                seen.append(event.kind)
                if event.kind == "node.accepting":
                    return

        collector = asyncio.create_task(collect())
        await asyncio.sleep(0.2)
        assert await node.command("pause") == {"accepting": False}
        await asyncio.wait_for(collector, 10)
        assert "node.accepting" in seen
        assert (await node.snapshot()).accepting is False
        with pytest.raises(Exception, match="unknown command"):
            await node.command("launch-missiles")
        client = AsyncControlClient(tmp_path)
        bad = await (await client._get_session()).post(
            "http://localhost/v1/commands/pause", data=b"[1, 2]")
        assert bad.status == 400
        await client.close()
        await node.close()
    finally:
        stopping = time.monotonic()
        await server.stop()
        # the attached client's event stream was still open: stop cancels it instead of
        # waiting out aiohttp's 60 s default (an `oarn stop` with a dashboard attached)
        assert time.monotonic() - stopping < 15, "stopping waited for an open event stream"
        await runtime.stop()
        runtime.close()


def test_runtime_thread_keeps_runtime_off_the_caller_loop(tmp_path: Path) -> None:
    runtime = NodeRuntime(load_config(tmp_path, env={}))
    thread = RuntimeThread(runtime)
    thread.start()
    node = EmbeddedNode(runtime, thread)

    async def main() -> tuple[bool, bool]:
        await node.command("pause")
        paused = (await node.snapshot()).accepting
        await node.command("resume")
        return paused, (await node.snapshot()).accepting

    try:
        assert asyncio.run(main()) == (False, True)
    finally:
        thread.stop()


def test_logs_are_json_and_redacted(tmp_path: Path) -> None:
    import logging

    runtime = NodeRuntime(load_config(tmp_path, env={}))
    secret = "0x" + "5e" * 32
    mnemonic = "abandon " * 11 + "about"
    logging.getLogger("oarn.test").warning("leaked %s and %s password=hunter2", secret,
                                           mnemonic)
    runtime.close()
    text = (tmp_path / "logs" / "node.log").read_text()
    assert secret not in text and "5e5e5e" not in text
    assert "abandon abandon" not in text and "hunter2" not in text
    entry = json.loads(text.strip().splitlines()[-1])
    assert entry["level"] == "warning" and "[redacted-key]" in entry["msg"]
    assert redact("tx 0x" + "12" * 32) == "tx [redacted-key]"


def test_event_history_of_zero_replays_nothing() -> None:
    """`/v1/events?history=0` asks for no past events (a `[-0:]` slice is all of them)."""
    from oarn_tui.core.events import EventBus

    bus = EventBus(history=10)
    for index in range(3):
        bus.publish("service.started", service=str(index))
    assert bus.recent(0) == []
    assert [event.data["service"] for event in bus.recent(2)] == ["1", "2"]
