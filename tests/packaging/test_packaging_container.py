"""The container image runs unprivileged and the compose devnet wires three nodes to one chain."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CONTAINER = Path(__file__).resolve().parents[2] / "packaging" / "container"


def containerfile_instructions() -> list[tuple[str, str]]:
    text = (CONTAINER / "Containerfile").read_text()
    joined = re.sub(r"\\\n\s*", " ", text)
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in (raw.strip() for raw in joined.splitlines())
            if line and not line.startswith("#")]


def test_packaging_containerfile_is_slim_non_root_daemon() -> None:
    instructions = containerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [value for op, value in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must end as a non-root user"
    assert [value for op, value in instructions if op == "CMD"][-1] == '["oarn", "--daemon"]'
    healthcheck = next(value for op, value in instructions if op == "HEALTHCHECK")
    assert '"oarn", "status", "--json"' in healthcheck
    copied = [value.split()[0] for op, value in instructions if op == "COPY"]
    for source in copied:
        assert (CONTAINER.parents[1] / source).exists() or source.startswith("contracts/"), source


def test_packaging_compose_defines_devnet_and_three_nodes() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    compose = yaml.safe_load((CONTAINER / "compose.yaml").read_text())
    services = compose["services"]
    nodes = [name for name in services if name.startswith("node")]
    assert sorted(nodes) == ["node1", "node2", "node3"]
    assert "devnet up" in " ".join(services["devnet"]["command"])
    homes = set()
    for name in nodes:
        node = services[name]
        assert node["command"] == ["oarn", "--daemon"]
        assert node["network_mode"] == "service:devnet", "anvil listens on 127.0.0.1 only"
        assert node["environment"]["OARN_DEVNET"] == "/devnet"
        volumes = dict(volume.split(":") for volume in node["volumes"])
        assert volumes["devnet"] == "/devnet"
        homes.add(next(source for source, target in volumes.items()
                       if target == "/var/lib/oarn"))
    assert len(homes) == 3, "each node needs its own home"
    assert set(compose["volumes"]) >= {"devnet", *homes}
