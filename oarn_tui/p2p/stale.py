"""Forget a peer's pubsub stream when the connection it lived on closes (trio side).

libp2p 0.8.1's `Pubsub` drops a peer only when its LAST connection closes, and opens a pubsub
stream only for a peer it does not know yet. When a peer restarts with the same key (same peer
ID) and reconnects before its old connection is seen closed, pubsub keeps writing to the dead
stream of the old connection and never sends the new incarnation our subscriptions: that peer
then sees no one on our topics and its gossip reaches no one. This notifee closes the gap: when
a connection closes and pubsub's stream to that peer ran over it, pubsub forgets the stream (but
keeps the peer's subscriptions) and, the peer being still connected, opens a fresh stream (with
the hello) on the live connection.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from oarn_tui.p2p.connections import QuietNotifee

log = logging.getLogger("oarn.p2p")


class StaleStreamNotifee(QuietNotifee):
    """A libp2p network notifee (`INotifee` shape) bound to one `Pubsub`."""

    def __init__(self, pubsub: Any) -> None:
        self.pubsub = pubsub

    async def disconnected(self, network: Any, conn: Any) -> None:
        await trio.lowlevel.checkpoint()
        peer_id = conn.muxed_conn.peer_id
        stream = self.pubsub.peers.get(peer_id)
        if stream is None or getattr(stream, "muxed_conn", None) is not conn.muxed_conn:
            return  # pubsub's stream is on another connection (or gone): nothing stale
        if not network.get_connections(peer_id):
            return  # the peer is gone entirely: pubsub's own dead-peer handling runs
        log.debug("pubsub stream to %s died with its connection; reopening", peer_id)
        # the subscriptions may already be the new incarnation's (its hello came in on its own
        # stream): keep them across the reset, which would otherwise forget them for good
        topics = [topic for topic, peers in self.pubsub.peer_topics.items() if peer_id in peers]
        self.pubsub._handle_dead_peer(peer_id)  # forget; re-opens on the live connection
        from libp2p.pubsub.pb import rpc_pb2

        for topic in topics:
            self.pubsub.handle_subscription(peer_id, rpc_pb2.RPC.SubOpts(subscribe=True,
                                                                         topicid=topic))
