"""The typed boundary (issue 13, build 3): every command and event kind is catalogued
(`oarn_tui/core/catalog`), arguments are checked before a handler runs, a handler's own
`TypeError` is a bug and not "bad arguments", and the package publishes exactly the event kinds
it catalogues and listens for.

The scan tests read the package's source (AST): publishers are `<...>.events.publish("kind",
...)` calls (and calls of a local wrapper that forwards its `kind` parameter, as the chain
service's `_publish`); listeners compare an event's kind (`event.kind == ...`, `kind in (...)`,
`event.get("kind") != ...`, a module constant such as `PROGRESS_EVENT`) with a literal.
"""

from __future__ import annotations

import ast
import asyncio
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from oarn_tui.config import load_config
from oarn_tui.core.service import CommandError, CommandRegistry

PACKAGE = Path(__file__).resolve().parents[2] / "oarn_tui"


# -- commands: arguments checked before the handler, a handler's TypeError is its own ---------


async def test_a_type_error_inside_a_handler_is_not_reported_as_bad_arguments() -> None:
    """Before: `CommandRegistry.call` turned any TypeError raised inside a handler into
    "bad arguments" — a bug in the handler looked like the caller's mistake."""
    registry = CommandRegistry()

    async def buggy(task_id: str) -> dict[str, Any]:
        return {"task_id": task_id + 1}  # str + int: the handler's own bug

    registry.register("task.get", buggy)
    with pytest.raises(TypeError) as raised:
        await registry.call("task.get", task_id="7")
    assert not isinstance(raised.value, CommandError)
    assert "bad arguments" not in str(raised.value)


@pytest.mark.parametrize(("args", "expected"), [
    ({"task_id": "abc"}, "task.wait: argument 'task_id' must be int, got str"),
    ({"task_id": True}, "task.wait: argument 'task_id' must be int, got bool"),
    ({"task_id": 7, "timeout_s": "soon"}, "argument 'timeout_s' must be float, got str"),
    ({}, "task.wait: missing argument 'task_id' (int)"),
    ({"task_id": 7, "verbose": True}, "task.wait: unknown argument 'verbose' (takes task_id, "
                                      "timeout_s)"),
])
async def test_bad_arguments_are_refused_before_the_handler_runs(args: dict[str, Any],
                                                                 expected: str) -> None:
    registry = CommandRegistry()
    calls: list[dict[str, Any]] = []

    async def wait(task_id: int, timeout_s: float = 600) -> dict[str, Any]:
        calls.append({"task_id": task_id, "timeout_s": timeout_s})
        return {"task_id": task_id, "status": "finalized"}

    registry.register("task.wait", wait)
    with pytest.raises(CommandError) as raised:
        await registry.call("task.wait", **args)
    message = str(raised.value)
    assert expected in message and "\n" not in message
    assert calls == [], "the handler ran with arguments the catalogue refuses"
    assert await registry.call("task.wait", task_id=7, timeout_s=1) == {
        "task_id": 7, "status": "finalized"}  # an int passes for a float
    assert calls == [{"task_id": 7, "timeout_s": 1}]


def test_registering_a_command_the_catalogue_does_not_list_fails() -> None:
    registry = CommandRegistry()

    async def launch() -> dict[str, Any]:
        return {}

    with pytest.raises(Exception, match=r"'launch.missiles' is not catalogued"):
        registry.register("launch.missiles", launch)
    assert registry.names() == []


@pytest.mark.parametrize(("handler_source", "why"), [
    ("async def h(task_id, timeout_s=600, extra=None): ...", None),
    ("async def h(**args): ...", None),
    ("async def h(task_id): ...", "no parameter 'timeout_s'"),
    ("async def h(task_id, timeout_s): ...", "requires 'timeout_s', which the catalogue makes "
                                             "optional"),
    ("async def h(task_id, timeout_s=60): ...", "defaults 'timeout_s' to 60, the catalogue to "
                                                "600"),
    ("async def h(task_id, timeout_s=600, *, when): ...", "requires 'when', which the "
                                                          "catalogue does not declare"),
])
def test_a_handler_must_fit_its_catalogue_entry(handler_source: str, why: str | None) -> None:
    """A call that fits the entry can never fail to bind to the handler: what does not fit is
    refused when the command is registered, so a TypeError at call time is always a bug."""
    namespace: dict[str, Any] = {}
    exec(handler_source, namespace)  # a handler's signature is what is under test
    registry = CommandRegistry()
    if why is None:
        registry.register("task.wait", namespace["h"])
        assert registry.names() == ["task.wait"]
    else:
        with pytest.raises(Exception, match=why):
            registry.register("task.wait", namespace["h"])


def test_a_command_outside_the_catalogue_registers_with_its_own_spec() -> None:
    from oarn_tui.core.catalog import CommandSpec
    from oarn_tui.core.catalog.commands import NoArgs

    registry = CommandRegistry()

    async def slow() -> dict[str, bool]:
        return {"done": True}

    registry.register("slow", slow, spec=CommandSpec("slow", NoArgs, "a test's command"))
    assert asyncio.run(registry.call("slow")) == {"done": True}
    with pytest.raises(CommandError, match="slow: unknown argument 'x'"):
        asyncio.run(registry.call("slow", x=1))


# -- the control API: one-line validation errors, internal errors without a traceback ---------


async def test_control_api_answers_bad_arguments_in_one_line_and_bugs_as_internal(
        tmp_path: Path) -> None:
    from oarn_tui.runtime.control import AsyncControlClient, ControlError, ControlServer
    from oarn_tui.runtime.node import NodeRuntime

    runtime = NodeRuntime(load_config(tmp_path, env={}))
    ran: list[str] = []

    async def buggy_stat() -> dict[str, Any]:
        ran.append("storage.stat")
        return {"blocks": len(3)}  # type: ignore[arg-type]  # the handler's own bug

    runtime.commands.register("storage.stat", buggy_stat)
    await runtime.start()
    server = ControlServer(runtime)
    await server.start()
    client = AsyncControlClient(tmp_path)
    try:
        session = await client._get_session()
        async with session.post("http://localhost/v1/commands/task.get",
                                json={"task_id": 7}) as response:
            assert response.status == 400
            refused = await response.json()
        assert refused == {"ok": False,
                           "error": "task.get: argument 'task_id' must be str, got int"}
        async with session.post("http://localhost/v1/commands/storage.stat",
                                json={}) as response:
            assert response.status == 500
            internal = await response.json()
        assert ran == ["storage.stat"]
        assert internal["ok"] is False and internal["internal"] is True
        error = internal["error"]
        assert error.startswith("internal error in storage.stat: TypeError")
        assert "bad arguments" not in error and "Traceback" not in error and "\n" not in error
        with pytest.raises(ControlError, match=r"internal error in storage.stat"):
            await client.command("storage.stat")
        logged = [entry for entry in runtime.recent_logs.records
                  if entry.get("logger") == "oarn.control" and entry.get("level") == "error"]
        assert logged and logged[-1]["command"] == "storage.stat"
        assert logged[-1]["error"].startswith("TypeError")  # the node's log has the cause
        assert (await client.command("status", task_limit=0))["version"]
    finally:
        await client.close()
        runtime.request_stop()
        await server.stop()
        await runtime.stop()
        runtime.close()


# -- events: the bus checks every event against the catalogue ----------------------------------


def test_a_strict_bus_refuses_an_uncatalogued_kind_or_a_misfit_payload() -> None:
    from oarn_tui.core.catalog import CatalogError
    from oarn_tui.core.events import EventBus

    bus = EventBus(strict=True)
    bus.publish("task.stage", task_id="1", stage="claimed")
    with pytest.raises(CatalogError, match=r"event kind 'task.teleported' is not catalogued"):
        bus.publish("task.teleported", task_id="1")
    with pytest.raises(CatalogError, match=r"event model.progress: missing field 'bytes_total'"):
        bus.publish("model.progress", cid="bafy", bytes_done=1, percent=1.0, rate_bytes_s=0.0,
                    eta_s=None)
    with pytest.raises(CatalogError, match="unknown field 'total'"):
        bus.publish("model.progress", cid="bafy", bytes_done=1, bytes_total=2, percent=50.0,
                    rate_bytes_s=0.0, eta_s=None, total=2)
    with pytest.raises(CatalogError, match="field 'accepting' must be bool, got str"):
        bus.publish("node.accepting", accepting="no")
    assert [e.kind for e in bus.recent()] == ["task.stage"]  # nothing that failed went out
    bus.publish("log", ts=1.0, level="info", logger="oarn", msg="hi", task_id="7")  # open kind


def test_a_production_bus_delivers_a_misfit_and_warns_once(
        caplog: pytest.LogCaptureFixture) -> None:
    from oarn_tui.core.events import EventBus

    bus = EventBus(strict=False)
    with caplog.at_level(logging.WARNING, logger="oarn.events"):
        for _ in range(3):
            bus.publish("task.teleported", task_id="1")
    assert [e.kind for e in bus.recent()] == ["task.teleported"] * 3
    warnings = [r for r in caplog.records if r.name == "oarn.events"]
    assert len(warnings) == 1 and "'task.teleported' is not catalogued" in warnings[0].message


def test_the_test_suite_runs_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/conftest.py sets `OARN_STRICT_CATALOG=1`: a runtime built by any test raises at a
    misfit publication; without the variable a bus is lenient (production)."""
    from oarn_tui.core.events import STRICT_ENV, EventBus

    assert EventBus().strict
    monkeypatch.delenv(STRICT_ENV)
    assert not EventBus().strict


def test_quiet_kinds_come_from_the_catalogue() -> None:
    from oarn_tui.core.catalog import EVENTS
    from oarn_tui.core.events import QUIET_KINDS, EventBus

    assert {"log", "hardware.sample"} == QUIET_KINDS
    assert set(EVENTS) >= QUIET_KINDS
    bus = EventBus(strict=True)
    bus.publish("hardware.sample", timestamp=1.0, cpu_percent=1.0, ram_total_mb=2,
                ram_available_mb=1)
    assert bus.revision == 0
    bus.publish("node.stopped")
    assert bus.revision == 1


# -- the scan: what the package publishes, listens for and registers ---------------------------


@dataclass(frozen=True)
class Site:
    name: str
    where: str


@dataclass
class Scan:
    published: list[Site]
    unresolved: list[str]
    listened: list[Site]
    registered: set[str]
    called: list[tuple[Site, tuple[str, ...]]]


def _modules(root: Path) -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        yield module.removesuffix(".__init__"), path, ast.parse(path.read_text(), str(path))


def _strings(node: ast.AST | None, constants: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The kind names an expression stands for: a literal, a tuple/list/set of literals, or a
    module constant holding them (`()` for anything else)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return (node.value,)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        found: tuple[str, ...] = ()
        for item in node.elts:
            found += _strings(item, constants)
        return found
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in ("frozenset", "set", "tuple") and node.args:
        return _strings(node.args[0], constants)
    if isinstance(node, ast.IfExp):
        return _strings(node.body, constants) + _strings(node.orelse, constants)
    if isinstance(node, ast.Name):
        return constants.get(node.id, ())
    if isinstance(node, ast.Attribute):
        return constants.get(node.attr, ())
    return ()


def _is_kind(node: ast.AST) -> bool:
    """`x.kind`, `x["kind"]`, `x.get("kind")` or a variable named `kind`."""
    if isinstance(node, ast.Attribute):
        return node.attr == "kind"
    if isinstance(node, ast.Name):
        return node.id == "kind"
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "kind"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "get" and bool(node.args) \
            and isinstance(node.args[0], ast.Constant) and node.args[0].value == "kind"
    return False


def _receiver_is_events(func: ast.Attribute) -> bool:
    value = func.value
    return (isinstance(value, ast.Attribute) and value.attr == "events") \
        or (isinstance(value, ast.Name) and value.id == "events")


COMMAND_CALLERS = ("command", "call", "send_command", "_command")
DECLARING = frozenset({"oarn_tui.core.catalog.commands", "oarn_tui.core.catalog.events",
                       "oarn_tui.core.events"})
"""Modules that declare or carry kinds (the catalogue, the bus) rather than publish them."""


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else \
        func.id if isinstance(func, ast.Name) else ""


def _is_events_publish(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
        and node.func.attr == "publish" and _receiver_is_events(node.func) and bool(node.args)


def _looks_like_kind(name: str) -> bool:
    from oarn_tui.core.catalog import EVENTS

    return "." in name or name in EVENTS


def scan(root: Path = PACKAGE, sources: dict[str, str] | None = None) -> Scan:
    """Read every module under `root` (or the given `sources`: file name → code)."""
    from oarn_tui.core.catalog import COMMANDS

    trees = [(name, Path(name), ast.parse(code)) for name, code in sources.items()] \
        if sources is not None else list(_modules(root))
    constants: dict[str, tuple[str, ...]] = {}
    for _, _, tree in trees:  # module-level constants, reachable by name from any module
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name):
                values = _strings(node.value, {})
                if values and all(_looks_like_kind(v) for v in values):
                    constants[node.targets[0].id] = values
    result = Scan([], [], [], set(), [])
    # A wrapper forwards a parameter to `events.publish` (the chain service's `_publish`); a
    # hook forwards a parameter named `kind` to any call (the chain client's `_emit`, which
    # calls its `on_event` hook: the chain service hands it `_publish`). A call of either
    # with a dotted literal publishes that kind; a wrapper's call without a literal cannot be
    # told apart.
    wrappers: dict[str, tuple[int, bool]] = {}  # name → (index of the kind argument, wrapper)
    forwarding: set[int] = set()  # the publish calls inside wrappers
    for module, _, tree in trees:
        if module in DECLARING:
            continue
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            params = [a.arg for a in func.args.args]
            offset = 1 if params[:1] == ["self"] else 0
            for call in (n for n in ast.walk(func) if isinstance(n, ast.Call)):
                first = call.args[0] if call.args else None
                if not isinstance(first, ast.Name) or first.id not in params:
                    continue
                if _is_events_publish(call):
                    wrappers[func.name] = (params.index(first.id) - offset, True)
                    forwarding.add(id(call))
                elif first.id == "kind" and func.name not in wrappers:
                    wrappers[func.name] = (params.index(first.id) - offset, False)
    for _, path, tree in trees:
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            calls = [n for n in ast.walk(func) if isinstance(n, ast.Call)]
            if any(_call_name(c) == "register" and not (
                    isinstance(c.func, ast.Attribute) and isinstance(c.func.value, ast.Name)
                    and c.func.value.id == "atexit") for c in calls):
                result.registered |= {n.value for n in ast.walk(func)
                                      if isinstance(n, ast.Constant) and n.value in COMMANDS}
        for node in ast.walk(tree):
            where = f"{path if sources else path.relative_to(root.parent)}:" \
                    f"{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                name = _call_name(node)
                if _is_events_publish(node):
                    if id(node) in forwarding:
                        continue
                    kinds = _strings(node.args[0], {})
                    if kinds:
                        result.published += [Site(kind, where) for kind in kinds]
                    else:
                        result.unresolved.append(where)
                elif name in wrappers and len(node.args) > wrappers[name][0]:
                    index, direct = wrappers[name]
                    kinds = tuple(k for k in _strings(node.args[index], {}) if "." in k)
                    if kinds:
                        result.published += [Site(kind, where) for kind in kinds]
                    elif direct and id(node) not in forwarding:
                        result.unresolved.append(where)
                elif name in COMMAND_CALLERS and node.args and not (
                        isinstance(node.func, ast.Attribute)
                        and isinstance(node.func.value, ast.Name)
                        and node.func.value.id == "click"):
                    called = _strings(node.args[0], {})
                    if called and ("." in called[0] or called[0] in COMMANDS):
                        keywords = tuple(k.arg for k in node.keywords if k.arg is not None)
                        result.called.append((Site(called[0], where), keywords))
                elif name == "startswith" and isinstance(node.func, ast.Attribute) \
                        and _is_kind(node.func.value) and node.args:
                    result.listened += [Site(k + "*", where)
                                        for k in _strings(node.args[0], constants)]
            elif isinstance(node, ast.Compare) and len(node.ops) == 1 \
                    and isinstance(node.ops[0], ast.Eq | ast.NotEq | ast.In | ast.NotIn):
                left, right = node.left, node.comparators[0]
                for kind_side, other in ((left, right), (right, left)):
                    if _is_kind(kind_side):
                        result.listened += [Site(k, where) for k in _strings(other, constants)
                                            if _looks_like_kind(k)]
    return result


def _drift(found: Scan) -> list[str]:
    """Every way the scanned code and the catalogue disagree, one line each."""
    from oarn_tui.core.catalog import COMMANDS, EVENTS, fields_of

    published = {site.name for site in found.published}
    problems = [f"{where}: publishes a kind that is not a literal (the test cannot tell which)"
                for where in found.unresolved]
    problems += [f"{site.where}: publishes {site.name!r}, which is not catalogued"
                 for site in found.published if site.name not in EVENTS]
    for site in found.listened:
        if site.name.endswith("*"):
            prefix = site.name[:-1]
            if not any(kind.startswith(prefix) for kind in published):
                problems.append(f"{site.where}: listens for {prefix}* but nothing publishes one")
        elif site.name not in EVENTS:
            problems.append(f"{site.where}: listens for {site.name!r}, which is not catalogued")
        elif site.name not in published:
            problems.append(f"{site.where}: listens for {site.name!r}, which is catalogued "
                            f"but never published")
    for site, keywords in found.called:
        spec = COMMANDS.get(site.name)
        if spec is None:
            problems.append(f"{site.where}: calls command {site.name!r}, which is not "
                            f"catalogued")
            continue
        declared = {item.name for item in fields_of(spec.args)}
        problems += [f"{site.where}: calls {site.name} with {keyword!r}, which it does not take"
                     for keyword in keywords if keyword not in declared]
    return problems


def test_the_scan_finds_drift_in_code_it_is_shown() -> None:
    """The scanner itself: each kind of drift in a small module is reported."""
    code = '''
SEEN = ("task.stage", "peer.connected")

class Screen:
    def show(self, events):
        for event in events:
            if event.kind in SEEN or event.kind == "wallet.teleported":
                pass

class Service:
    def start(self, runtime):
        runtime.events.publish("task.stage", task_id="1", stage="x")
        runtime.events.publish("galaxy.exploded")
        kind = "galaxy." + "imploded"
        runtime.events.publish(kind)
        self._emit("chain.state", state="x", reason="")

    def _emit(self, kind, **data):
        self.host.events.publish(kind, **data)

async def front(node):
    await node.command("task.claim", task_id=1, forse=True)
    await node.command("task.teleport")

class Client:
    def _emit(self, kind, **data):
        self.on_event(kind, **data)

    def send(self):
        self._emit("chain.tx_teleported", nonce=1)
'''
    problems = _drift(scan(sources={"drift.py": code}))
    assert problems == [
        "drift.py:15: publishes a kind that is not a literal (the test cannot tell which)",
        "drift.py:13: publishes 'galaxy.exploded', which is not catalogued",
        "drift.py:30: publishes 'chain.tx_teleported', which is not catalogued",
        "drift.py:7: listens for 'peer.connected', which is catalogued but never published",
        "drift.py:7: listens for 'wallet.teleported', which is not catalogued",
        "drift.py:22: calls task.claim with 'forse', which it does not take",
        "drift.py:23: calls command 'task.teleport', which is not catalogued",
    ], problems


def test_the_package_publishes_what_it_catalogues_and_listens_for() -> None:
    """Fails when a kind is published but not catalogued, listened for but never published
    (the models screen once listened for `model.progress`, which nothing published), or
    listened for but not catalogued; and when a front end calls a command or argument that is
    not catalogued."""
    found = scan()
    published = {site.name for site in found.published}
    listened = {site.name for site in found.listened}
    # the scan sees the package (not an empty walk that would pass anything)
    assert {"task.stage", "chain.state", "chain.connected", "model.progress", "log",
            "hardware.sample", "node.accepting"} <= published
    assert {"hardware.sample", "model.progress", "log"} <= listened
    assert {"task.claim", "wallet.unlock", "model.pull", "config.reload"} <= \
        {site.name for site, _ in found.called}
    assert _drift(found) == []


def test_every_catalogued_command_is_registered_somewhere() -> None:
    from oarn_tui.core.catalog import COMMANDS

    found = scan()
    assert set(COMMANDS) - found.registered == set(), "catalogued but never registered"


def test_the_models_screen_and_the_pull_agree_on_model_progress() -> None:
    """The drift of the issue: the screen read `total`/`done` or `bytes_total`; the pull
    publishes `model.progress` with `bytes_done`/`bytes_total` (ProgressMeter) — the catalogue
    holds the one shape both use."""
    from oarn_tui.core.catalog import EVENTS, fields_of
    from oarn_tui.core.events import payload_problem
    from oarn_tui.storage.progress import ProgressMeter

    reports: list[dict[str, Any]] = []
    clock = iter([0.0, 0.0, 1.0, 2.0, 3.0])
    meter = ProgressMeter(reports.append, interval_s=0.0, clock=clock.__next__)
    meter.update(10, 100)
    meter.update(100, 100)
    assert reports and all(payload_problem("model.progress", {"cid": "bafy", **r}) == ""
                           for r in reports)
    names = {item.name for item in fields_of(EVENTS["model.progress"].payload)}
    screen = (PACKAGE / "tui" / "screens" / "models.py").read_text()
    assert '"bytes_total"' in screen and '"bytes_done"' in screen
    assert {"bytes_total", "bytes_done"} <= names


# -- the runtime's own commands fit their entries ----------------------------------------------


async def test_the_runtime_builtin_results_have_their_catalogued_keys(tmp_path: Path) -> None:
    from oarn_tui.core.catalog import fields_of
    from oarn_tui.runtime.node import NodeRuntime

    runtime = NodeRuntime(load_config(tmp_path, env={}))
    await runtime.start()
    try:
        runtime.ledger.transition("7", "discovered", model="m")
        for name, args in (("status", {}), ("pause", {}), ("resume", {}), ("logs", {"lines": 5}),
                           ("config.reload", {}), ("task.get", {"task_id": "7"})):
            spec = runtime.commands.spec(name)
            assert spec is not None and spec.result is not None, name
            result = await runtime.commands.call(name, **args)
            json.dumps(result, default=str)
            missing = [f.name for f in fields_of(spec.result)
                       if f.required and f.name not in result]
            assert missing == [], f"{name} result lacks {missing}"
    finally:
        await runtime.stop()
        runtime.close()


def test_the_control_api_reference_lists_every_command_and_event() -> None:
    """docs/control-api.md is generated from the catalogue (`python -m oarn_tui.docs_gen`);
    `--check` (tests/packaging) fails when the committed file is stale."""
    from oarn_tui import docs_gen
    from oarn_tui.core.catalog import COMMANDS, EVENTS

    text = docs_gen.render_control_api()
    for name in [*COMMANDS, *EVENTS]:
        assert f"### `{name}`" in text
    assert "| `task_id` | int | required |" in text  # task.wait's argument table
    assert "deprecated: use `model.progress`" in text
    assert (docs_gen.DOCS_DIR / docs_gen.CONTROL_FILE).read_text(encoding="utf-8") == text


async def test_the_storage_commands_results_have_their_catalogued_keys(tmp_path: Path) -> None:
    from oarn_tui.core.catalog import fields_of
    from oarn_tui.runtime.node import NodeRuntime
    from oarn_tui.storage.service import StorageService

    runtime = NodeRuntime(load_config(tmp_path / "home", env={}), [StorageService()],
                          log_to_file=False)
    await runtime.start()
    try:
        source = tmp_path / "m.bin"
        source.write_bytes(b"model bytes")
        calls = [("model.add", {"path": str(source), "model_name": "m"}),
                 ("model.info", {"model": "m"}), ("storage.stat", {}), ("storage.gc", {}),
                 ("model.remove", {"model": "m"})]
        for name, args in calls:
            spec = runtime.commands.spec(name)
            assert spec is not None and spec.result is not None, name
            result = await runtime.commands.call(name, **args)
            missing = [f.name for f in fields_of(spec.result)
                       if f.required and f.name not in result]
            assert missing == [], f"{name} result lacks {missing}"
        assert await runtime.commands.call("model.list") == []
    finally:
        await runtime.stop()
        runtime.close()


def test_task_submit_entry_matches_the_requester_it_forwards_to() -> None:
    """`task.submit`'s handler takes `**args` and forwards them to `Requester.submit`, so the
    registration check cannot see its parameters: compare the entry with the requester."""
    import inspect

    from oarn_tui.core.catalog import COMMANDS, fields_of
    from oarn_tui.pipeline.requester import Requester

    parameters = {name: p for name, p in inspect.signature(Requester.submit).parameters.items()
                  if name != "self"}
    declared = {item.name: item for item in fields_of(COMMANDS["task.submit"].args)}
    assert set(declared) == set(parameters)
    for name, item in declared.items():
        default = parameters[name].default
        assert item.required == (default is inspect.Parameter.empty), name
        if not item.required:
            assert item.default == default, name
