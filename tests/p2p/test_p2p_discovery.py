"""Known peers (persisted by the peer book) with exponential re-dial backoff; reachability."""

from __future__ import annotations

from pathlib import Path

import pytest

from oarn_tui.core.db import open_db
from oarn_tui.core.peerbook import PeerBook, PeerInfo
from oarn_tui.p2p.discovery import KnownPeers, Reachability, split_p2p_addr

ADDR = "/ip4/127.0.0.1/tcp/4001"


def test_known_peers_survive_a_restart_in_the_peer_book_and_are_redialled_at_once(
        tmp_path: Path) -> None:
    db = open_db(tmp_path / "state" / "state.db")
    book = PeerBook(db)
    book.upsert(PeerInfo(peer_id="12D3KooWA", address=ADDR), addrs=[ADDR, f"{ADDR}1"])
    book.disconnected("12D3KooWA")
    db.close()
    db = open_db(tmp_path / "state" / "state.db")
    known = PeerBook(db).known_addresses()
    db.close()
    assert known == [("12D3KooWA", [ADDR, f"{ADDR}1"])]
    again = KnownPeers(known)
    assert again.peers["12D3KooWA"].addrs == [ADDR, f"{ADDR}1"]
    assert [p.peer_id for p in again.due(set(), now=0.0)] == ["12D3KooWA"]


def test_backoff_doubles_and_is_capped() -> None:
    peers = KnownPeers()
    peers.seen("12D3KooWA", [ADDR])
    delays = [peers.failed("12D3KooWA", now=0.0) for _ in range(12)]
    assert delays[:4] == [2.0, 4.0, 8.0, 16.0]
    assert delays[-1] == 600.0
    assert peers.due(set(), now=599.0) == []
    assert peers.due({"12D3KooWA"}, now=10_000.0) == []  # connected peers are not re-dialled
    peers.seen("12D3KooWA", [ADDR])
    assert peers.peers["12D3KooWA"].failures == 0


def test_a_damaged_address_row_reads_as_no_address(tmp_path: Path) -> None:
    db = open_db(tmp_path / "state.db")
    with db:
        db.execute("INSERT INTO peers (peer_id, addrs) VALUES ('12D3KooWA', '{not json')")
        db.execute("INSERT INTO peers (peer_id, addrs) VALUES ('12D3KooWB', '{\"a\": 1}')")
    known = PeerBook(db).known_addresses()
    db.close()
    assert sorted(known) == [("12D3KooWA", []), ("12D3KooWB", [])]
    assert KnownPeers(known).peers == {}  # nothing to dial: not seeded


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
    peers = KnownPeers()
    peers.note("12D3KooWB", [ADDR])
    peers.failed("12D3KooWB", now=0.0)
    peers.note("12D3KooWB", [ADDR, "/ip4/127.0.0.1/tcp/4002"])
    assert peers.failed("12D3KooWB", now=0.0) == 4.0
    assert len(peers.peers["12D3KooWB"].addrs) == 2
    assert peers.peers["12D3KooWB"].last_seen == 0.0
