"""Find, start and stop a local anvil chain; an in-process py-evm chain when anvil is missing.

anvil comes from the npm package `@foundry-rs/anvil-linux-amd64` (the project's
`contracts/node_modules`, a global npm install, `PATH`, or `OARN_ANVIL`). It always listens on
127.0.0.1 with a port chosen by the OS (`--port 0`, read back from its log), runs with
`--prune-history` and its own `HOME` so nothing lands in `~/.foundry`, and is stopped by PID.
Unless started detached (`oarn devnet up`), it ends with the process that started it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ANVIL_PACKAGE = Path("@foundry-rs") / "anvil-linux-amd64" / "bin" / "anvil"
DEVNET_MNEMONIC = "test test test test test test test test test test test junk"
DEVNET_CHAIN_ID = 31337
DEVNET_ACCOUNTS = 10
LISTENING = re.compile(r"Listening on 127\.0\.0\.1:(\d+)")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class AnvilError(RuntimeError):
    """anvil is missing, failed to start, or exited."""


def find_anvil(env: dict[str, str] | None = None) -> Path | None:
    """The anvil binary: `OARN_ANVIL`, then `PATH`, the project's and the global npm install."""
    env = dict(os.environ) if env is None else env
    explicit = env.get("OARN_ANVIL", "").strip()
    if explicit:
        path = Path(explicit).expanduser()
        return path if path.is_file() and os.access(path, os.X_OK) else None
    on_path = shutil.which("anvil", path=env.get("PATH"))
    if on_path:
        return Path(on_path)
    bundled = Path(__file__).resolve().parent / "bin" / \
        ("anvil.exe" if sys.platform == "win32" else "anvil")  # desktop installers ship it here
    candidates = [bundled, PROJECT_ROOT / "contracts" / "node_modules" / ANVIL_PACKAGE,
                  Path(sys.prefix) / "lib" / "node_modules" / ANVIL_PACKAGE,
                  Path("/usr/local/lib/node_modules") / ANVIL_PACKAGE,
                  Path("/usr/lib/node_modules") / ANVIL_PACKAGE]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def require_anvil() -> Path:
    path = find_anvil()
    if path is None:
        raise AnvilError("anvil not found; run `npm ci` in contracts/, install "
                         "@foundry-rs/anvil-linux-amd64, or set OARN_ANVIL to its path")
    return path


@cache
def devnet_keys(count: int = DEVNET_ACCOUNTS) -> tuple[str, ...]:
    """The well-known private keys of anvil's default devnet accounts (public test keys)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return tuple(
        "0x" + Account.from_mnemonic(
            DEVNET_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}").key.hex()
        for index in range(count))


def devnet_addresses(count: int = DEVNET_ACCOUNTS) -> tuple[str, ...]:
    from eth_account import Account

    return tuple(Account.from_key(key).address for key in devnet_keys(count))


@dataclass
class AnvilProcess:
    """A running anvil: its PID, URL and the files it writes (log, optional state dump)."""

    pid: int
    port: int
    log_path: Path
    state_path: Path | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_alive(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (anvil dumps its state, if asked), then SIGKILL after `timeout`."""
        stop_pid(self.pid, timeout, self.popen)


def pid_alive(pid: int) -> bool:
    """True if `pid` runs and is not a zombie."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def stop_pid(pid: int, timeout: float = 10.0,
             popen: subprocess.Popen[bytes] | None = None) -> None:
    """Stop one process we started, by PID: SIGTERM, wait, SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None:
            if popen.poll() is not None:
                return
        elif not pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if popen is not None:
        popen.wait(timeout=5)


def start_anvil(work_dir: Path, *, state_path: Path | None = None, detached: bool = False,
                extra_args: list[str] | None = None, chain_id: int = DEVNET_CHAIN_ID,
                balance_eth: int = 10_000, timeout: float = 15.0,
                record: Any = None) -> AnvilProcess:
    """Start anvil on 127.0.0.1 with an OS-chosen port; files go to `work_dir` only.

    `state_path` loads the chain from that file if present and dumps it there on SIGTERM.
    `detached` starts it in its own session so it outlives the calling command; otherwise it
    leads its own process group and is SIGKILLed when the calling process ends, however it
    ends. `record` (a `proclife.ChildRecord`) notes its PID for a later reaper.
    """
    from oarn_tui.proclife import spawn

    binary = require_anvil()
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / "anvil.log"
    anvil_home = work_dir / "anvil-home"
    anvil_home.mkdir(exist_ok=True)
    # `--prune-history` alone keeps no past states, so a call that resolved "latest" just
    # before a new block fails with BlockOutOfRangeError; keep a few in memory (no disk).
    args = [str(binary), "--host", "127.0.0.1", "--port", "0", "--prune-history", "64",
            "--chain-id", str(chain_id), "--mnemonic", DEVNET_MNEMONIC,
            "--accounts", str(DEVNET_ACCOUNTS), "--balance", str(balance_eth)]
    if state_path is not None:
        args += ["--state", str(state_path)]
    args += extra_args or []
    env = {**os.environ, "HOME": str(anvil_home), "NO_COLOR": "1"}
    with open(log_path, "wb") as log:
        popen = spawn(args, die_with_parent=not detached, new_session=detached, record=record,
                      label="anvil", stdin=subprocess.DEVNULL, stdout=log,
                      stderr=subprocess.STDOUT, env=env, cwd=work_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = LISTENING.search(log_path.read_text(errors="replace"))
        if match:
            return AnvilProcess(popen.pid, int(match.group(1)), log_path, state_path, popen)
        if popen.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise AnvilError(f"anvil exited with code {popen.returncode}: {' | '.join(tail)}")
        time.sleep(0.02)
    stop_pid(popen.pid, 2.0, popen)
    raise AnvilError(f"anvil did not start listening within {timeout:.0f} s")


def inprocess_web3() -> tuple[Any, tuple[str, ...]]:
    """An in-process py-evm chain (single process only) and its funded test keys.

    Serves unit tests and `oarn local` where anvil is missing. Returns `(AsyncWeb3, keys)`.
    """
    from eth_tester import EthereumTester, PyEVMBackend
    from web3 import AsyncWeb3
    from web3.providers.eth_tester import AsyncEthereumTesterProvider

    provider = AsyncEthereumTesterProvider()
    tester: EthereumTester = provider.ethereum_tester
    backend = tester.backend
    keys: tuple[str, ...] = ()
    if isinstance(backend, PyEVMBackend):
        keys = tuple(key.to_hex() for key in backend.account_keys)
    return AsyncWeb3(provider), keys


def inprocess_system() -> tuple[Any, tuple[str, ...], dict[str, str]]:
    """An in-process py-evm chain with every OARN contract deployed by the first test key.

    Returns `(AsyncWeb3, keys, addresses)`; the deployment runs through a synchronous provider
    that shares the same chain. For single-process use where anvil is missing.
    """
    from web3 import Web3
    from web3.providers.eth_tester import EthereumTesterProvider

    from oarn_tui.chain.deploy import deploy_system
    from oarn_tui.wallet.signer import LocalSigner

    w3, keys = inprocess_web3()
    sync_w3 = Web3(EthereumTesterProvider(ethereum_tester=w3.provider.ethereum_tester))
    addresses = deploy_system(sync_w3, LocalSigner.from_key(keys[0]))
    return w3, keys, addresses
