"""One nonce allocator per account and home: clients of the same home that send from the same
account at once (the daemon and `oarn wallet send`, two commands) take turns under the account's
lock file and read the shared transaction table under it (issue 13).

Before, each client kept its own next nonce in memory under a per-process asyncio lock: the
second one reused a nonce the first had just used, overwrote the first one's record with its
own attempt, and, refused with "nonce too low", deleted that record (the first one's wait then
failed with "nonce N is not recorded").
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from oarn_tui.chain.anvil import AnvilProcess
from oarn_tui.chain.client import ChainClient
from oarn_tui.chain.nonces import TxStore
from oarn_tui.chain.rpc import RpcPool
from oarn_tui.wallet.signer import LocalSigner

REPO = Path(__file__).resolve().parents[2]
SINK = "0x000000000000000000000000000000000000bEEF"


def make_client(url: str, key: str, db: Path) -> ChainClient:
    return ChainClient(RpcPool([url], 31337, request_timeout=10), LocalSigner.from_key(key),
                       TxStore(db), poll_interval=0.05)


async def account_hashes(client: ChainClient, first_block: int) -> dict[int, str]:
    """Every transaction the account got mined since `first_block`: nonce → hash."""
    found: dict[int, str] = {}
    last = await client.block_number()
    for number in range(first_block, last + 1):
        block = await client.pool.call(
            lambda w3, n=number: w3.eth.get_block(n, full_transactions=True))
        for tx in block["transactions"]:
            if tx["from"] == client.address:
                found[int(tx["nonce"])] = "0x" + bytes(tx["hash"]).hex()
    return found


def assert_every_nonce_recorded_once(client: ChainClient, mined: dict[int, str]) -> None:
    """The home's table holds each mined transaction under its nonce, confirmed, and nothing
    is left pending (stuck) or dropped."""
    rows = {r.nonce: r for r in client.store.history(31337, client.address, limit=1000)}
    missing = sorted(n for n in mined if n not in rows or rows[n].tx_hash != mined[n])
    assert not missing, f"mined nonces whose record was lost or overwritten: {missing}"
    assert {r.state for r in rows.values()} == {"confirmed"}, \
        sorted((r.nonce, r.state) for r in rows.values() if r.state != "confirmed")


async def test_two_clients_of_one_home_never_reuse_a_nonce(anvil: AnvilProcess,
                                                           keys: tuple[str, ...],
                                                           tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    daemon, command = make_client(anvil.rpc_url, keys[5], db), make_client(
        anvil.rpc_url, keys[5], db)
    await daemon.start()
    await command.start()
    first_block = await daemon.block_number()
    try:
        receipts = []
        for i in range(4):  # taking turns: each sees the other's nonce in the table
            for client in (daemon, command):
                receipts.append(await client.transfer_eth(SINK, 100 + i))
        receipts += await asyncio.gather(
            *(client.transfer_eth(SINK, 1000 + i)
              for i in range(8) for client in (daemon, command)))
        assert all(r["status"] == 1 for r in receipts)
        mined = await account_hashes(daemon, first_block)
        assert len(mined) == 24
        assert sorted({"0x" + bytes(r["transactionHash"]).hex() for r in receipts}) == \
            sorted(mined.values())
        assert_every_nonce_recorded_once(daemon, mined)
        assert daemon.nonces is not None and command.nonces is not None
        assert daemon.nonces.foreign_sends + command.nonces.foreign_sends > 0
    finally:
        for client in (daemon, command):
            client.close()
            await client.pool.close()


async def test_a_nonce_recorded_by_a_process_that_died_is_sent_before_the_next(
        anvil: AnvilProcess, keys: tuple[str, ...], tmp_path: Path) -> None:
    """Another process recorded a signed transaction and died before broadcasting it: the
    next sender of the home rebroadcasts it first, so neither waits behind a gap."""
    db = tmp_path / "state.db"
    daemon = make_client(anvil.rpc_url, keys[6], db)
    await daemon.start()
    try:
        await daemon.transfer_eth(SINK, 1)
        signer = LocalSigner.from_key(keys[6])
        nonce = await daemon._pending_count(signer.address)
        fees = await daemon.fees()
        signed = signer.sign_transaction({"to": SINK, "value": 7, "gas": 21_000,
                                          "nonce": nonce, "chainId": 31337, "type": 2,
                                          **fees.as_tx_fields()})
        lost_hash = "0x" + bytes(signed.hash).hex()
        TxStore(db).record(31337, signer.address, nonce, lost_hash,
                           bytes(signed.raw_transaction), fees.max_fee, fees.priority_fee)
        after = await daemon.transfer_eth(SINK, 9)
        assert after["status"] == 1
        mined = await account_hashes(daemon, 0)
        assert mined.get(nonce) == lost_hash, "the other process's transaction was lost"
        assert mined.get(nonce + 1) == "0x" + bytes(after["transactionHash"]).hex()
    finally:
        daemon.close()
        await daemon.pool.close()


SENDER = textwrap.dedent("""
    import asyncio, json, sys
    from pathlib import Path
    from oarn_tui.chain.client import ChainClient
    from oarn_tui.chain.nonces import TxStore
    from oarn_tui.chain.rpc import RpcPool
    from oarn_tui.wallet.signer import LocalSigner

    async def main():
        url, key, db, count = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
        client = ChainClient(RpcPool([url], 31337), LocalSigner.from_key(key), TxStore(db),
                             poll_interval=0.05)
        await client.start()
        receipts = await asyncio.gather(*(client.transfer_eth(
            "0x000000000000000000000000000000000000bEEF", 1) for _ in range(count)))
        print(json.dumps(["0x" + bytes(r["transactionHash"]).hex() for r in receipts]))
        client.close()
        await client.pool.close()

    asyncio.run(main())
""")


async def test_another_process_of_the_home_takes_turns(anvil: AnvilProcess,
                                                       keys: tuple[str, ...],
                                                       tmp_path: Path) -> None:
    """A real second process (as `oarn wallet send` is) sends while this one does."""
    db = tmp_path / "state.db"
    daemon = make_client(anvil.rpc_url, keys[7], db)
    await daemon.start()
    first_block = await daemon.block_number()
    try:
        other = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SENDER, anvil.rpc_url, keys[7], str(db), "8", cwd=REPO,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        async def keep_sending() -> list[Any]:
            receipts = []
            for _ in range(60):  # bounded: until the other process is done, ~0.1 s apart
                receipts.append(await daemon.transfer_eth(SINK, 2))
                if other.returncode is not None:
                    break
                await asyncio.sleep(0.1)
            return receipts

        mine, (out, err) = await asyncio.gather(
            keep_sending(), asyncio.wait_for(other.communicate(), 120))
        assert other.returncode == 0, err.decode()[-2000:]
        theirs = json.loads(out.decode().strip().splitlines()[-1])
        mined = await account_hashes(daemon, first_block)
        sent = ["0x" + bytes(r["transactionHash"]).hex() for r in mine] + theirs
        assert sorted(sent) == sorted(mined.values()) and len(set(sent)) == len(sent)
        assert_every_nonce_recorded_once(daemon, mined)
    finally:
        daemon.close()
        await daemon.pool.close()
