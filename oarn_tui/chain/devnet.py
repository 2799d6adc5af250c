"""A local OARN devnet: anvil, the deployed contracts, funded accounts and a description file.

`devnet_up` starts anvil detached (it outlives the command; the demo's does not), deploys the
whole system, funds the devnet accounts with ETH, GOV and COMP and writes `devnet.json` into
the state directory: `{rpc_url, chain_id, registry, contracts, bootstrap, state_dir, faucet}`.
Any home joins with `join_devnet(home, state_dir)`, which writes the `devnet` profile into its
config.toml. `devnet_down` stops anvil by PID and removes every file `devnet_up` made.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

from oarn_tui.chain.anvil import (
    AnvilError,
    devnet_addresses,
    devnet_keys,
    pid_alive,
    start_anvil,
    stop_pid,
)
from oarn_tui.fsutil import atomic_write_text, private_dir

DESCRIPTION_FILE = "devnet.json"
PID_FILE = "anvil.pid"
STATE_FILE = "anvil-state.json"
LOG_FILE = "anvil.log"
ANVIL_HOME = "anvil-home"
LINK_FILE = "devnet.link"  # in a joined home: the state dir of the devnet it joined
MADE_FILES = (DESCRIPTION_FILE, PID_FILE, STATE_FILE, LOG_FILE)
FAUCET_INDEX = 0
TOKEN = 10**18
DEFAULT_FUNDING = {"eth": 0, "gov": 10_000 * TOKEN, "comp": 10_000 * TOKEN}


class DevnetError(RuntimeError):
    """A devnet operation cannot be done; the message says what to do."""


def default_state_dir(home: Path) -> Path:
    return home / "devnet"


def linked_state_dir(home: Path) -> Path:
    """The devnet `home` uses: its own `<home>/devnet`, else the one it joined."""
    own = default_state_dir(home)
    if (own / DESCRIPTION_FILE).exists():
        return own
    try:
        joined = Path((home / LINK_FILE).read_text(encoding="utf-8").strip())
    except OSError:
        return own
    return joined if joined.is_absolute() else own


def read_description(state_dir: Path) -> dict[str, Any]:
    path = state_dir / DESCRIPTION_FILE
    if not path.exists():
        raise DevnetError(f"no devnet in {state_dir}; start one with `oarn devnet up`")
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise DevnetError(f"{path} is unreadable ({exc}); run `oarn devnet down` "
                          "and `oarn devnet up` again") from None


def running_pid(state_dir: Path) -> int | None:
    """PID of this state dir's anvil if it still runs."""
    try:
        pid = int((state_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def _sync_web3(rpc_url: str) -> Any:
    from web3 import HTTPProvider, Web3

    return Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))


def _faucet() -> Any:
    from oarn_tui.wallet.signer import LocalSigner

    return LocalSigner.from_key(devnet_keys()[FAUCET_INDEX])


def devnet_up(home: Path, state_dir: Path | None = None, *, with_ens: bool = False,
              write_profile: bool = True, detached: bool = True,
              record: Any = None) -> dict[str, Any]:
    """Start (or resume from a kept state) the devnet of `state_dir`; returns its description.

    `detached` (the `oarn devnet up` command) lets anvil outlive the caller; otherwise (the
    demo) anvil ends with the calling process and is noted in `record` for a later reaper.
    """
    from oarn_tui.chain.deploy import deploy_system, fund_account

    state_dir = Path(state_dir or default_state_dir(home)).resolve()
    pid = running_pid(state_dir)
    if pid is not None:
        raise DevnetError(f"a devnet already runs from {state_dir} (pid {pid}); "
                          "use it, or stop it with `oarn devnet down`")
    private_dir(state_dir)
    (state_dir / PID_FILE).unlink(missing_ok=True)
    state_path = state_dir / STATE_FILE
    resumed = state_path.exists() and (state_dir / DESCRIPTION_FILE).exists()
    previous = read_description(state_dir) if resumed else None
    started = time.monotonic()
    # Interval blocks as well as automine: chain time follows the clock like a real L2, so
    # deadlines pass (and their finalize estimates succeed) on an idle devnet.
    anvil = start_anvil(state_dir, state_path=state_path, detached=detached, record=record,
                        extra_args=["--block-time", "1", "--mixed-mining"])
    try:
        atomic_write_text(state_dir / PID_FILE, f"{anvil.pid}\n", mode=0o644)
        w3 = _sync_web3(anvil.rpc_url)
        if previous is not None:
            contracts = dict(previous["contracts"])
        else:
            faucet = _faucet()
            contracts = deploy_system(w3, faucet, with_ens=with_ens)
            for address in devnet_addresses()[1:]:
                fund_account(w3, faucet, contracts, address, **DEFAULT_FUNDING)
        description = {
            "rpc_url": anvil.rpc_url,
            "ws_url": anvil.ws_url,
            "chain_id": int(w3.eth.chain_id),
            "registry": contracts["registry"],
            "contracts": contracts,
            "bootstrap": _bootstrap_nodes(w3, contracts["registry"]),
            "state_dir": str(state_dir),
            "faucet": {"address": _faucet().address, "account_index": FAUCET_INDEX},
            "accounts": list(devnet_addresses()),
            "pid": anvil.pid,
            "resumed": previous is not None,
            "startup_s": round(time.monotonic() - started, 3),
        }
        atomic_write_text(state_dir / DESCRIPTION_FILE,
                          json.dumps(description, indent=2, sort_keys=True) + "\n", mode=0o644)
    except BaseException:
        anvil.stop()
        for name in (PID_FILE, LOG_FILE):
            (state_dir / name).unlink(missing_ok=True)
        raise
    if write_profile:
        write_devnet_profile(home, description)
    return description


def _bootstrap_nodes(w3: Any, registry: str) -> list[str]:
    from oarn_tui.chain.contracts import abi

    contract = w3.eth.contract(address=registry, abi=abi("OARNRegistry"))
    return [str(node) for node in contract.functions.getBootstrapNodes().call()]


def write_devnet_profile(home: Path, description: dict[str, Any]) -> None:
    """Point `home`'s config.toml at this devnet (profile, RPC URL, chain id, registry)."""
    from oarn_tui.config import set_key

    home.mkdir(parents=True, exist_ok=True)
    set_key(home, "node.profile", '"devnet"')
    set_key(home, "blockchain.manual_rpc_urls", json.dumps([description["rpc_url"]]))
    set_key(home, "blockchain.registry_address", json.dumps(description["registry"]))
    set_key(home, "blockchain.chain_id", str(int(description["chain_id"])))


def join_devnet(home: Path, state_dir: Path) -> dict[str, Any]:
    """Make `home` use the devnet running from `state_dir` (for `oarn init --devnet DIR`)."""
    state_dir = Path(state_dir).resolve()
    description = read_description(state_dir)
    if running_pid(state_dir) is None:
        raise DevnetError(f"the devnet in {state_dir} is not running; start it with "
                          f"`oarn devnet up --state {state_dir}`")
    write_devnet_profile(home, description)
    atomic_write_text(home / LINK_FILE, f"{state_dir}\n", mode=0o644)
    return description


def devnet_status(state_dir: Path) -> dict[str, Any]:
    """Whether the devnet runs, and its head block when it does."""
    state_dir = Path(state_dir).resolve()
    if not (state_dir / DESCRIPTION_FILE).exists():
        return {"running": False, "state_dir": str(state_dir), "reason": "no devnet here"}
    description = read_description(state_dir)
    pid = running_pid(state_dir)
    status = {**description, "running": pid is not None, "pid": pid}
    if pid is None:
        status["reason"] = "anvil is not running"
        return status
    try:
        w3 = _sync_web3(description["rpc_url"])
        status["block"] = int(w3.eth.block_number)
        status["bootstrap"] = _bootstrap_nodes(w3, description["registry"])
        status["reason"] = "ok"
    except Exception as exc:  # the process lives but does not answer
        status["reason"] = f"RPC does not answer: {type(exc).__name__}"
    return status


def devnet_down(state_dir: Path, *, keep_state: bool = False) -> dict[str, Any]:
    """Stop anvil by PID and remove the files `devnet_up` made (all of them, or all but the
    chain state and description with `keep_state`, so the next `up` resumes)."""
    state_dir = Path(state_dir).resolve()
    if not state_dir.exists():
        raise DevnetError(f"no devnet in {state_dir}")
    pid = running_pid(state_dir)
    if pid is not None:
        stop_pid(pid, timeout=15)
    kept = (STATE_FILE, DESCRIPTION_FILE) if keep_state else ()
    removed = []
    for name in MADE_FILES:
        path = state_dir / name
        if name not in kept and path.exists():
            path.unlink()
            removed.append(name)
    if (state_dir / ANVIL_HOME).exists():
        shutil.rmtree(state_dir / ANVIL_HOME)
        removed.append(ANVIL_HOME)
    if not keep_state:
        with contextlib.suppress(OSError):
            state_dir.rmdir()  # only if empty: never delete files we did not make
    return {"stopped_pid": pid, "removed": removed, "state_dir": str(state_dir),
            "kept_state": keep_state}


def devnet_fund(state_dir: Path, address: str, *, eth: int = 0, gov: int = 0,
                comp: int = 0) -> dict[str, Any]:
    """Send devnet ETH, GOV and COMP (wei) from the faucet account to `address`."""
    from eth_utils import is_address, to_checksum_address

    from oarn_tui.chain.deploy import fund_account

    if not is_address(address):
        raise DevnetError(f"{address!r} is not an Ethereum address (0x followed by 40 hex)")
    description = read_description(Path(state_dir).resolve())
    if running_pid(Path(state_dir).resolve()) is None:
        raise DevnetError("the devnet is not running; start it with `oarn devnet up`")
    w3 = _sync_web3(description["rpc_url"])
    recipient = to_checksum_address(address)
    fund_account(w3, _faucet(), description["contracts"], recipient, eth=eth, gov=gov,
                 comp=comp)
    return {"address": recipient, "eth": eth, "gov": gov, "comp": comp}


__all__ = ["AnvilError", "DevnetError", "default_state_dir", "devnet_down", "devnet_fund",
           "devnet_status", "devnet_up", "join_devnet", "read_description"]
