"""`TxReceipt`: what a mined transaction tells its sender, as typed values.

web3 hands back an `AttributeDict` with `HexBytes` hashes; every caller turned it into text the
same way. The bindings return a `TxReceipt` instead (hash as `0x…` text, block, gas used,
status) so no caller reads web3's keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def hex_hash(raw: bytes | bytearray | str) -> str:
    """A transaction or block hash as lower-case `0x…` text (web3 gives bytes or text)."""
    if isinstance(raw, str):
        return raw.lower() if raw.startswith("0x") else "0x" + raw.lower()
    return "0x" + bytes(raw).hex()


@dataclass(frozen=True)
class TxReceipt:
    """A mined transaction: `tx_hash` (`0x…`), `block`, `gas_used`, `status` (1 = success)."""

    tx_hash: str
    block: int
    gas_used: int
    status: int

    @property
    def ok(self) -> bool:
        return self.status == 1

    @classmethod
    def from_web3(cls, receipt: Mapping[str, Any]) -> TxReceipt:
        """From web3's receipt mapping (`transactionHash`, `blockNumber`, `gasUsed`, `status`)."""
        return cls(tx_hash=hex_hash(receipt["transactionHash"]),
                   block=int(receipt["blockNumber"]), gas_used=int(receipt["gasUsed"]),
                   status=int(receipt["status"]))

    def to_json(self) -> dict[str, Any]:
        """`{"tx_hash", "block", "gas_used"}` as the CLI prints a sent transaction."""
        return {"tx_hash": self.tx_hash, "block": self.block, "gas_used": self.gas_used}
