"""Known peers persisted with exponential re-dial backoff; reachability with its basis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oarn_tui.p2p.discovery import KnownPeers, Reachability, split_p2p_addr

ADDR = "/ip4/127.0.0.1/tcp/4001"


def test_known_peers_survive_a_restart_and_are_redialled_at_once(tmp_path: Path) -> None:
    path = tmp_path / "state" / "known_peers.json"
    peers = KnownPeers(path)
    peers.seen("12D3KooWA", [ADDR], "bootstrap")
    peers.failed("12D3KooWA", now=1000.0)
    peers.save()
    again = KnownPeers(path)
    assert again.peers["12D3KooWA"].addrs == [ADDR]
    assert again.peers["12D3KooWA"].source == "bootstrap"
    assert [p.peer_id for p in again.due(set(), now=0.0)] == ["12D3KooWA"]


def test_backoff_doubles_and_is_capped() -> None:
    peers = KnownPeers(None)
    peers.seen("12D3KooWA", [ADDR])
    delays = [peers.failed("12D3KooWA", now=0.0) for _ in range(12)]
    assert delays[:4] == [2.0, 4.0, 8.0, 16.0]
    assert delays[-1] == 600.0
    assert peers.due(set(), now=599.0) == []
    assert peers.due({"12D3KooWA"}, now=10_000.0) == []  # connected peers are not re-dialled
    peers.seen("12D3KooWA", [ADDR])
    assert peers.peers["12D3KooWA"].failures == 0


def test_a_damaged_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "known_peers.json"
    path.write_text("{not json")
    assert KnownPeers(path).peers == {}
    path.write_text(json.dumps({"peers": [{"addrs": []}]}))
    assert KnownPeers(path).peers == {}


def test_split_p2p_addr_needs_a_peer_id() -> None:
    assert split_p2p_addr(f"{ADDR}/p2p/12D3KooWA") == (ADDR, "12D3KooWA")
    with pytest.raises(ValueError, match="no /p2p/"):
        split_p2p_addr(ADDR)


def test_reachability_states_say_why() -> None:
    reach = Reachability()
    reach.update([f"{ADDR}/p2p/x"], {"127.0.0.1"})
    assert (reach.state, reach.basis) == ("not reachable", "listening on loopback addresses only")
    reach.update(["/ip4/10.0.0.2/tcp/4001"], {"127.0.0.1"})
    assert reach.state == "unknown"
    reach.update(["/ip4/10.0.0.2/tcp/4001"], {"10.0.0.7"})
    assert reach.state == "reachable" and "10.0.0.7" in reach.basis


def test_noting_addresses_keeps_the_backoff() -> None:
    peers = KnownPeers(None)
    peers.note("12D3KooWB", [ADDR])
    peers.failed("12D3KooWB", now=0.0)
    peers.note("12D3KooWB", [ADDR, "/ip4/127.0.0.1/tcp/4002"])
    assert peers.failed("12D3KooWB", now=0.0) == 4.0
    assert len(peers.peers["12D3KooWB"].addrs) == 2
    assert peers.peers["12D3KooWB"].last_seen == 0.0
