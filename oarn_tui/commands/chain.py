"""Chain commands: `wallet balance|send`, `stake`, `unstake`, `task list|status|history`.

The lead attaches `balance` and `send` under `wallet`, and `task_list`, `task_status`,
`task_history` under `task` as `list`, `status`, `history`. Reads need only the account address
(from the vault's public header, or `--address`). Writes (`send`, `stake`, `unstake`) are runtime
commands (`wallet.send`, `chain.stake`, `chain.unstake`): the home's daemon sends them when it
runs, else an embedded node under the home lock that unlocks the wallet (`--password-file`,
`OARN_PASSWORD_FILE`, systemd credential, keyring or a prompt) — never a second chain client
beside a running daemon (issue 13).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from oarn_tui.cli_support import AppContext, UserError, emit, json_option, pass_app
from oarn_tui.textsafe import safe_text

T = TypeVar("T")
TOKENS = ("eth", "gov", "comp")

password_file_option = click.option(
    "--password-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="File whose first line is the vault passphrase (else OARN_PASSWORD_FILE, systemd "
         "credential, the keyring, or a prompt).")
address_option = click.option("--address", default=None,
                              help="Account to read (default: this home's wallet).")


def _chain_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Chain, wallet and amount problems become one-line `UserError`s."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from oarn_tui.amounts import AmountError
        from oarn_tui.chain.client import ChainError
        from oarn_tui.chain.discovery import DiscoveryError
        from oarn_tui.chain.rpc import RpcUnavailable
        from oarn_tui.wallet.errors import WalletError

        try:
            return func(*args, **kwargs)
        except (ChainError, DiscoveryError, RpcUnavailable, AmountError, WalletError) as exc:
            raise UserError(str(exc)) from None

    return wrapper


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _wallet_address(app: AppContext) -> str:
    """The home's account address from the vault's public header (no unlock needed)."""
    from oarn_tui.wallet.errors import WalletError
    from oarn_tui.wallet.unlock import vault_path_of
    from oarn_tui.wallet.vault import read_vault

    try:
        address = read_vault(vault_path_of(app.config())).public.get("address")
    except (WalletError, OSError):
        address = None
    if not address:
        raise UserError("this home has no wallet; run `oarn wallet create` (or pass --address)")
    return str(address)


@contextlib.asynccontextmanager
async def _contracts(app: AppContext, *, signer: Any | None = None,
                     address: str | None = None) -> AsyncIterator[Any]:
    """Connected `OarnContracts` for this home (signing with `signer`, else read-only)."""
    import sqlite3

    from oarn_tui.chain.bindings import OarnContracts
    from oarn_tui.chain.client import ChainClient
    from oarn_tui.chain.discovery import discover_from_config
    from oarn_tui.chain.nonces import TxStore
    from oarn_tui.chain.rpc import RpcPool

    config = app.require_initialised()
    chain = config.blockchain
    if not chain.manual_rpc_urls:
        raise UserError("no RPC URL configured; set blockchain.manual_rpc_urls or join a devnet "
                        "with `oarn init --profile devnet --devnet DIR`")
    if address is not None:
        from eth_utils.address import is_address, to_checksum_address

        if not is_address(address):
            raise UserError(f"{address!r} is not an Ethereum address (0x followed by 40 hex)")
        address = to_checksum_address(address)
    pool = RpcPool(list(chain.manual_rpc_urls), chain.chain_id)
    store = TxStore(config.path(config.node.state_path)) if signer is not None \
        else TxStore(sqlite3.connect(":memory:"))
    client = ChainClient(pool, signer, store, account=address, tx_timeout_s=chain.tx_timeout_s,
                         gas_bump_percent=chain.gas_bump_percent)
    try:
        await client.start()
        discovered = await discover_from_config(pool, config)
        yield OarnContracts(client, discovered.contracts)
    finally:
        await pool.close()
        store.conn.close()


def _parse(amount: str) -> int:
    from oarn_tui.amounts import parse_amount

    wei = parse_amount(amount)
    if wei == 0:
        raise UserError("the amount must be more than 0")
    return wei


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError("refusing to send without confirmation; add --yes")
    if not click.confirm(question, default=False):
        raise UserError("cancelled; nothing was sent")


# -- wallet balance / send ---------------------------------------------------------------------


@click.command()
@address_option
@json_option
@pass_app
@_chain_errors
def balance(app: AppContext, address: str | None, as_json: bool) -> None:
    """ETH, GOV and COMP of this home's account (and its GOV stake)."""
    from oarn_tui.amounts import amount_json

    who = address or _wallet_address(app)

    async def read() -> dict[str, Any]:
        async with _contracts(app, address=who) as contracts:
            balances = await contracts.balances()
            staked = await contracts.stake_of()
            return {"address": contracts.client.address, "chain_id": contracts.client.chain_id,
                    **{t: amount_json(balances[t]) for t in TOKENS},
                    "staked_gov": amount_json(staked)}

    data = _run(read())
    emit(data, as_json, lambda d: f"{d['address']}\n" + "\n".join(
        f"  {t.upper():<5}{d[t]['amount']}" for t in TOKENS)
        + f"\n  staked GOV {d['staked_gov']['amount']}")


@click.command()
@click.argument("to")
@click.argument("amount")
@click.option("--token", type=click.Choice(TOKENS), default="eth", show_default=True)
@click.option("--yes", is_flag=True, help="Send without asking for confirmation.")
@password_file_option
@json_option
@pass_app
@_chain_errors
def send(app: AppContext, to: str, amount: str, token: str, yes: bool,
         password_file: Path | None, as_json: bool) -> None:
    """Send AMOUNT of ETH, GOV or COMP to the address TO.

    Sent by the home's daemon when it runs (its chain client owns the account's nonces), else
    by an embedded node under the home lock."""
    from eth_utils.address import is_address, to_checksum_address

    from oarn_tui.amounts import format_amount

    if not is_address(to):
        raise UserError(f"{to!r} is not an Ethereum address (0x followed by 40 hex)")
    recipient, wei = to_checksum_address(to), _parse(amount)
    _confirm(yes, f"Send {format_amount(wei)} {token.upper()} to {recipient}?")
    sent = _run(_write(app, password_file, "wallet.send", to=recipient, amount=amount,
                       token=token.upper()))
    data = {"from": sent["from"], "to": sent["to"], "token": token, "amount": sent["amount"],
            "tx_hash": sent["tx_hash"], "block": sent["block"], "gas_used": sent["gas_used"]}
    emit(data, as_json, lambda d: f"sent {d['amount']['amount']} {token.upper()} to {d['to']} "
         f"(tx {d['tx_hash']}, block {d['block']})")


async def _write(app: AppContext, password_file: Path | None, name: str,
                 **args: Any) -> dict[str, Any]:
    """Run the chain write `name` in the home's node (daemon, else embedded)."""
    from oarn_tui.commands.node_access import node_for

    async with node_for(app, "chain", password_file=password_file) as node:
        result: dict[str, Any] = await node.command(name, **args)
        return result


# -- stake / unstake ---------------------------------------------------------------------------


def _stake_command(action: str) -> Callable[..., None]:
    @click.argument("amount")
    @password_file_option
    @json_option
    @pass_app
    @_chain_errors
    def command(app: AppContext, amount: str, password_file: Path | None,
                as_json: bool) -> None:
        _parse(amount)
        data = _run(_write(app, password_file, f"chain.{action}", amount=amount))
        emit(data, as_json, lambda d: f"{action}d {d['amount']['amount']} GOV; staked now "
             f"{d['staked_gov']['amount']} (claiming needs {d['min_stake']['amount']})")

    command.__doc__ = ("Stake AMOUNT GOV in the TaskRegistry (what claiming tasks needs)."
                       if action == "stake" else "Withdraw AMOUNT of staked GOV.")
    return command


stake = click.command("stake")(_stake_command("stake"))
unstake = click.command("unstake")(_stake_command("unstake"))


# -- task list / status / history --------------------------------------------------------------


def _task_json(task: Any) -> dict[str, Any]:
    from oarn_tui.amounts import amount_json

    data: dict[str, Any] = task.to_dict()
    data["reward_per_executor"] = amount_json(task.reward_per_executor)
    data["escrow"] = amount_json(task.escrow)
    return data


def _task_line(task: dict[str, Any]) -> str:
    """One task; framework and CIDs are the requester's strings, so each is made safe."""
    return (f"#{task['task_id']:<5} {task['status']:<10} {task['reward_per_executor']['amount']:>8}"
            f" COMP  R={task['redundancy']}  {safe_text(task['framework']):<6} model "
            f"{safe_text(task['model_cid'])}")


@click.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@json_option
@pass_app
@_chain_errors
def task_list(app: AppContext, limit: int, as_json: bool) -> None:
    """Open tasks on chain that still have a free slot, newest first."""

    async def read() -> dict[str, Any]:
        async with _contracts(app, address="0x" + "00" * 20) as contracts:
            tasks = await contracts.open_tasks(limit)
            return {"tasks": [_task_json(t) for t in tasks], "count": len(tasks)}

    data = _run(read())
    emit(data, as_json, lambda d: "\n".join(_task_line(t) for t in d["tasks"])
         or "no open tasks")


@click.command("status")
@click.argument("task_id", type=click.IntRange(min=1))
@json_option
@pass_app
@_chain_errors
def task_status(app: AppContext, task_id: int, as_json: bool) -> None:
    """One task's on-chain state, with its claimants."""

    async def read() -> dict[str, Any]:
        async with _contracts(app, address="0x" + "00" * 20) as contracts:
            task = _task_json(await contracts.get_task(task_id))
            claims = []
            for executor in await contracts.claimants(task_id):
                claim = await contracts.get_claim(task_id, executor)
                claims.append({"executor": executor, **claim.__dict__})
            task["claims"] = claims
            task["open_slots"] = await contracts.open_slots(task_id)
            return task

    data = _run(read())
    emit(data, as_json, lambda d: _task_line(d) + "\n" + "\n".join(
        f"  {safe_text(c['executor'])}  {safe_text(c['state'])}" for c in d["claims"]))


@click.command("history")
@address_option
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@json_option
@pass_app
@_chain_errors
def task_history(app: AppContext, address: str | None, limit: int, as_json: bool) -> None:
    """Tasks this account submitted or claimed, with what it earned."""
    from oarn_tui.amounts import amount_json

    who = address or _wallet_address(app)

    async def read() -> dict[str, Any]:
        from oarn_tui.chain.contracts import abi
        from oarn_tui.chain.events import query_events

        async with _contracts(app, address=who) as contracts:
            pool, registry = contracts.client.pool, contracts.addresses["task_registry"]
            task_abi = abi("TaskRegistry")
            me = contracts.client.address
            entries: dict[int, dict[str, Any]] = {}
            for event_name, role in (("TaskSubmitted", "requester"),
                                     ("TaskClaimed", "executor")):
                for event in await query_events(pool, registry, task_abi, event_name,
                                                indexed={2: me}):
                    task_id = int(event.args["taskId"])
                    entry = entries.setdefault(task_id, {"task_id": task_id, "roles": [],
                                                         "block": event.block_number})
                    if role not in entry["roles"]:
                        entry["roles"].append(role)
            paid = {int(e.args["taskId"]): e for e in await query_events(
                pool, registry, task_abi, "ExecutorPaid", indexed={2: me})}
            rows = []
            for task_id in sorted(entries, reverse=True)[:limit]:
                task = await contracts.get_task(task_id)
                entry = entries[task_id]
                entry["status"] = task.status
                entry["reward_per_executor"] = amount_json(task.reward_per_executor)
                if task_id in paid:
                    args = paid[task_id].args
                    entry["earned"] = amount_json(int(args["reward"]) + int(args["bonus"]))
                rows.append(entry)
            return {"address": me, "tasks": rows, "count": len(rows)}

    data = _run(read())
    emit(data, as_json, lambda d: "\n".join(
        f"#{t['task_id']:<5} {t['status']:<10} {'+'.join(t['roles']):<18}"
        + (f" earned {t['earned']['amount']} COMP" if "earned" in t else "")
        for t in d["tasks"]) or f"no tasks for {d['address']}")


__all__ = ["balance", "send", "stake", "task_history", "task_list", "task_status", "unstake"]
