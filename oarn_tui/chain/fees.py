"""EIP-1559 fee suggestions and the bump rule for replacing a stuck transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GWEI = 10**9
DEFAULT_PRIORITY_FEE = GWEI
# Nodes refuse a replacement unless both fees rise by at least 10 %.
MIN_REPLACEMENT_PERCENT = 10


@dataclass(frozen=True)
class Fees:
    """The two EIP-1559 fee caps of a transaction, in wei per gas."""

    max_fee: int
    priority_fee: int

    def as_tx_fields(self) -> dict[str, int]:
        return {"maxFeePerGas": self.max_fee, "maxPriorityFeePerGas": self.priority_fee}


def fees_from(base_fee: int, priority_fee: int) -> Fees:
    """Room for two full blocks of base-fee rise (12.5 % each) plus the tip."""
    return Fees(max_fee=2 * base_fee + priority_fee, priority_fee=priority_fee)


async def suggest_fees(w3: Any) -> Fees:
    """Fees for the next block from the latest base fee and the node's tip suggestion."""
    block = await w3.eth.get_block("latest")
    base_fee = int(block.get("baseFeePerGas") or 0)
    try:
        priority = int(await w3.eth.max_priority_fee)
    except Exception:  # not every RPC offers eth_maxPriorityFeePerGas; fall back to 1 gwei
        priority = DEFAULT_PRIORITY_FEE
    return fees_from(base_fee, priority)


def bump_fees(previous: Fees, percent: int, current: Fees | None = None) -> Fees:
    """Raise both caps by `percent` (at least the 10 % nodes require), and to `current`."""
    percent = max(percent, MIN_REPLACEMENT_PERCENT)

    def raise_by(value: int) -> int:
        return max(value + 1, -(-value * (100 + percent) // 100))

    priority = raise_by(previous.priority_fee)
    max_fee = raise_by(previous.max_fee)
    if current is not None:
        priority = max(priority, current.priority_fee)
        max_fee = max(max_fee, current.max_fee)
    return Fees(max_fee=max(max_fee, priority), priority_fee=priority)
