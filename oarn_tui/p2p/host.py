"""Build a libp2p host that speaks only TCP + Noise + Yamux.

A default `new_host()` also offers `/plaintext/2.0.0`; passing an explicit Noise-only security
option makes the node refuse any peer that cannot do Noise.
"""

from __future__ import annotations

import logging
import os
from typing import Any

SECURITY_PROTOCOLS = ("/noise",)
MUXER_PROTOCOLS = ("/yamux/1.0.0",)


def route_libp2p_logs(level: int = logging.ERROR) -> None:
    """libp2p's logger does not propagate (records end on stderr via logging's last resort):
    send its records through the node's handlers instead, at `level` and above. `LIBP2P_DEBUG`
    keeps libp2p's own debug setup."""
    import libp2p  # noqa: F401  (its import configures the "libp2p" logger)

    if os.environ.get("LIBP2P_DEBUG"):
        return
    logger = logging.getLogger("libp2p")
    logger.setLevel(level)
    logger.propagate = True


def generate_identity(seed: bytes | None = None) -> Any:
    """A fresh Ed25519 libp2p key pair (tests, or an ephemeral node without a wallet)."""
    from libp2p.crypto.ed25519 import create_new_key_pair

    return create_new_key_pair(seed)


def identity_from_private_bytes(private_key: bytes) -> Any:
    """The libp2p key pair for a raw 32-byte Ed25519 seed (as the wallet stores it)."""
    return generate_identity(private_key[:32])


def peer_id_of(key_pair: Any) -> str:
    """Base58 peer ID of a key pair."""
    from libp2p.peer.id import ID

    return ID.from_pubkey(key_pair.public_key).to_base58()


def listen_multiaddr(host: str, port: int) -> str:
    """The TCP multiaddr for a listen host/port (IPv4 or IPv6 literal)."""
    family = "ip6" if ":" in host else "ip4"
    return f"/{family}/{host}/tcp/{port}"


def quic_multiaddr(host: str, port: int) -> str:
    """The QUIC v1 multiaddr (UDP) for a listen host/port."""
    family = "ip6" if ":" in host else "ip4"
    return f"/{family}/{host}/udp/{port}/quic-v1"


def build_host(key_pair: Any, listen_addrs: list[str], max_peers: int,
               enable_quic: bool = False) -> Any:
    """A libp2p host with Noise as the only security and Yamux as the only muxer on TCP.

    With `enable_quic` it also speaks QUIC v1 (whose security is its built-in TLS 1.3 with the
    libp2p certificate extension; no plaintext is possible there either)."""
    import multiaddr
    from libp2p import new_host
    from libp2p.crypto.x25519 import create_new_key_pair as new_x25519
    from libp2p.custom_types import TProtocol
    from libp2p.network.config import ConnectionConfig
    from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_ID
    from libp2p.security.noise.transport import Transport as NoiseTransport
    from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_ID
    from libp2p.stream_muxer.yamux.yamux import Yamux

    noise = NoiseTransport(key_pair, noise_privkey=new_x25519().private_key)
    limits = ConnectionConfig(
        max_connections=max_peers,
        min_connections=0,
        low_watermark=0,
        high_watermark=max_peers,
    )
    return new_host(
        key_pair=key_pair,
        sec_opt={NOISE_ID: noise},
        muxer_opt={TProtocol(YAMUX_ID): Yamux},
        listen_addrs=[multiaddr.Multiaddr(a) for a in listen_addrs],
        connection_config=limits,
        enable_quic=enable_quic,
    )
