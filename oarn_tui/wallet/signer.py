"""The one interface through which the node signs: nothing outside `wallet/` holds a raw key.

`Signer` is what the chain client and the p2p layer receive. The wallet's vault produces a
`LocalSigner` after unlock; a hardware-wallet signer could implement the same protocol later.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Signer(Protocol):
    """Signs Ethereum transactions and messages for one account."""

    @property
    def address(self) -> str:
        """Checksummed 0x address of the account."""
        ...

    def sign_transaction(self, transaction: dict[str, Any]) -> Any:
        """Sign a transaction dict; the result has `.raw_transaction` and `.hash`."""
        ...

    def sign_message_bytes(self, message: bytes) -> bytes:
        """EIP-191 personal-sign `message`; returns the 65-byte signature."""
        ...


class LocalSigner:
    """A `Signer` backed by an in-memory eth-account key (from the vault, or a devnet account)."""

    __slots__ = ("_account",)

    def __init__(self, account: Any) -> None:
        self._account = account

    @classmethod
    def from_key(cls, private_key: bytes | str) -> LocalSigner:
        from eth_account import Account

        return cls(Account.from_key(private_key))

    @property
    def address(self) -> str:
        return str(self._account.address)

    def sign_transaction(self, transaction: dict[str, Any]) -> Any:
        return self._account.sign_transaction(transaction)

    def sign_message_bytes(self, message: bytes) -> bytes:
        from eth_account.messages import encode_defunct

        return bytes(self._account.sign_message(encode_defunct(primitive=message)).signature)

    def __repr__(self) -> str:  # never show the key
        return f"LocalSigner({self.address})"
