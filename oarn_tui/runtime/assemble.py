"""Builds a `NodeRuntime` with every service the config asks for (the daemon, the dashboard and
the requester commands all use this, so they run the same node).

Start order (from the services' dependencies): wallet, hardware, metrics, storage, p2p, compute,
chain, pipeline. Each service is handed what it needs of another here, typed by that service's
face (`chain/face.py`, `storage/face.py`, ...): no service looks another up by name. The chain
service dials the bootstrap peers the registry lists and keeps the balances fresh; each service
reports its own status section (see `NodeRuntime.status`).

Front ends use the assembled node's typed accessors (`runtime.chain`, `runtime.requester`),
never `runtime.services[...]`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from oarn_tui.config import NodeConfig
from oarn_tui.runtime.node import NodeRuntime

if TYPE_CHECKING:
    from oarn_tui.chain.face import ChainFace
    from oarn_tui.hardware.face import HardwareFace
    from oarn_tui.p2p.face import P2PFace
    from oarn_tui.pipeline.requester import Requester
    from oarn_tui.pipeline.service import PipelineService

log = logging.getLogger("oarn.assemble")


class AssembledRuntime(NodeRuntime):
    """A `NodeRuntime` built by `build_runtime`, with typed accessors for the front ends."""

    def __init__(self, config: NodeConfig, *, log_to_file: bool = True) -> None:
        super().__init__(config, log_to_file=log_to_file)
        self._chain: ChainFace | None = None
        self._pipeline: PipelineService | None = None

    def expose(self, *, chain: ChainFace, pipeline: PipelineService | None = None) -> None:
        """Name the services behind the typed accessors (a node built by hand, e.g. with only
        a wallet and a chain service, exposes its chain service this way)."""
        self._chain, self._pipeline = chain, pipeline

    @property
    def chain(self) -> ChainFace:
        """The chain connection (`contracts`, `connected`, `reason`)."""
        if self._chain is None:
            raise RuntimeError("the runtime was not assembled with a chain service")
        return self._chain

    @property
    def requester(self) -> Requester | None:
        """The requester side of the pipeline (None before the pipeline started)."""
        return self._pipeline.requester if self._pipeline is not None else None


def _capabilities(config: NodeConfig, hardware: HardwareFace,
                  pipeline: PipelineService) -> dict[str, Any]:
    """The summary a node registers on chain: frameworks, GPUs, determinism class."""
    latest = hardware.latest
    return {"frameworks": list(config.compute.frameworks),
            "gpus": len(latest.gpus) if latest else 0,
            "vram_mb": latest.vram_free_mb if latest else 0,
            "class": pipeline.class_id}


def _bootstrap_addr(config: NodeConfig, p2p: P2PFace) -> str | None:
    """Devnet nodes list themselves as bootstrap peers (DESIGN: devnet conventions)."""
    if config.node.profile != "devnet":
        return None
    node = p2p.node
    if node is None:
        return None
    addrs = [a for a in node.listen_addrs() if "/tcp/" in a]
    return f"{addrs[0]}/p2p/{node.peer_id}" if addrs and "/p2p/" not in addrs[0] else \
        (addrs[0] if addrs else None)


def build_runtime(config: NodeConfig, *, passphrase: bytearray | None = None,
                  unlock_source: str = "none", log_to_file: bool = True,
                  worker: bool = True) -> AssembledRuntime:
    """A runtime with its services added (not started). `passphrase` unlocks the wallet;
    `worker=False` builds a requester-only node (it never claims tasks)."""
    from oarn_tui.chain.service import ChainService
    from oarn_tui.compute.gguf import default_gguf_model
    from oarn_tui.compute.manifest import build_manifest
    from oarn_tui.compute.service import ComputeService
    from oarn_tui.hardware.service import HardwareService
    from oarn_tui.p2p.service import P2PService
    from oarn_tui.pipeline.service import PipelineService
    from oarn_tui.runtime.metrics import MetricsService
    from oarn_tui.storage.service import StorageService
    from oarn_tui.wallet.service import WalletService

    runtime = AssembledRuntime(config, log_to_file=log_to_file)
    # the wallet service copies the bytearray into its own and wipes that after unlock: never
    # an immutable str of the passphrase (the caller zeroes its buffer right after this call)
    wallet = WalletService(passphrase=passphrase, unlock_method=unlock_source)
    runtime.add_service(wallet)
    metrics = MetricsService(runtime)
    hardware = HardwareService(gguf_model=default_gguf_model)
    storage = StorageService(describe=build_manifest)
    compute = ComputeService(hardware=hardware)
    p2p = P2PService(wallet=wallet, storage=storage)
    chain = ChainService(capabilities=lambda: _capabilities(config, hardware, pipeline),
                         bootstrap_addr=lambda: _bootstrap_addr(config, p2p),
                         wallet=wallet, p2p=p2p, state_db=runtime.db)
    pipeline = PipelineService(chain=chain, storage=storage, compute=compute, p2p=p2p,
                               metrics=metrics, worker=worker)
    for service in (metrics, hardware, storage, compute, p2p, chain, pipeline):
        runtime.add_service(service)
    runtime.expose(chain=chain, pipeline=pipeline)
    return runtime
