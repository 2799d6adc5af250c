"""The node's chain client: sign through the wallet, send with safe nonces, wait, bump, fail over.

`ChainClient.send(tx)` fills in gas (estimated, with a margin), EIP-1559 fees and the nonce,
signs through a `Signer`, records the signed transaction, broadcasts it and waits for its
receipt. When no receipt arrives within `tx_timeout_s`, the same transaction is re-signed with
fees raised by `gas_bump_percent` and broadcast again under the same nonce; a receipt for any of
the hashes ends the wait. All RPC traffic goes through an `RpcPool` (failover).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oarn_tui.chain.fees import Fees, bump_fees, suggest_fees
from oarn_tui.chain.nonces import NonceManager, TxRecord, TxStore
from oarn_tui.chain.receipts import hex_hash
from oarn_tui.chain.rpc import RpcPool, RpcUnavailable

EventHook = Callable[..., None]
ALREADY_SENT = ("already known", "known transaction", "alreadyknown", "already imported")
NONCE_TOO_LOW = ("nonce too low", "noncetoolow", "nonce has already been used")
UNDERPRICED = ("underpriced", "replacement transaction", "fee too low")


class ChainError(RuntimeError):
    """A chain operation failed in a way the caller should report."""


class TxRejected(ChainError):
    """The RPC refused the transaction outright (no nonce was used)."""


class TxReverted(ChainError):
    """The transaction was mined but reverted."""

    def __init__(self, message: str, receipt: Any) -> None:
        super().__init__(message)
        self.receipt = receipt


class TxTimeout(ChainError):
    """No receipt after every allowed fee bump; the transaction stays recorded as pending."""


@dataclass(frozen=True)
class SentTx:
    """A broadcast transaction: its sender, nonce and the hash it was last sent under."""

    sender: str
    nonce: int
    tx_hash: str


def _message(exc: BaseException) -> str:
    return str(exc).lower()


class ChainClient:
    """Signs and sends transactions for one `Signer` over an `RpcPool`."""

    def __init__(self, pool: RpcPool, signer: Any | None, store: TxStore, *,
                 account: str | None = None, tx_timeout_s: float = 120,
                 gas_bump_percent: int = 20, max_bumps: int = 5, poll_interval: float = 0.1,
                 gas_margin_percent: int = 20, fee_cache_s: float = 1.0,
                 on_event: EventHook | None = None) -> None:
        if signer is None and account is None:
            raise ValueError("a ChainClient needs a signer, or an account to read for")
        self.pool = pool
        self.signer = signer
        self.account = account
        self.store = store
        self.tx_timeout_s = tx_timeout_s
        self.gas_bump_percent = gas_bump_percent
        self.max_bumps = max_bumps
        self.poll_interval = poll_interval
        self.gas_margin_percent = gas_margin_percent
        self.fee_cache_s = fee_cache_s
        self.on_event = on_event
        self.nonces: NonceManager | None = None
        self._fees: tuple[float, Fees] | None = None
        self.replacements = 0
        self._needs_reconcile = False

    @property
    def address(self) -> str:
        """The signer's account, or the account a read-only client reads for."""
        return str(self.signer.address if self.signer is not None else self.account)

    @property
    def read_only(self) -> bool:
        return self.signer is None

    @property
    def chain_id(self) -> int:
        if self.pool.chain_id is None:
            raise ChainError("not connected: call start() first")
        return self.pool.chain_id

    def _emit(self, kind: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event(kind, **data)

    async def start(self) -> list[SentTx]:
        """Connect, then settle what a previous run left pending (rebroadcast what is lost)."""
        await self.pool.connect()
        self.nonces = NonceManager(self.store, self.chain_id)
        if self.read_only:
            return []
        return await self.reconcile()

    async def reconcile(self) -> list[SentTx]:
        """Mark recorded transactions mined or dropped; rebroadcast those the chain lost.

        Returns the transactions still pending (the caller may `wait()` for them).
        """
        sender = self.address
        if self.nonces is None:
            raise ChainError("not connected: call start() first")
        async with self.nonces.exclusive(sender):  # no other process sends meanwhile
            return await self._reconcile(sender)

    async def _reconcile(self, sender: str) -> list[SentTx]:
        latest = await self.pool.call(lambda w3: w3.eth.get_transaction_count(sender, "latest"))
        pending = await self._pending_count(sender)
        still_pending: list[SentTx] = []
        gave_up = False
        for record in self.store.unfinished(self.chain_id, sender):
            receipt = await self._find_receipt(record)
            if receipt is not None:
                self._finish(record, receipt)
                continue
            if record.nonce < latest:
                self.store.finish(self.chain_id, sender, record.nonce, "dropped")
                self._emit("chain.tx_dropped", nonce=record.nonce, tx_hash=record.tx_hash)
                continue
            if record.nonce >= pending:
                try:
                    await self._broadcast(record.raw_tx)
                except TxRejected as exc:  # e.g. no funds left: the nonce was never used
                    self.store.finish(self.chain_id, sender, record.nonce, "dropped")
                    self._emit("chain.tx_dropped", nonce=record.nonce, tx_hash=record.tx_hash,
                               reason=str(exc))
                    gave_up = True
                    continue
                self._emit("chain.tx_rebroadcast", nonce=record.nonce, tx_hash=record.tx_hash)
            still_pending.append(SentTx(sender, record.nonce, record.tx_hash))
        if gave_up and self.nonces is not None:
            self.nonces.forget_sender(sender)  # hand the given-up nonce out again
        return still_pending

    async def _resend_missing(self, sender: str, on_chain: int) -> None:
        """Rebroadcast this home's recorded transactions the chain lacks (from `on_chain`, the
        pending count, up): another process recorded them and died before broadcasting, and a
        transaction sent behind them would wait forever. Called under the account's lock."""
        for record in self.store.unfinished(self.chain_id, sender):
            if record.nonce < on_chain:
                continue
            try:
                await self._broadcast(record.raw_tx)
            except TxRejected as exc:
                self.store.finish(self.chain_id, sender, record.nonce, "dropped")
                self._emit("chain.tx_dropped", nonce=record.nonce, tx_hash=record.tx_hash,
                           reason=str(exc))
                continue
            self._emit("chain.tx_rebroadcast", nonce=record.nonce, tx_hash=record.tx_hash)

    async def _pending_count(self, sender: str) -> int:
        return int(await self.pool.call(
            lambda w3: w3.eth.get_transaction_count(sender, "pending")))

    async def fees(self) -> Fees:
        """Suggested EIP-1559 fees, cached for `fee_cache_s` so bursts cost one lookup."""
        now = time.monotonic()
        if self._fees is not None and now - self._fees[0] < self.fee_cache_s:
            return self._fees[1]
        fees = await self.pool.call(suggest_fees)
        self._fees = (now, fees)
        return fees

    async def estimate_gas(self, tx: dict[str, Any]) -> int:
        probe = {k: v for k, v in tx.items() if k in ("from", "to", "value", "data")}
        estimate = int(await self.pool.call(lambda w3: w3.eth.estimate_gas(probe)))
        if estimate <= 21_000:
            return estimate
        return estimate * (100 + self.gas_margin_percent) // 100

    async def send(self, tx: dict[str, Any], *, label: str = "", wait: bool = True,
                   check: bool = True) -> Any:
        """Send `tx` (to/value/data, optional gas) and return its receipt (or `SentTx`)."""
        sent = await self.broadcast(tx, label=label)
        if not wait:
            return sent
        return await self.wait(sent, check=check)

    async def broadcast(self, tx: dict[str, Any], *, label: str = "") -> SentTx:
        """Fill, sign, record and broadcast `tx` under the sender's next nonce."""
        if self.nonces is None:
            raise ChainError("not connected: call start() first")
        if self.signer is None:
            raise ChainError("read-only: unlock the wallet to send transactions")
        if self._needs_reconcile:  # an earlier broadcast's fate is unknown: settle it first
            await self.reconcile()
            self._needs_reconcile = False
        sender = self.address
        tx = {"value": 0, **tx, "from": sender, "chainId": self.chain_id, "type": 2}
        if "gas" not in tx:
            tx["gas"] = await self.estimate_gas(tx)
        fees = await self.fees()
        tx.update(fees.as_tx_fields())
        for _attempt in range(2):
            async with self.nonces.slot(sender, self._pending_count,
                                        self._resend_missing) as slot:
                unsigned = {k: v for k, v in tx.items() if k != "from"}
                unsigned["nonce"] = slot.nonce
                signed = self.signer.sign_transaction(unsigned)
                tx_hash = "0x" + bytes(signed.hash).hex()
                raw = bytes(signed.raw_transaction)
                self.store.record(self.chain_id, sender, slot.nonce, tx_hash, raw, fees.max_fee,
                                  fees.priority_fee, label)
                try:
                    await self._broadcast(raw)
                except RpcUnavailable:
                    slot.consume()  # it may have arrived: keep it recorded, rebroadcast later
                    self._needs_reconcile = True
                    raise
                except TxRejected as exc:
                    self.store.forget(self.chain_id, sender, slot.nonce)
                    if any(s in _message(exc) for s in NONCE_TOO_LOW):
                        self.nonces.forget_sender(sender)  # someone else used it: re-read
                        continue
                    raise
                slot.consume()
            self._emit("chain.tx_sent", nonce=slot.nonce, tx_hash=tx_hash, label=label,
                       max_fee=fees.max_fee, priority_fee=fees.priority_fee)
            return SentTx(sender, slot.nonce, tx_hash)
        raise TxRejected("nonce too low twice in a row; another process may use this account")

    async def _broadcast(self, raw: bytes) -> None:
        """eth_sendRawTransaction; 'already known' counts as success, refusals as TxRejected."""
        from web3.exceptions import Web3RPCError

        try:
            await self.pool.call(lambda w3: w3.eth.send_raw_transaction(raw))
        except Web3RPCError as exc:
            text = _message(exc)
            if any(s in text for s in ALREADY_SENT):
                return
            raise TxRejected(_rpc_reason(exc)) from None

    async def _find_receipt(self, record: TxRecord) -> Any | None:
        from web3.exceptions import TransactionNotFound

        def receipt_of(tx_hash: str) -> Callable[[Any], Any]:
            return lambda w3: w3.eth.get_transaction_receipt(tx_hash)

        for tx_hash in reversed(record.all_hashes):
            try:
                return await self.pool.call(receipt_of(tx_hash))
            except TransactionNotFound:
                continue
        return None

    def _finish(self, record: TxRecord, receipt: Any) -> None:
        state = "confirmed" if receipt["status"] == 1 else "failed"
        mined_hash = hex_hash(receipt["transactionHash"])
        self.store.finish(record.chain_id, record.sender, record.nonce, state, mined_hash)
        self._emit("chain.tx_confirmed" if state == "confirmed" else "chain.tx_failed",
                   nonce=record.nonce, tx_hash=mined_hash, block=receipt["blockNumber"],
                   label=record.label)

    async def wait(self, sent: SentTx, *, check: bool = True,
                   timeout_s: float | None = None) -> Any:
        """Wait for a receipt of any hash of `sent`'s nonce, bumping fees when it is stuck."""
        bump_after = self.tx_timeout_s if timeout_s is None else timeout_s
        bumps = 0
        last_send = time.monotonic()
        while True:
            record = self.store.get(self.chain_id, sent.sender, sent.nonce)
            if record is None:
                raise ChainError(f"nonce {sent.nonce} of {sent.sender} is not recorded")
            receipt = await self._find_receipt(record)
            if receipt is not None:
                if record.state == "pending":
                    self._finish(record, receipt)
                if check and receipt["status"] != 1:
                    raise TxReverted(f"transaction {record.label or record.tx_hash} reverted",
                                     receipt)
                return receipt
            if time.monotonic() - last_send >= bump_after:
                if bumps >= self.max_bumps:
                    raise TxTimeout(f"no receipt for nonce {sent.nonce} after {bumps} fee "
                                    f"bumps; it stays pending and is retried at next start")
                await self._replace(record)
                bumps += 1
                last_send = time.monotonic()
            await asyncio.sleep(self.poll_interval)

    async def _replace(self, record: TxRecord) -> None:
        """Re-sign `record`'s transaction with bumped fees and broadcast it (same nonce)."""
        from eth_account.typed_transactions.typed_transaction import TypedTransaction
        from eth_utils.address import to_checksum_address
        from hexbytes import HexBytes

        if self.signer is None:
            raise ChainError("read-only: unlock the wallet to send transactions")
        decoded = TypedTransaction.from_bytes(HexBytes(record.raw_tx)).as_dict()
        self._fees = None
        current = await self.fees()
        fees = bump_fees(Fees(record.max_fee, record.priority_fee), self.gas_bump_percent,
                         current)
        for _attempt in range(3):
            tx = {"chainId": decoded["chainId"], "nonce": decoded["nonce"],
                  "to": to_checksum_address(decoded["to"]) if decoded["to"] else "",
                  "value": decoded["value"],
                  "data": decoded["data"], "gas": decoded["gas"], "type": 2,
                  "accessList": decoded.get("accessList", ()), **fees.as_tx_fields()}
            if not tx["to"]:
                tx.pop("to")
            signed = self.signer.sign_transaction(tx)
            tx_hash = "0x" + bytes(signed.hash).hex()
            self.store.record(record.chain_id, record.sender, record.nonce, tx_hash,
                              bytes(signed.raw_transaction), fees.max_fee, fees.priority_fee,
                              record.label)
            try:
                await self._broadcast(bytes(signed.raw_transaction))
            except TxRejected as exc:
                text = _message(exc)
                if any(s in text for s in NONCE_TOO_LOW):
                    return  # an earlier hash got mined meanwhile; the wait loop finds it
                if any(s in text for s in UNDERPRICED):
                    fees = bump_fees(fees, self.gas_bump_percent)
                    continue
                raise
            self.replacements += 1
            self._emit("chain.tx_replaced", nonce=record.nonce, old_hash=record.tx_hash,
                       tx_hash=tx_hash, max_fee=fees.max_fee, priority_fee=fees.priority_fee)
            return

    def close(self) -> None:
        """Release the nonce lock files (the pool and the store belong to the caller)."""
        if self.nonces is not None:
            self.nonces.close()

    async def transfer_eth(self, to: str, wei: int, *, wait: bool = True) -> Any:
        return await self.send({"to": to, "value": int(wei), "gas": 21_000},
                               label="eth-transfer", wait=wait)

    async def balance(self, address: str | None = None) -> int:
        who = address or self.address
        return int(await self.pool.call(lambda w3: w3.eth.get_balance(who)))

    async def block_number(self) -> int:
        return int(await self.pool.call(lambda w3: w3.eth.block_number))


def _rpc_reason(exc: BaseException) -> str:
    """The RPC's own message, without the dict wrapping web3 puts around it."""
    args = getattr(exc, "args", ())
    first = args[0] if args else exc
    if isinstance(first, dict):
        return str(first.get("message", first))
    text = str(first)
    if "'message': '" in text:
        return text.split("'message': '", 1)[1].split("'", 1)[0]
    return text
