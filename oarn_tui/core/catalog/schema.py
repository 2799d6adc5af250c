"""What the catalog is made of, and the check of a JSON-like mapping against a dataclass.

A command is a `CommandSpec` (its argument dataclass, its result dataclass or a documented
result shape); an event kind is an `EventSpec` (its payload dataclass). `problems()` compares the
keyword arguments of a call, or the data of an event, with the dataclass's fields: unknown
names, missing required ones, values of the wrong JSON type. It checks the shapes that cross the
boundary (JSON values: str, int, float, bool, None, lists and objects), nothing deeper.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class CatalogError(Exception):
    """A command or event kind the catalog does not know, or a handler that does not fit its
    entry: a programming error, found at registration (commands) or publication (events)."""


@dataclass(frozen=True)
class FieldInfo:
    """One field of an argument, result or payload dataclass."""

    name: str
    type: Any
    required: bool
    default: Any = None

    @property
    def label(self) -> str:
        return type_label(self.type)


@dataclass(frozen=True)
class CommandSpec:
    """One runtime command: `args` is the dataclass of its keyword arguments; `result` the
    dataclass of the keys its result object has at least (results may carry more: fields are
    added, never renamed), or None when `returns` describes a result that is not one object."""

    name: str
    args: type
    summary: str
    result: type | None = None
    returns: str = ""


@dataclass(frozen=True)
class EventSpec:
    """One event kind: `payload` is the dataclass of its data. `quiet` kinds change nothing in
    the status document (the snapshot cache ignores them); `open` kinds may carry fields beyond
    the dataclass's (a log line's `extra={...}`); `deprecated` says what replaces the kind."""

    kind: str
    payload: type
    summary: str
    quiet: bool = False
    open: bool = False
    deprecated: str = ""


@functools.cache
def fields_of(cls: type) -> tuple[FieldInfo, ...]:
    """The fields of dataclass `cls` with their resolved types, in declaration order."""
    hints = typing.get_type_hints(cls)
    result = []
    for item in dataclasses.fields(cls):
        if item.default is not dataclasses.MISSING:
            result.append(FieldInfo(item.name, hints[item.name], False, item.default))
        elif item.default_factory is not dataclasses.MISSING:
            result.append(FieldInfo(item.name, hints[item.name], False, item.default_factory()))
        else:
            result.append(FieldInfo(item.name, hints[item.name], True))
    return tuple(result)


def type_label(tp: Any) -> str:
    """`int`, `str | None`, `list[str]`, `object`: how the docs and the errors name a type."""
    if tp is Any:
        return "any"
    if tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return " | ".join(type_label(arg) for arg in typing.get_args(tp))
    if origin is not None:
        args = typing.get_args(tp)
        if origin in (list, tuple, Sequence):
            return f"list[{type_label(args[0])}]" if args else "list"
        if origin in (dict, Mapping):
            return "object"
    if tp in (dict, Mapping):
        return "object"
    if tp in (list, tuple):
        return "list"
    return getattr(tp, "__name__", str(tp))


def matches(value: Any, tp: Any) -> bool:
    """Whether the JSON-like `value` is of type `tp` (an int passes for a float; a bool is never
    an int; list items are checked, object values are not)."""
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return any(matches(value, arg) for arg in typing.get_args(tp))
    if origin in (list, tuple, Sequence):
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            return False
        return not args or all(matches(item, args[0]) for item in value)
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return isinstance(value, Mapping)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp in (list, tuple):
        return isinstance(value, list | tuple)
    return isinstance(value, tp)


def problems(cls: type, values: Mapping[str, Any], *, noun: str = "argument",
             open_fields: bool = False) -> list[str]:
    """What is wrong with `values` as the fields of dataclass `cls`, one short phrase each
    (empty when nothing is): unknown names (unless `open_fields`), missing required fields,
    values of the wrong type."""
    known = fields_of(cls)
    names = [item.name for item in known]
    found: list[str] = []
    if not open_fields:
        for key in values:
            if key not in names:
                takes = ", ".join(names) if names else f"no {noun}s"
                found.append(f"unknown {noun} {str(key)[:60]!r} (takes {takes})")
    for item in known:
        if item.name not in values:
            if item.required:
                found.append(f"missing {noun} {item.name!r} ({item.label})")
            continue
        value = values[item.name]
        if not matches(value, item.type):
            found.append(f"{noun} {item.name!r} must be {item.label}, got "
                         f"{type_label(type(value))}")
    return found
