"""The node's chain writes as runtime commands: `wallet.send`, `chain.stake`, `chain.unstake`.

The chain service registers them when it starts, so every transaction a front end asks for is
signed and sent by the one `ChainClient` the node runs, under its nonce allocator: the
dashboard and an embedded runtime call them in process, `oarn wallet send` and `oarn stake`
over the control socket while the home's daemon runs (issue 13: the commands used to build a
second client on the same account and race the daemon for nonces).

Amounts are decimal text (`"2.5"`), as on the command line; results carry the amount both as
text and in wei (`amount_json`) and the mined transaction (`tx_hash`, `block`, `gas_used`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from oarn_tui.amounts import AmountError, amount_json, parse_amount
from oarn_tui.core.service import CommandError

if TYPE_CHECKING:
    from oarn_tui.chain.bindings import OarnContracts
    from oarn_tui.core.service import CommandRegistry

log = logging.getLogger("oarn.chain.commands")
TOKENS = ("eth", "gov", "comp")
T = TypeVar("T")


class HasContracts(Protocol):
    """What the commands need of the chain service: its contracts (None while read-only)."""

    @property
    def contracts(self) -> OarnContracts | None: ...

    @property
    def reason(self) -> str: ...


def receipt_json(receipt: Any) -> dict[str, Any]:
    """`{"tx_hash", "block", "gas_used"}` of a mined transaction (a `TxReceipt` or web3's
    receipt mapping)."""
    to_json = getattr(receipt, "to_json", None)
    if to_json is not None:
        return dict(to_json())
    assert isinstance(receipt, Mapping)
    return {"tx_hash": "0x" + bytes(receipt["transactionHash"]).hex(),
            "block": int(receipt["blockNumber"]), "gas_used": int(receipt["gasUsed"])}


def positive_amount(amount: str, what: str = "the amount") -> int:
    """`amount` (decimal text) in wei; a `CommandError` for bad text or zero."""
    try:
        wei = parse_amount(str(amount))
    except AmountError as exc:
        raise CommandError(f"{what}: {exc}") from None
    if wei == 0:
        raise CommandError(f"{what} must be more than 0")
    return wei


async def _one_line(sending: Awaitable[T]) -> T:
    """Await a transaction; what the chain or the RPC refused (a revert such as
    `InsufficientStake`, no funds, no RPC) becomes the command's one-line error."""
    from oarn_tui.chain.client import ChainError
    from oarn_tui.chain.rpc import RpcUnavailable

    try:
        return await sending
    except (ChainError, RpcUnavailable) as exc:
        raise CommandError(str(exc)) from None


class ChainCommands:
    """The handlers, bound to the chain service whose contracts they use."""

    def __init__(self, chain: HasContracts) -> None:
        self.chain = chain

    def register(self, commands: CommandRegistry) -> None:
        commands.register("wallet.send", self.send)
        commands.register("chain.stake", self.stake)
        commands.register("chain.unstake", self.unstake)

    def _contracts(self, doing: str) -> OarnContracts:
        contracts = self.chain.contracts
        if contracts is None:
            raise CommandError(f"cannot {doing}: the chain is not connected or the wallet is "
                               f"locked ({self.chain.reason})")
        return contracts

    async def send(self, to: str, amount: str, token: str = "ETH") -> dict[str, Any]:
        """`wallet.send`: transfer ETH, GOV or COMP from the node's account (the front end
        asked the user to confirm before it calls this)."""
        from eth_utils.address import is_address, to_checksum_address

        if not is_address(to):
            raise CommandError(f"{to!r} is not an Ethereum address (0x followed by 40 hex)")
        token = str(token).lower()
        if token not in TOKENS:
            raise CommandError(f"unknown token {token!r}; use ETH, GOV or COMP")
        wei = positive_amount(amount)
        contracts = self._contracts("send")
        recipient = to_checksum_address(to)
        sent = receipt_json(await _one_line(contracts.transfer(token, recipient, wei)))
        log.info("sent tokens", extra={"token": token, "amount": str(amount),
                                       "tx_hash": sent["tx_hash"]})
        return {"from": contracts.client.address, "to": recipient, "token": token.upper(),
                "amount": amount_json(wei), **sent}

    async def stake(self, amount: str) -> dict[str, Any]:
        """`chain.stake`: approve and stake GOV in the TaskRegistry (what claiming needs)."""
        return await self._change_stake("stake", amount)

    async def unstake(self, amount: str) -> dict[str, Any]:
        """`chain.unstake`: withdraw staked GOV."""
        return await self._change_stake("unstake", amount)

    async def _change_stake(self, action: str, amount: str) -> dict[str, Any]:
        wei = positive_amount(amount)
        contracts = self._contracts(action)
        method = contracts.stake if action == "stake" else contracts.unstake
        receipt = await _one_line(method(wei))
        log.info(f"{action}d GOV", extra={"amount": str(amount)})
        return {"address": contracts.client.address, "action": action,
                "amount": amount_json(wei),
                "staked_gov": amount_json(await contracts.stake_of()),
                "min_stake": amount_json(await contracts.min_stake()),
                **receipt_json(receipt)}
