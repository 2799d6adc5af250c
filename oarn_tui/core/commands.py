"""Named async commands, the only way front ends change the node, checked against the catalog.

`register(name, handler)` refuses a name that `oarn_tui.core.catalog.COMMANDS` does not list
(or a handler whose parameters do not fit the entry's argument dataclass), so a command cannot
exist without its typed entry. `call(name, **args)` checks the arguments before the handler
runs: an unknown, missing or wrongly typed argument is a `BadArguments` (a `CommandError`, one
line naming the argument). Anything the handler raises besides `CommandError` is a bug and
propagates as what it is (the control API logs it and answers an internal error).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from oarn_tui.core.catalog import COMMANDS, CatalogError, CommandSpec, fields_of, problems

Handler = Callable[..., Awaitable[Any]]


class CommandError(Exception):
    """A command failed for a reason the caller should show as one line."""


class BadArguments(CommandError):
    """A call's arguments do not fit the command's catalogue entry (the handler did not run)."""


def handler_misfit(spec: CommandSpec, handler: Handler) -> str:
    """Why `handler` cannot take every call that fits `spec.args` ("" when it can): it lacks
    a declared argument, requires one the catalogue does not declare or makes optional, or
    defaults one to another value than the catalogue says."""
    try:
        parameters = inspect.signature(handler).parameters
    except (TypeError, ValueError):
        return ""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    declared = {item.name: item for item in fields_of(spec.args)}
    for item in declared.values():
        parameter = parameters.get(item.name)
        if parameter is None or parameter.kind not in kinds:
            if not takes_any:
                return f"it has no parameter {item.name!r}"
            continue
        if parameter.default is inspect.Parameter.empty:
            if not item.required:
                return f"it requires {item.name!r}, which the catalogue makes optional"
        elif not item.required and parameter.default != item.default:
            return (f"it defaults {item.name!r} to {parameter.default!r}, the catalogue to "
                    f"{item.default!r}")
    for name, parameter in parameters.items():
        if parameter.kind in kinds and parameter.default is inspect.Parameter.empty \
                and name not in declared:
            return f"it requires {name!r}, which the catalogue does not declare"
    return ""


class CommandRegistry:
    """Named async commands; each one's arguments are checked against its catalogue entry."""

    def __init__(self, catalog: Mapping[str, CommandSpec] | None = None) -> None:
        self._catalog = COMMANDS if catalog is None else catalog
        self._handlers: dict[str, Handler] = {}
        self._specs: dict[str, CommandSpec] = {}

    def register(self, name: str, handler: Handler, *, spec: CommandSpec | None = None) -> None:
        """Add (or replace) `name`. `spec` is for a command outside the catalogue (a test's);
        without it the catalogue must list `name`. Raises `CatalogError` otherwise."""
        spec = spec if spec is not None else self._catalog.get(name)
        if spec is None:
            raise CatalogError(f"command {name!r} is not catalogued: add its argument and "
                               f"result dataclasses to oarn_tui/core/catalog/commands.py")
        if spec.name != name:
            raise CatalogError(f"command {name!r} registered with the entry of {spec.name!r}")
        misfit = handler_misfit(spec, handler)
        if misfit:
            raise CatalogError(f"the handler of {name!r} does not fit its catalogue entry "
                               f"({spec.args.__name__}): {misfit}")
        self._handlers[name] = handler
        self._specs[name] = spec

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def spec(self, name: str) -> CommandSpec | None:
        """The entry a registered command was checked against (None when not registered)."""
        return self._specs.get(name)

    async def call(self, name: str, **args: Any) -> Any:
        """Check `args` against the entry, then await the handler. Raises `CommandError` for
        an unknown command, `BadArguments` for arguments that do not fit (the handler does not
        run); any other exception is the handler's own."""
        handler = self._handlers.get(name)
        if handler is None:
            raise CommandError(f"unknown command {name!r}; known: {', '.join(self.names())}")
        found = problems(self._specs[name].args, args)
        if found:
            raise BadArguments(f"{name}: {'; '.join(found)}")
        return await handler(**args)
