"""`oarn peers [--json]`: the running node's peers, or the persisted known peers when it is not
running."""

from __future__ import annotations

import time
from typing import Any

import click

from oarn_tui.cli_support import AppContext, UserError, emit, json_option, pass_app
from oarn_tui.textsafe import safe_text


@click.command("peers")
@json_option
@pass_app
def peers(app: AppContext, as_json: bool) -> None:
    """List connected peers (from the running node) or known peers (from disk)."""
    from oarn_tui.runtime.control import ControlClient, ControlError, NodeNotRunning

    try:
        status = ControlClient(app.home).status(task_limit=0)
        report: dict[str, Any] = {
            "running": True,
            "peer_id": status.get("peer_id"),
            "network": status.get("network", {}),
            "peers": status.get("peer_list", []),
        }
    except NodeNotRunning:
        report = {"running": False, "peers": [], "known": _known_peers(app)}
    except ControlError as error:
        raise UserError(str(error)) from None
    emit(report, as_json, _render)


def _known_peers(app: AppContext) -> list[dict[str, Any]]:
    """The peer book's persisted peers (the state database), most recently seen first."""
    from oarn_tui.core.db import open_db
    from oarn_tui.core.peerbook import PeerBook

    config = app.config()
    path = config.path(config.node.state_path)
    if not path.exists():
        return []
    db = open_db(path)
    try:
        return PeerBook(db).known(limit=1000)
    finally:
        db.close()


def _render(report: dict[str, Any]) -> str:
    if not report["running"]:
        lines = ["node is not running; known peers from the last run:"]
        for peer in report["known"]:
            seen = time.strftime("%Y-%m-%d %H:%M", time.localtime(peer["last_seen"])) \
                if peer["last_seen"] else "never"
            address = peer["addrs"][0] if peer["addrs"] else "-"
            lines.append(f"  {safe_text(peer['peer_id'])}  {safe_text(address)}  last seen {seen}"
                         f"  failures {peer['failures']}")
        if not report["known"]:
            lines.append("  (none)")
        return "\n".join(lines)
    network = report.get("network") or {}
    lines = [f"{len(report['peers'])} connected peer(s); network "
             f"{safe_text(network.get('state', '?'))}, "
             f"reachable: {safe_text(network.get('reachable', 'unknown'))}"]
    for peer in report["peers"]:  # ids and addresses are what the peers announced
        lines.append(f"  {safe_text(peer['peer_id'])}  {safe_text(peer.get('address') or '-')}"
                     f"  score {float(peer.get('score', 0.0)):.1f}")
    return "\n".join(lines)
