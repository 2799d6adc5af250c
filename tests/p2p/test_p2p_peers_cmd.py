"""`oarn peers [--json]` when no node is running: the peer book's persisted peers, said plainly."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from oarn_tui.cli_support import AppContext
from oarn_tui.commands.peers import peers
from oarn_tui.core.db import open_db
from oarn_tui.core.peerbook import PeerBook, PeerInfo


def run(home: Path, *args: str) -> click.testing.Result:
    root = click.Group()
    root.add_command(peers)
    return CliRunner().invoke(root, ["peers", *args], obj=AppContext(home=home))


def test_peers_json_lists_known_peers_when_the_node_is_not_running(tmp_path: Path) -> None:
    app = AppContext(home=tmp_path)
    config = app.config()
    db = open_db(config.path(config.node.state_path))
    PeerBook(db).upsert(PeerInfo(peer_id="12D3KooWKnown", address="/ip4/127.0.0.1/tcp/4001"))
    db.close()
    result = run(tmp_path, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["running"] is False and report["peers"] == []
    assert [p["peer_id"] for p in report["known"]] == ["12D3KooWKnown"]
    human = run(tmp_path)
    assert "node is not running" in human.output and "12D3KooWKnown" in human.output


def test_peers_with_nothing_known_says_none(tmp_path: Path) -> None:
    result = run(tmp_path)
    assert result.exit_code == 0
    assert "(none)" in result.output
