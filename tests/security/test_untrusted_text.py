"""Untrusted text is text (issue 14, finding 5): strings from peers or the chain reach the
terminal with every control, escape and bidi character made visible and inert.

`safe_text` is checked on a fixed corpus of nasty payloads and by hypothesis; then the real
`oarn` commands print payloads planted where peers and requesters put them — the known-peers
file (`oarn peers`), the node's log (`oarn logs`), a running node's status and peer list over
the control socket (`oarn status`, `oarn peers`), tasks on a real anvil devnet (`oarn task
list|status`) and error lines — and their output must hold no ESC, C1, DEL, stray C0 or bidi
character while showing each payload literally."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from oarn_tui.cli import root
from oarn_tui.textsafe import safe_text

REPO = Path(__file__).resolve().parents[2]

PAYLOADS = [
    "[/evil]", "[bold red]x", "[link=https://evil.example]click[/link]", "[/]", "[@click=app.quit]",
    "\x1b]52;c;ZXZpbA==\x07",  # OSC 52: write the clipboard
    "\x1b[2J", "\x1b[31mred\x1b[0m", "\x1bP+q\x1b\\", "\x9b2J", "\x9d0;title\x9c",
    "line\rOVERWRITE", "back\x08\x08space", "nul\x00byte", "del\x7f", "bell\x07",
    "\u202eevil\u202c", "\u2066isolated\u2069", "rlm\u200f", "sep\u2028arator",
    "🧠👩\u200d💻 zero\u200bwidth\ufeff", "multi\nline", "tab\there",
    "x" * 5000,
]
"""Every field a peer or requester controls gets each of these."""

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                    "\u2028\u2029\ud800-\udfff]")
"""What must never reach a terminal (multi-line output keeps `\\n` and `\\t`)."""
ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|[ntr])")
"""A visible escape as `safe_text` writes it."""


def assert_clean(output: str) -> None:
    found = UNSAFE.search(output)
    assert found is None, (found.group(), output[max(0, found.start() - 40):found.end() + 40])


def assert_shown(output: str, payload: str) -> None:
    """The payload appears literally: its brackets as typed, its controls as visible escapes."""
    assert safe_text(payload) in output, (payload[:40], output[-400:])


def oarn(home: Path, *args: str) -> Result:
    """The real `oarn` command (the root group), in-process."""
    return CliRunner().invoke(root, ["--home", str(home), *args], catch_exceptions=False)


# -- the function ------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_safe_text_makes_every_payload_inert_and_visible(payload: str) -> None:
    shown = safe_text(payload, limit=None)
    assert_clean(shown)
    assert "\n" not in shown and "\t" not in shown  # one field cannot fake lines or columns
    if not UNSAFE.search(payload) and "\n" not in payload and "\t" not in payload:
        assert shown == payload  # benign text (markup, emoji, zero-width) is unchanged
    else:  # each unsafe character became a visible escape; the rest is kept, in order
        assert len(ESCAPE.findall(shown)) == len(UNSAFE.findall(payload)) + \
            payload.count("\n") + payload.count("\t")
        assert ESCAPE.sub("", shown) == re.sub("[\n\t]", "", UNSAFE.sub("", payload))


def test_safe_text_escapes_visibly_and_keeps_lines_when_asked() -> None:
    assert safe_text("\x1b[2J") == "\\x1b[2J"
    assert safe_text("\x9b") == "\\x9b"
    assert safe_text("a\u202eb") == "a\\u202eb"
    assert safe_text("a\nb\tc\rd") == "a\\nb\\tc\\rd"
    assert safe_text("a\nb\tc\rd", multiline=True) == "a\nb\tc\\rd"
    assert safe_text("\ud800") == "\\ud800"
    assert safe_text("y" * 300) == "y" * 256 + "…"
    assert safe_text("y" * 300, limit=None) == "y" * 300
    assert safe_text(42) == "42"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=())
               | st.sampled_from("\x1b\x9b\x7f\r\n\t\u202e\u2066\ud800"), max_size=200))
def test_safe_text_never_lets_a_control_through(text: str) -> None:
    for shown in (safe_text(text), safe_text(text, multiline=True)):
        assert_clean(shown)
        shown.encode("utf-8")  # encodable: printing it cannot fail


def test_terminal_log_formatter_escapes_records() -> None:
    """`oarn --daemon -v` logs to stderr through `SafeTextFormatter`."""
    import io
    import logging

    from oarn_tui.textsafe import SafeTextFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeTextFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("oarn.test.untrusted")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for payload in PAYLOADS:
            logger.warning("peer %s announced model %s", payload, payload)
    finally:
        logger.removeHandler(handler)
    assert_clean(stream.getvalue())
    assert "announced model [/evil]" in stream.getvalue()
    assert "announced model \\x1b]52;c;ZXZpbA==\\x07" in stream.getvalue()


def test_generated_text_streams_without_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    """`oarn local inference "PROMPT"` streams a model's tokens: a model may emit escapes."""
    from oarn_tui.commands.local import _stream

    for piece in ["Hello", "\x1b", "]52;c;ZXZpbA==", "\x07", " world\n", "\tnext \x9b2J"]:
        _stream(piece)
    out = capsys.readouterr().out
    assert_clean(out)
    assert out == "Hello\\x1b]52;c;ZXZpbA==\\x07 world\n\tnext \\x9b2J"


MARKUP_SINKS = {"update", "Static", "Label", "add_row", "update_cell", "write", "add_column"}
"""Widget calls that parse a `str` argument as markup."""


def test_dashboard_builds_no_markup_from_data() -> None:
    """Structural guard: no f-string, concatenation or `str(...)` goes straight into a widget
    call that parses markup (data goes in through `fmt.literal` / `fmt.cell`), and nothing
    turns markup on or parses it."""
    import ast

    offenders = []
    for path in sorted((REPO / "oarn_tui" / "tui").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "markup=True" in source or "from_markup" in source:
            offenders.append(f"{path.name}: enables markup")
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name not in MARKUP_SINKS:
                continue
            for arg in node.args:
                built = isinstance(arg, ast.JoinedStr | ast.BinOp) or (
                    isinstance(arg, ast.Call) and getattr(arg.func, "id", None) == "str")
                if built:
                    offenders.append(f"{path.name}:{node.lineno}: {ast.unparse(arg)[:60]}")
    assert not offenders, offenders


# -- offline commands --------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    (path / "config.toml").write_text('[node]\nprofile = "local"\nname = "rig"\n')
    return path


def test_peers_offline_prints_known_peers_literally(home: Path) -> None:
    """The peer book holds ids and addresses peers announced; `oarn peers` shows them."""
    from oarn_tui.core.db import open_db
    from oarn_tui.core.peerbook import PeerBook, PeerInfo

    db = open_db(home / "state" / "node.db")
    book = PeerBook(db)
    for n, payload in enumerate(PAYLOADS):
        book.upsert(PeerInfo(peer_id=f"12D3Koo{n}{payload}", last_seen=0.0),
                    addrs=[f"/ip4/127.0.0.1/tcp/{n}/{payload}", "/ip4/\ud800surrogate"])
    db.close()
    result = oarn(home, "peers")
    assert result.exit_code == 0, result.output
    assert_clean(result.output)
    for n, payload in enumerate(PAYLOADS):
        assert_shown(result.output, f"12D3Koo{n}{payload}")
    listed = json.loads(oarn(home, "peers", "--json").output)  # JSON escapes by itself
    assert {p["peer_id"] for p in listed["known"]} >= {f"12D3Koo{n}{p}" for n, p in
                                                       enumerate(PAYLOADS)}


def test_logs_print_log_lines_literally(home: Path) -> None:
    """Log lines embed peers' words (a model name in "task failed: …")."""
    logs = home / "logs"
    logs.mkdir()
    lines = [json.dumps({"ts": 0, "level": "info", "logger": "oarn.p2p",
                         "msg": f"announcement for model {payload}", "peer": payload})
             for payload in PAYLOADS]
    lines.append("not json \x1b]52;c;ZXZpbA==\x07 \x9b2J")
    (logs / "node.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for args in (("logs", "-n", "100"), ("logs", "-n", "100", "--json")):
        result = oarn(home, *args)
        assert result.exit_code == 0, result.output
        assert_clean(result.output)
    text = oarn(home, "logs", "-n", "100").output
    for payload in PAYLOADS:
        assert safe_text(f"announcement for model {payload}", limit=None) in text


@pytest.mark.parametrize("payload", ["\x1b[2J\x1b]52;c;ZXZpbA==\x07", "\x9b2J\u202eevil"])
def test_error_lines_are_clean(home: Path, payload: str) -> None:
    """A one-line error embeds what the user or a peer typed."""
    result = CliRunner().invoke(root, ["--home", str(home), "model", "info", payload])
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert_clean(result.output)


# -- a running node: status and peers over the control socket ---------------------------------


@pytest.fixture
def served_home(tmp_path: Path) -> Iterator[Path]:
    """A real runtime serving its control socket, with hostile peers and service reasons."""
    from oarn_tui.config import load_config
    from oarn_tui.core.peerbook import PeerInfo
    from oarn_tui.runtime.control import ControlServer
    from oarn_tui.runtime.node import NodeRuntime

    home = tmp_path / "served"
    home.mkdir()
    (home / "config.toml").write_text('[node]\nprofile = "local"\nname = "rig"\n')
    runtime = NodeRuntime(load_config(home, env={}))
    for n, payload in enumerate(PAYLOADS):
        runtime.peers.upsert(PeerInfo(peer_id=f"peer{n}-{payload}", address=payload,
                                      score=float(n), capabilities={"agent": payload}))
    runtime.extra_status["network"] = {"state": PAYLOADS[7], "reachable": PAYLOADS[5]}
    loop = asyncio.new_event_loop()
    server = ControlServer(runtime)
    loop.run_until_complete(server.start())
    import threading

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield home
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
        runtime.close()


def test_running_node_status_and_peers_are_clean(served_home: Path) -> None:
    peers = oarn(served_home, "peers")
    assert peers.exit_code == 0, peers.output
    assert_clean(peers.output)
    for n, payload in enumerate(PAYLOADS):
        assert_shown(peers.output, f"peer{n}-{payload}")
    status = oarn(served_home, "status")
    assert status.exit_code == 0, status.output
    assert_clean(status.output)
    assert safe_text(PAYLOADS[7]) in status.output
    for args in (("status", "--json"), ("peers", "--json")):
        result = oarn(served_home, *args)
        assert result.exit_code == 0
        assert_clean(result.output)
        json.loads(result.output)


# -- the chain: `oarn task list|status` on a real devnet ---------------------------------------


CHAIN_PAYLOADS = [p for p in PAYLOADS if len(p) < 1000] + ["m" * 1500]
"""Long strings cost gas: one of 1500 characters stands for "very long" on chain."""


@pytest.fixture(scope="module")
def devnet_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    from oarn_tui.chain.anvil import find_anvil

    if find_anvil() is None:
        pytest.skip("anvil binary not installed (npm ci in contracts/ or OARN_ANVIL)")
    home = tmp_path_factory.mktemp("devnet-home")
    result = CliRunner().invoke(root, ["--home", str(home), "devnet", "up", "--json"])
    assert result.exit_code == 0, result.output
    try:
        yield home, json.loads(result.output)
    finally:
        if (home / "devnet" / "devnet.json").exists():
            CliRunner().invoke(root, ["--home", str(home), "devnet", "down"])


@pytest.mark.anvil
@pytest.mark.slow
def test_task_list_and_status_print_chain_strings_literally(
        devnet_home: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """A requester controls the model CID, input CID and framework strings of its task."""
    from oarn_tui.chain.anvil import devnet_keys
    from oarn_tui.chain.bindings import OarnContracts, TaskSpec
    from oarn_tui.chain.client import ChainClient
    from oarn_tui.chain.nonces import TxStore
    from oarn_tui.chain.rpc import RpcPool
    from oarn_tui.wallet.signer import LocalSigner

    home, description = devnet_home

    async def submit_all() -> list[int]:
        client = ChainClient(RpcPool([description["rpc_url"]], 31337),
                             LocalSigner.from_key(devnet_keys()[7]), TxStore(tmp_path / "r.db"))
        await client.start()
        contracts = OarnContracts(client, description["contracts"])
        try:
            deadline = await contracts.chain_time() + 3_600
            ids = []
            for payload in CHAIN_PAYLOADS:
                ids.append(await contracts.submit_task(TaskSpec(
                    payload, f"in-{payload}", 10**15, deadline, framework=payload[:40])))
            return ids
        finally:
            await client.pool.close()

    task_ids = asyncio.run(asyncio.wait_for(submit_all(), 300))
    listed = oarn(home, "task", "list", "--limit", "1000")
    assert listed.exit_code == 0, listed.output
    assert_clean(listed.output)
    for payload in CHAIN_PAYLOADS:
        assert_shown(listed.output, payload)
    for task_id, payload in zip(task_ids[:3] + task_ids[5:9], CHAIN_PAYLOADS[:3]
                                + CHAIN_PAYLOADS[5:9], strict=True):
        status = oarn(home, "task", "status", str(task_id))
        assert status.exit_code == 0, status.output
        assert_clean(status.output)
        assert_shown(status.output, payload)
    as_json = oarn(home, "task", "list", "--limit", "1000", "--json")
    assert_clean(as_json.output)
    models = {t["model_cid"] for t in json.loads(as_json.output)["tasks"]}
    assert set(CHAIN_PAYLOADS) <= models  # JSON keeps the exact strings, escaped
