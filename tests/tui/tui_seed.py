"""Seeding helpers for the dashboard tests: a real `NodeRuntime` on a temp home, seeded through
its own ledger, peer book, log handler and status contributions, with every timestamp fixed."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from oarn_tui.amounts import amount_json, parse_amount
from oarn_tui.core.peerbook import PeerInfo
from oarn_tui.runtime.interface import EmbeddedNode
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.tui.app import OarnApp, create_app

FIXED_NOW = 1_763_700_000.0
PEER_ID = "12D3KooWQh7cPNE8KLbSgGTGsqyBbBMWkAoTzbXETNA2sHqdmRJM"
ADDRESS = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
TX = "0x" + "ab" * 32


def write_config(home: Path, text: str = "") -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        '[node]\nprofile = "devnet"\nname = "rig-01"\n' + text, encoding="utf-8")


def seed_logs(runtime: NodeRuntime) -> None:
    """Log records with fixed times, through the runtime's own log handler."""
    lines = [("info", "node started", 0), ("debug", "gossip heartbeat", 5),
             ("info", "task 0x7a1f claimed", 12), ("warning", "peer 12D3…x9 slow", 20),
             ("error", "task 0x3c44 failed: model hash mismatch", 31)]
    for level, message, offset in lines:
        record = logging.makeLogRecord({
            "name": "oarn.pipeline", "levelno": logging.getLevelName(level.upper()),
            "levelname": level.upper(), "msg": message, "created": FIXED_NOW - 60 + offset})
        runtime.recent_logs.emit(record)


def seed_tasks(runtime: NodeRuntime, count: int = 0) -> None:
    ledger = runtime.ledger
    base = FIXED_NOW - 600
    plan = [
        ("0x7a1f" + "0" * 58 + "01", ["discovered", "accepted", "claimed", "fetching",
                                       "running"], "resnet50-int8", 0.62, "1.5"),
        ("0x7a1f" + "0" * 58 + "02", ["discovered", "accepted", "claimed"], "bert-base", 0.0,
         "0.75"),
        ("0x3c44" + "0" * 58 + "03", ["discovered", "accepted", "claimed", "fetching",
                                       "failed"], "llama-3-8b-q4", 0.1, "4"),
        ("0x9e02" + "0" * 58 + "04", ["discovered", "accepted", "claimed", "fetching",
                                       "running", "storing", "submitted", "verified",
                                       "rewarded"], "whisper-small", 1.0, "2.25"),
    ]
    for number, (task_id, stages, model, progress, reward) in enumerate(plan):
        for step, stage in enumerate(stages):
            extra = {}
            if stage == "failed":
                extra["failure_reason"] = "model hash mismatch: expected bafy…a1, got bafy…ff"
            if stage == "claimed":
                tx = TX
            elif stage == "submitted":
                tx = "0x" + "cd" * 32
            else:
                tx = ""
            ledger.transition(
                task_id, stage, model=model, reward_wei=parse_amount(reward),
                progress=progress if step == len(stages) - 1 else 0.0,
                model_cid="bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
                input_cid="bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
                ts=base + number * 30 + step * 7, tx_hash=tx,
                note="claimed on chain" if stage == "claimed" else "", **extra)
    for n in range(count):
        ledger.transition(f"0x{n:064x}", "running", model=f"model-{n % 7}",
                          reward_wei=parse_amount("0.1"), progress=(n % 10) / 10,
                          ts=base - n)


def seed_peers(runtime: NodeRuntime, count: int = 5) -> None:
    for n in range(count):
        runtime.peers.upsert(PeerInfo(
            peer_id=f"12D3KooWPeer{n:04d}" + "x" * 30 + f"{n:04d}",
            address=f"/ip4/127.0.0.1/tcp/{40000 + n}", latency_ms=12.0 + n * 3,
            score=10.0 - n * 0.5,
            capabilities={"frameworks": ["onnx"] + (["gguf"] if n % 2 else []),
                          "gpus": n % 3, "vram_mb": 8192 * (n % 3)},
            last_seen=FIXED_NOW))


def seed_status(runtime: NodeRuntime, *, gpus: bool = True) -> None:
    """Values no service provides yet, contributed the way services do (the status dict)."""
    runtime.started_at = time.time() - 3725
    runtime.extra_status["peer_id"] = PEER_ID
    runtime.extra_status["network"] = {"state": "running", "reachable": "public"}
    runtime.extra_status["chain"] = {"state": "running", "chain_id": 31337, "block": 18342,
                                     "rpc_url": "http://127.0.0.1:8545"}
    runtime.extra_status["wallet"] = {
        "address": ADDRESS, "state": "unlocked", "unlock": "keyring",
        "balances": {"ETH": amount_json(parse_amount("1.25")),
                     "GOV": amount_json(parse_amount("100")),
                     "COMP": amount_json(parse_amount("42.5"))},
        "pending_rewards": amount_json(parse_amount("3.75")),
        "earned": amount_json(parse_amount("18.25"))}
    telemetry: dict[str, object] = {
        "cpu_percent": 37.0, "ram_used_mb": 9420.0, "ram_total_mb": 31890.0,
        "history": {"cpu": [float((n * 37) % 100) for n in range(60)],
                    "gpu0.util": [float((n * 13) % 100) for n in range(60)],
                    "gpu0.vram": [float(6000 + (n * 97) % 4000) for n in range(60)]}}
    if gpus:
        telemetry["gpus"] = [{"index": 0, "name": "NVIDIA GeForce RTX 4090",
                              "utilization_pct": 71.0, "memory_used_mb": 9216.0,
                              "memory_total_mb": 24564.0, "temperature_c": 64.0,
                              "power_w": 285.0}]
    else:
        telemetry["gpus"] = []
        telemetry["gpu_hint"] = "no NVIDIA driver found: CPU-only tasks"
    runtime.extra_status["telemetry"] = telemetry


def seed_all(runtime: NodeRuntime, *, gpus: bool = True) -> None:
    seed_logs(runtime)
    seed_tasks(runtime)
    seed_peers(runtime)
    seed_status(runtime, gpus=gpus)
    runtime.ledger.record_earning("0x9e02" + "0" * 58 + "04", parse_amount("2.25"), TX)


def make_app(runtime: NodeRuntime, *, first_run: bool = False, **options: object) -> OarnApp:
    return create_app(EmbeddedNode(runtime), home=runtime.home, config=runtime.config,
                      first_run=first_run, clock=lambda: FIXED_NOW, auto_tick=False,
                      cursor_blink=False, **options)


async def settle(pilot: Any) -> None:
    """Let posted messages start their workers, wait for those, then let results render."""
    await pilot.pause()
    await pilot.app.settle()
    await pilot.pause()
