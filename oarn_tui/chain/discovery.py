"""Discovery through the chain: from the registry address (or its ENS name) to everything else.

Seed 000's flow: the node knows one thing — the OARNRegistry address, or an ENS name that
resolves to it — and reads the TaskRegistry, token, governance and validator addresses, the
staked RPC providers and the bootstrap nodes from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from oarn_tui.chain.contracts import abi
from oarn_tui.chain.rpc import RpcPool


class DiscoveryError(RuntimeError):
    """The registry cannot be found or read; the message says which setting to fix."""


@dataclass(frozen=True)
class Discovered:
    """What the registry told us."""

    registry: str
    contracts: dict[str, str]
    rpc_providers: list[str]
    bootstrap: list[str]
    min_executor_stake: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["min_executor_stake"] = str(self.min_executor_stake)
        return data


async def resolve_ens(pool: RpcPool, name: str, ens_registry: str | None = None) -> str:
    """The address `name` resolves to, with web3's ENS module (custom registry for devnets)."""
    from ens import AsyncENS

    async def run(w3: Any) -> Any:
        ns = AsyncENS.from_web3(w3, addr=ens_registry) if ens_registry else \
            AsyncENS.from_web3(w3)
        return await ns.address(name)

    try:
        address = await pool.call(run)
    except Exception as exc:  # ENS raises many types for unknown names and bad resolvers
        raise DiscoveryError(f"ENS name {name!r} could not be resolved: "
                             f"{type(exc).__name__}: {exc}") from None
    if not address:
        raise DiscoveryError(f"ENS name {name!r} has no address record; check "
                             "blockchain.ens_name")
    return str(address)


async def discover(pool: RpcPool, registry: str) -> Discovered:
    """Read every core address, RPC provider and bootstrap node from the OARNRegistry."""
    from eth_utils import is_address, to_checksum_address

    if not is_address(registry):
        raise DiscoveryError(f"{registry!r} is not an address; set blockchain.registry_address")
    registry = to_checksum_address(registry)
    code = await pool.call(lambda w3: w3.eth.get_code(registry))
    if not code:
        raise DiscoveryError(f"no contract at {registry} on chain {pool.chain_id}; check "
                             "blockchain.registry_address and the RPC URL")

    async def read(function: str) -> Any:
        async def run(w3: Any) -> Any:
            contract = w3.eth.contract(address=registry, abi=abi("OARNRegistry"))
            return await getattr(contract.functions, function)().call()

        return await pool.call(run)

    task_registry, gov_token, comp_token, governance, validator = await read("coreAddresses")
    return Discovered(
        registry=registry,
        contracts={"registry": registry, "task_registry": str(task_registry),
                   "gov_token": str(gov_token), "comp_token": str(comp_token),
                   "governance": str(governance), "validator": str(validator)},
        rpc_providers=[str(url) for url in await read("getRpcProviders")],
        bootstrap=[str(addr) for addr in await read("getBootstrapNodes")],
        min_executor_stake=int(await read("minExecutorStake")),
    )


async def discover_from_config(pool: RpcPool, config: Any,
                               ens_registry: str | None = None) -> Discovered:
    """Discovery with the home's settings: the registry address, else the ENS name."""
    chain = config.blockchain
    registry = chain.registry_address
    if not registry and chain.ens_name:
        registry = await resolve_ens(pool, chain.ens_name, ens_registry)
    if not registry:
        raise DiscoveryError("no registry known: set blockchain.registry_address (or "
                             "blockchain.ens_name), or join a devnet with `oarn init --profile "
                             "devnet --devnet DIR`")
    return await discover(pool, registry)
