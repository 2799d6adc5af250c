"""Contract events by log polling, delivered only once `confirmations` blocks deep.

Polling `eth_getLogs` works on every RPC (HTTP or WebSocket, with failover) and survives
reconnects: the poller remembers the last block it delivered, so a node that restarts with a
saved cursor neither misses nor repeats an event.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from oarn_tui.chain.receipts import hex_hash
from oarn_tui.chain.rpc import RpcPool

MAX_BLOCK_RANGE = 2_000


@dataclass(frozen=True)
class ChainEvent:
    """One decoded log: which event, its arguments and where it was mined."""

    name: str
    args: dict[str, Any]
    address: str
    block_number: int
    tx_hash: str
    log_index: int


def event_topics(abi: Sequence[dict[str, Any]]) -> dict[bytes, dict[str, Any]]:
    """topic0 → event ABI entry for every (non-anonymous) event in `abi`."""
    from eth_utils.abi import event_abi_to_log_topic

    return {bytes(event_abi_to_log_topic(cast(Any, entry))): entry for entry in abi
            if entry.get("type") == "event" and not entry.get("anonymous")}


def decode_log(log: Any, topics: dict[bytes, dict[str, Any]]) -> ChainEvent | None:
    """Decode one raw log with the matching ABI entry (None if the event is unknown)."""
    from eth_utils.address import to_checksum_address
    from web3._utils.events import get_event_data

    if not log["topics"]:
        return None
    entry = topics.get(bytes(log["topics"][0]))
    if entry is None:
        return None
    decoded = get_event_data(_codec(), entry, log)
    return ChainEvent(name=str(decoded["event"]), args=dict(decoded["args"]),
                      address=to_checksum_address(log["address"]),
                      block_number=int(log["blockNumber"]),
                      tx_hash=hex_hash(log["transactionHash"]),
                      log_index=int(log["logIndex"]))


class LogPoller:
    """Delivers events of `addresses` once they are `confirmations` blocks below the head."""

    def __init__(self, pool: RpcPool, addresses: Sequence[str], abis: Sequence[Sequence[Any]],
                 *, confirmations: int = 1, from_block: int = 0,
                 event_names: Sequence[str] | None = None) -> None:
        from eth_utils.address import to_checksum_address

        self.pool = pool
        self.addresses = [to_checksum_address(a) for a in addresses]
        self.topics: dict[bytes, dict[str, Any]] = {}
        for one_abi in abis:
            self.topics.update(event_topics(one_abi))
        if event_names is not None:
            wanted = set(event_names)
            self.topics = {t: e for t, e in self.topics.items() if e["name"] in wanted}
        self.confirmations = confirmations
        self.next_block = from_block

    async def poll(self) -> list[ChainEvent]:
        """Events in blocks [next_block, head - confirmations], in chain order."""
        head = int(await self.pool.call(lambda w3: w3.eth.block_number))
        last_safe = head - self.confirmations
        events: list[ChainEvent] = []
        while self.next_block <= last_safe:
            to_block = min(last_safe, self.next_block + MAX_BLOCK_RANGE - 1)
            query = {"address": self.addresses, "fromBlock": self.next_block,
                     "toBlock": to_block, "topics": [list(map(_hex, self.topics))]}
            logs = await self.pool.call(functools.partial(_get_logs, query=query))
            for log in sorted(logs, key=lambda lg: (lg["blockNumber"], lg["logIndex"])):
                event = decode_log(log, self.topics)
                if event is not None:
                    events.append(event)
            self.next_block = to_block + 1
        return events

    async def stream(self, interval: float = 1.0,
                     stop: asyncio.Event | None = None) -> AsyncIterator[ChainEvent]:
        """Poll every `interval` seconds until `stop` is set, yielding confirmed events."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            for event in await self.poll():
                yield event
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                continue


@cache
def _codec() -> Any:
    from web3 import Web3

    return Web3().codec


async def _get_logs(w3: Any, query: dict[str, Any]) -> Any:
    return await w3.eth.get_logs(query)


def _hex(topic: bytes) -> str:
    return "0x" + topic.hex()


async def query_events(pool: RpcPool, address: str, abi: Sequence[dict[str, Any]],
                       event_name: str, *, indexed: dict[int, str] | None = None,
                       from_block: int = 0) -> list[ChainEvent]:
    """All past `event_name` logs of `address`, optionally filtered on indexed topics.

    `indexed` maps a topic position (1..3) to an address that must appear there.
    """
    topics_by_name = {e["name"]: t for t, e in event_topics(abi).items()}
    topic0 = topics_by_name[event_name]
    topics: list[Any] = [_hex(topic0)]
    for position, value in sorted((indexed or {}).items()):
        while len(topics) < position:
            topics.append(None)
        topics.append("0x" + "00" * 12 + value.lower().removeprefix("0x"))
    query = {"address": address, "fromBlock": from_block, "toBlock": "latest", "topics": topics}
    logs = await pool.call(lambda w3: w3.eth.get_logs(query))
    table = {topic0: event_topics(abi)[topic0]}
    decoded = [decode_log(log, table) for log in logs]
    return [event for event in decoded if event is not None]
