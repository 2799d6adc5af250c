"""Peer-to-peer layer: libp2p host (TCP + Noise + Yamux), gossip, DHT discovery, bitswap.

libp2p is trio-only; `P2PNode` runs it in its own thread and offers an asyncio API.
"""

from __future__ import annotations
