"""`oarn devnet` and the chain commands end to end: one devnet (one anvil) for the module."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from oarn_tui.chain.anvil import devnet_keys, find_anvil, pid_alive
from oarn_tui.cli_support import AppContext
from oarn_tui.commands.chain import (
    balance,
    send,
    stake,
    task_history,
    task_list,
    task_status,
    unstake,
)
from oarn_tui.commands.devnet import devnet

pytestmark = pytest.mark.skipif(find_anvil() is None, reason="anvil binary not installed")
REPO = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple devnet"


def cli() -> click.Group:
    root = click.Group()
    root.add_command(devnet)
    wallet = click.Group("wallet")
    wallet.add_command(balance)
    wallet.add_command(send)
    root.add_command(wallet)
    root.add_command(stake)
    root.add_command(unstake)
    task = click.Group("task")
    for command in (task_list, task_status, task_history):
        task.add_command(command)
    root.add_command(task)
    return root


def invoke(home: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli(), list(args), obj=AppContext(home=home))
    return result


def invoke_json(home: Path, *args: str) -> Any:
    result = invoke(home, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture(scope="module")
def devnet_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    home = tmp_path_factory.mktemp("devnet-home")
    description = invoke_json(home, "devnet", "up")
    try:
        yield home, description
    finally:
        if (home / "devnet" / "devnet.json").exists():
            invoke(home, "devnet", "down")


@pytest.fixture(scope="module")
def wallet_home(tmp_path_factory: pytest.TempPathFactory,
                devnet_home: tuple[Path, dict]) -> tuple[Path, Path, str]:
    """A second home that joined the devnet and holds a fresh wallet (fast KDF)."""
    from eth_account import Account

    from oarn_tui.chain.devnet import join_devnet
    from oarn_tui.wallet.operations import import_private_key
    from oarn_tui.wallet.vault import KdfParams

    home = tmp_path_factory.mktemp("node-home")
    join_devnet(home, devnet_home[1]["state_dir"])
    password_file = home / "pass.txt"
    password_file.write_text(PASSPHRASE + "\n")
    password_file.chmod(0o600)
    account = Account.create()
    public = import_private_key(home / "wallet.vault", PASSPHRASE, account.key.hex(),
                                kdf=KdfParams.minimum())
    return home, password_file, str(public["address"])


def test_devnet_up_prints_description_and_writes_profile(
        devnet_home: tuple[Path, dict]) -> None:
    home, description = devnet_home
    for key in ("rpc_url", "chain_id", "registry", "contracts", "bootstrap", "state_dir",
                "faucet"):
        assert key in description
    assert description["rpc_url"].startswith("http://127.0.0.1:")
    assert description["chain_id"] == 31337
    assert set(description["contracts"]) >= {"registry", "task_registry", "gov_token",
                                             "comp_token"}
    assert pid_alive(description["pid"])  # detached: it outlived the command
    config = (home / "config.toml").read_text()
    assert 'profile = "devnet"' in config and description["registry"] in config
    assert description["rpc_url"] in config
    status = invoke_json(home, "devnet", "status")
    assert status["running"] is True and status["block"] > 0
    again = invoke(home, "devnet", "up")
    assert again.exit_code == 1 and "already runs" in again.output


def test_second_process_uses_the_devnet(devnet_home: tuple[Path, dict],
                                        tmp_path: Path) -> None:
    """A separate Python process joins via the state dir and sends a transaction."""
    script = textwrap.dedent(f"""
        import asyncio, json, sqlite3
        from pathlib import Path
        from oarn_tui.chain.anvil import devnet_keys
        from oarn_tui.chain.bindings import OarnContracts
        from oarn_tui.chain.client import ChainClient
        from oarn_tui.chain.devnet import join_devnet
        from oarn_tui.chain.discovery import discover_from_config
        from oarn_tui.chain.nonces import TxStore
        from oarn_tui.chain.rpc import RpcPool
        from oarn_tui.config import load_config
        from oarn_tui.wallet.signer import LocalSigner

        async def main():
            home = Path({str(tmp_path / "second")!r})
            join_devnet(home, Path({devnet_home[1]["state_dir"]!r}))
            config = load_config(home)
            pool = RpcPool(config.blockchain.manual_rpc_urls, config.blockchain.chain_id)
            client = ChainClient(pool, LocalSigner.from_key(devnet_keys()[7]),
                                 TxStore(sqlite3.connect(":memory:")))
            await client.start()
            found = await discover_from_config(pool, config)
            contracts = OarnContracts(client, found.contracts)
            receipt = await contracts.transfer("comp", "0x000000000000000000000000000000000000bEEF",
                                               12345)
            out = {{"registry": found.registry, "status": receipt.status,
                    "balances": {{k: str(v) for k, v in (await contracts.balances()).items()}}}}
            await pool.close()
            print(json.dumps(out))

        asyncio.run(main())
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["registry"] == devnet_home[1]["registry"] and out["status"] == 1
    assert int(out["balances"]["comp"]) == 10_000 * 10**18 - 12345


def test_fund_balance_stake_unstake_send(devnet_home: tuple[Path, dict],
                                         wallet_home: tuple[Path, Path, str]) -> None:
    home, password_file, address = wallet_home
    # from the joined home: `devnet fund` finds the devnet it joined
    funded = invoke_json(home, "devnet", "fund", address, "--eth", "5", "--gov", "300",
                         "--comp", "50")
    assert funded["gov"] == {"amount": "300", "wei": str(300 * 10**18)}
    shown = invoke_json(home, "wallet", "balance")
    assert shown["address"] == address
    assert (shown["eth"]["amount"], shown["gov"]["amount"], shown["comp"]["amount"]) == \
        ("5", "300", "50")
    staked = invoke_json(home, "stake", "120", "--password-file", str(password_file))
    assert staked["staked_gov"]["amount"] == "120"
    unstaked = invoke_json(home, "unstake", "20", "--password-file", str(password_file))
    assert unstaked["staked_gov"]["amount"] == "100"
    refused = invoke(home, "wallet", "send", devnet_home[1]["faucet"]["address"], "1.5",
                     "--token", "comp", "--password-file", str(password_file))
    assert refused.exit_code == 1 and "--yes" in refused.output
    sent = invoke_json(home, "wallet", "send", devnet_home[1]["faucet"]["address"], "1.5",
                       "--token", "comp", "--yes", "--password-file", str(password_file))
    assert sent["amount"]["wei"] == str(15 * 10**17) and sent["block"] > 0
    after = invoke_json(home, "wallet", "balance")
    assert after["comp"]["amount"] == "48.5" and after["gov"]["amount"] == "200"
    assert after["staked_gov"]["amount"] == "100"
    too_much = invoke(home, "unstake", "1000", "--password-file", str(password_file))
    assert too_much.exit_code == 1
    assert "InsufficientStake" in too_much.output and "Traceback" not in too_much.output


def test_task_list_status_history(devnet_home: tuple[Path, dict],
                                  wallet_home: tuple[Path, Path, str], tmp_path: Path) -> None:
    from oarn_tui.chain.bindings import OarnContracts, TaskSpec
    from oarn_tui.chain.client import ChainClient
    from oarn_tui.chain.nonces import TxStore
    from oarn_tui.chain.rpc import RpcPool
    from oarn_tui.config import load_config
    from oarn_tui.wallet.signer import LocalSigner
    from oarn_tui.wallet.unlock import unlock_signer

    home, password_file, address = wallet_home
    description = devnet_home[1]

    async def act(signer: Any, db: Path) -> OarnContracts:
        client = ChainClient(RpcPool([description["rpc_url"]], 31337), signer, TxStore(db))
        await client.start()
        return OarnContracts(client, description["contracts"])

    async def scenario() -> int:
        requester = await act(LocalSigner.from_key(devnet_keys()[8]), tmp_path / "r.db")
        deadline = await requester.chain_time() + 3_600
        task_id = await requester.submit_task(TaskSpec("bafymodel", "bafyinput", 10**18,
                                                       deadline, redundancy=2))
        wallet = unlock_signer(home, load_config(home), password_file)
        executor = await act(wallet.signer, tmp_path / "e.db")
        await executor.claim(task_id)
        wallet.close()
        await requester.client.pool.close()
        await executor.client.pool.close()
        return task_id

    task_id = asyncio.run(scenario())
    listed = invoke_json(home, "task", "list")
    mine = [t for t in listed["tasks"] if t["task_id"] == task_id]
    assert mine and mine[0]["reward_per_executor"]["amount"] == "1"
    status = invoke_json(home, "task", "status", str(task_id))
    assert status["status"] == "open" and status["open_slots"] == 1
    assert [c["executor"] for c in status["claims"]] == [address]
    assert status["claims"][0]["state"] == "claimed"
    history = invoke_json(home, "task", "history")
    assert [(t["task_id"], t["roles"]) for t in history["tasks"]] == [(task_id, ["executor"])]
    missing = invoke(home, "task", "status", "999")
    assert missing.exit_code == 1 and "UnknownTask" in missing.output


def test_bad_input_is_one_line(devnet_home: tuple[Path, dict], tmp_path: Path) -> None:
    home = devnet_home[0]
    bad = invoke(home, "devnet", "fund", "not-an-address")
    assert bad.exit_code == 1 and bad.output.count("\n") == 1 and "address" in bad.output
    no_wallet = invoke(home, "wallet", "balance")
    assert no_wallet.exit_code == 1 and "wallet create" in no_wallet.output
    uninitialised = invoke(tmp_path, "task", "list")
    assert uninitialised.exit_code == 1 and "init" in uninitialised.output


def test_devnet_down_removes_everything(devnet_home: tuple[Path, dict]) -> None:
    home, description = devnet_home
    state_dir = Path(description["state_dir"])
    # anvil ran with HOME=<state>/anvil-home and --prune-history: it wrote nothing there
    assert list((state_dir / "anvil-home").rglob("*")) == []
    result = invoke_json(home, "devnet", "down")
    assert result["stopped_pid"] == description["pid"]
    assert not pid_alive(description["pid"])
    assert not state_dir.exists()
    assert invoke_json(home, "devnet", "status")["running"] is False
