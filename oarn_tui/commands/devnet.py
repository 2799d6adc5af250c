"""`oarn devnet up|down|status|fund`: a local anvil chain with the OARN contracts deployed.

The chain's files live in a state directory (default `<home>/devnet`, or `--state DIR`); other
homes join it with `oarn --home H init --profile devnet --devnet DIR`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from oarn_tui.cli_support import AppContext, UserError, emit, json_option, pass_app

StateDir = click.Path(file_okay=False, path_type=Path)


def _devnet_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Devnet, anvil, deployment and amount problems become one-line `UserError`s."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from oarn_tui.amounts import AmountError
        from oarn_tui.chain.anvil import AnvilError
        from oarn_tui.chain.deploy import DeploymentError
        from oarn_tui.chain.devnet import DevnetError

        try:
            return func(*args, **kwargs)
        except (DevnetError, AnvilError, DeploymentError, AmountError) as exc:
            raise UserError(str(exc)) from None

    return wrapper


def _state_dir(app: AppContext, state: Path | None, *, joined: bool = False) -> Path:
    """`--state`, else `<home>/devnet`; with `joined`, also the devnet this home joined."""
    from oarn_tui.chain.devnet import default_state_dir, linked_state_dir

    if state is not None:
        return state.resolve()
    return (linked_state_dir(app.home) if joined else default_state_dir(app.home)).resolve()


def _describe(data: dict[str, Any]) -> str:
    lines = [f"RPC URL      {data['rpc_url']}", f"chain id     {data['chain_id']}",
             f"registry     {data['registry']}"]
    lines += [f"  {role:<14}{address}" for role, address in sorted(data["contracts"].items())
              if role != "registry"]
    lines += [f"state dir    {data['state_dir']}",
              f"faucet       {data['faucet']['address']}"]
    return "\n".join(lines)


@click.group()
def devnet() -> None:
    """Run a local devnet (anvil) with the OARN contracts."""


@devnet.command()
@click.option("--state", type=StateDir, default=None,
              help="State directory (default: <home>/devnet).")
@click.option("--ens", "with_ens", is_flag=True,
              help="Also deploy a minimal ENS registry and resolver for the registry name.")
@json_option
@pass_app
@_devnet_errors
def up(app: AppContext, state: Path | None, with_ens: bool, as_json: bool) -> None:
    """Start anvil, deploy and fund, and point this home at the devnet."""
    from oarn_tui.chain.devnet import devnet_up

    description = devnet_up(app.home, _state_dir(app, state), with_ens=with_ens)
    emit(description, as_json, lambda d: "devnet is up\n" + _describe(d) +
         f"\nother homes join with: oarn --home H init --profile devnet --devnet "
         f"{d['state_dir']}")


@devnet.command()
@click.option("--state", type=StateDir, default=None,
              help="State directory (default: <home>/devnet).")
@click.option("--keep-state", is_flag=True,
              help="Keep the chain state so the next `devnet up` resumes it.")
@json_option
@pass_app
@_devnet_errors
def down(app: AppContext, state: Path | None, keep_state: bool, as_json: bool) -> None:
    """Stop the devnet's anvil (by PID) and remove the files it made."""
    from oarn_tui.chain.devnet import devnet_down

    result = devnet_down(_state_dir(app, state), keep_state=keep_state)
    emit(result, as_json, lambda r: (f"stopped anvil (pid {r['stopped_pid']})"
                                     if r["stopped_pid"] else "anvil was not running")
         + f"; removed {len(r['removed'])} file(s) from {r['state_dir']}")


@devnet.command()
@click.option("--state", type=StateDir, default=None,
              help="State directory (default: <home>/devnet, or the devnet this home joined).")
@json_option
@pass_app
@_devnet_errors
def status(app: AppContext, state: Path | None, as_json: bool) -> None:
    """Whether the devnet runs, its RPC URL, contracts and head block."""
    from oarn_tui.chain.devnet import devnet_status

    result = devnet_status(_state_dir(app, state, joined=True))
    if as_json:
        emit(result, True)
        return
    if "rpc_url" not in result:
        emit(result, False, f"no devnet in {result['state_dir']}")
        return
    head = f"running (pid {result['pid']}, block {result.get('block', '?')})" \
        if result["running"] else f"stopped: {result['reason']}"
    emit(result, False, f"devnet {head}\n" + _describe(result))
    if not result["running"]:
        raise SystemExit(1)


@devnet.command()
@click.argument("address")
@click.option("--eth", default="0", help="ETH to send (decimal).")
@click.option("--gov", default="0", help="GOV to send (decimal).")
@click.option("--comp", default="0", help="COMP to send (decimal).")
@click.option("--state", type=StateDir, default=None,
              help="State directory (default: <home>/devnet, or the devnet this home joined).")
@json_option
@pass_app
@_devnet_errors
def fund(app: AppContext, address: str, eth: str, gov: str, comp: str, state: Path | None,
         as_json: bool) -> None:
    """Send devnet ETH, GOV and COMP from the faucet to ADDRESS (default 10 ETH)."""
    from oarn_tui.amounts import amount_json, parse_amount
    from oarn_tui.chain.devnet import devnet_fund

    amounts = {"eth": parse_amount(eth), "gov": parse_amount(gov), "comp": parse_amount(comp)}
    if not any(amounts.values()):
        amounts["eth"] = parse_amount("10")
    result = devnet_fund(_state_dir(app, state, joined=True), address, **amounts)
    data = {"address": result["address"],
            **{token: amount_json(wei) for token, wei in amounts.items()}}
    emit(data, as_json, lambda d: f"funded {d['address']}: " + ", ".join(
        f"{d[t]['amount']} {t.upper()}" for t in ("eth", "gov", "comp") if d[t]["wei"] != "0"))


__all__ = ["devnet"]
