"""mDNS discovery between two node processes in network namespaces created for the test (never
on the machine's real interfaces): no bootstrap address, they find each other on the LAN."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from nodeharness import NodeProcess, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
SUBNET = "10.213.77"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _netns_unavailable() -> str:
    if shutil.which("ip") is None:
        return "the `ip` tool is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    probe = f"oarn-probe-{os.getpid()}"
    try:
        _ip("netns", "add", probe)
        _ip("netns", "del", probe)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        return f"`ip netns` is unavailable here: {error}"
    return ""


@pytest.fixture
def lan() -> Iterator[tuple[str, str]]:
    """Two namespaces joined by a veth pair, with a multicast route for mDNS."""
    reason = _netns_unavailable()
    if reason:
        pytest.skip(reason)
    names = (f"oarn-a-{os.getpid()}", f"oarn-b-{os.getpid()}")
    try:
        for name in names:
            _ip("netns", "add", name)
        _ip("link", "add", "oarnveth0", "netns", names[0], "type", "veth",
            "peer", "name", "oarnveth1", "netns", names[1])
        for index, name in enumerate(names):
            device = f"oarnveth{index}"
            _ip("-n", name, "addr", "add", f"{SUBNET}.{index + 1}/24", "dev", device)
            _ip("-n", name, "link", "set", "lo", "up")
            _ip("-n", name, "link", "set", device, "up")
            _ip("-n", name, "route", "add", "224.0.0.0/4", "dev", device)
        yield names
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def test_two_nodes_find_each_other_with_mdns_only(lan: tuple[str, str], tmp_path: Path) -> None:
    nodes: list[NodeProcess] = []
    try:
        for index, namespace in enumerate(lan):
            nodes.append(NodeProcess(
                tmp_path / f"mdns{index}", "--mdns", "--listen-host", f"{SUBNET}.{index + 1}",
                prefix=["ip", "netns", "exec", namespace], wait=False))
        for node in nodes:
            node.wait_ready()
        assert nodes[0].addrs[0].startswith(f"/ip4/{SUBNET}.1/tcp/")

        def linked() -> bool:
            return all({p["peer_id"] for p in node.call("peers")["peers"]} == {other.peer_id}
                       for node, other in ((nodes[0], nodes[1]), (nodes[1], nodes[0])))

        assert wait_until(linked, 60, interval_s=0.5), nodes[0].stderr_tail()
        # whichever node was dialled by the other host now knows it is reachable, and says why
        assert wait_until(lambda: any(n.call("snapshot")["snapshot"]["reachable"] == "reachable"
                                      for n in nodes), 15)
        bases = {n.call("snapshot")["snapshot"]["reachable_basis"] for n in nodes}
        assert any(basis.startswith(f"inbound connection from {SUBNET}.") for basis in bases)
    finally:
        for node in nodes:
            node.kill()
